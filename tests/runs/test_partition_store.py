"""PoolInstance: dynamic partition keys from a cache that never hides a change for long (two instances on
one home stand for two processes: the CLI and the daemon)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from support.query_counter import QueryCounter

from codecvdc_assets.runs import partition_store
from codecvdc_assets.runs.partition_store import PartitionKeys, PoolInstance


@pytest.fixture
def two(home: Path) -> tuple[dg.DagsterInstance, dg.DagsterInstance]:
    first, second = dg.DagsterInstance.get(), dg.DagsterInstance.get()
    assert isinstance(first, PoolInstance) and isinstance(second, PoolInstance)  # resources/dagster.yaml
    first.add_dynamic_partitions("videos", [f"v{i:03d}" for i in range(300)])
    return first, second


def test_keys_load_once_until_the_table_changes(two, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two
    monkeypatch.setattr(partition_store, "STAMP_TTL_S", 0.0)  # check the stamp on every call
    with QueryCounter() as counts:
        for _ in range(50):
            keys = first.get_dynamic_partitions("videos")
            assert keys.index("v200") == 200 and "v299" in keys and "nope" not in keys
            assert first.has_dynamic_partition("videos", "v010")
    assert counts.key_loads == 1 and counts.key_calls == 50
    second.add_dynamic_partitions("videos", ["v300"])  # another process adds: seen at the next call
    assert list(first.get_dynamic_partitions("videos"))[-1] == "v300"
    assert first.has_dynamic_partition("videos", "v300")
    first.delete_dynamic_partition("videos", "v000")  # through this instance: seen at once
    assert "v000" not in first.get_dynamic_partitions("videos")


def test_a_delete_elsewhere_is_seen_after_the_reload_interval(two, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two
    monkeypatch.setattr(partition_store, "STAMP_TTL_S", 0.0)
    assert "v100" in first.get_dynamic_partitions("videos")
    second.delete_dynamic_partition("videos", "v100")  # not the newest key: the stamp is unchanged
    assert "v100" in first.get_dynamic_partitions("videos")  # within RELOAD_S the cache may still say so
    monkeypatch.setattr(partition_store, "RELOAD_S", 0.0)
    assert "v100" not in first.get_dynamic_partitions("videos")
    # SQLite reuses the largest id after its row is deleted; the key stored there tells the change apart.
    second.delete_dynamic_partition("videos", "v299")
    second.add_dynamic_partitions("videos", ["w299"])
    monkeypatch.setattr(partition_store, "RELOAD_S", 60.0)
    assert list(first.get_dynamic_partitions("videos"))[-1] == "w299"


def test_cached_keys_cannot_be_changed_in_place() -> None:
    keys = PartitionKeys(["a", "b", "c"])
    assert keys[1:] == ["b", "c"] and keys.index("c") == 2 and keys.index("a", 0, 2) == 0
    with pytest.raises(ValueError):
        keys.index("z")
    for change in (lambda: keys.append("d"), lambda: keys.sort(), lambda: keys.__setitem__(0, "x")):
        with pytest.raises(TypeError):
            change()
    assert list(keys) == ["a", "b", "c"]


def _backfill(instance: dg.DagsterInstance, backfill_id: str):
    """A UI backfill of every `videos` partition, as launchPartitionBackfill stores it."""
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster._core.execution.backfill import PartitionBackfill

    @dg.asset(partitions_def=dg.DynamicPartitionsDefinition(name="videos"))
    def videos() -> None: ...

    return PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=AssetGraph.from_assets([videos]),
        partition_names=None,
        asset_selection=[videos.key],
        backfill_timestamp=0.0,
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=True,
        title=None,
        description=None,
        run_config=None,
    )


def test_a_cancel_is_not_lost_to_the_daemons_write_of_what_it_read_before(two) -> None:
    """The daemon (first) reads the backfill, the UI (second) cancels it, the daemon writes back its progress
    on what it read: the backfill stays CANCELING (Dagster wrote REQUESTED back and the cancel was lost)."""
    from dagster._core.execution.backfill import BulkActionStatus

    daemon, ui = two
    daemon.add_backfill(_backfill(daemon, "bf1"))
    read = daemon.get_backfill("bf1")
    assert read.status == BulkActionStatus.REQUESTED
    ui.update_backfill(ui.get_backfill("bf1").with_status(BulkActionStatus.CANCELING))
    daemon.update_backfill(read.with_failure_count(3))  # (its progress: any change to the body)
    stored = ui.get_backfill("bf1")
    assert stored.status == BulkActionStatus.CANCELING and stored.failure_count == 3
    # Other writes are Dagster's own: the canceling daemon marks it CANCELED, a resume makes it REQUESTED again.
    daemon.update_backfill(stored.with_status(BulkActionStatus.CANCELED))
    assert ui.get_backfill("bf1").status == BulkActionStatus.CANCELED
    ui.update_backfill(ui.get_backfill("bf1").with_status(BulkActionStatus.REQUESTED))
    assert daemon.get_backfill("bf1").status == BulkActionStatus.REQUESTED
