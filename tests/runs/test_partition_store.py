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
