"""A home's SQLite instance writes a batch of one run's asset events (a run's planned events, a step's
materializations) with one connection per database, and stores exactly what Dagster's own path stores."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from sqlalchemy import event
from sqlalchemy.engine import Engine

from codecvdc_assets.runs.event_batch import BATCH_SIZE_ENV, BatchedSqliteEventLogStorage, event_batch_env


def planned(run_id: str, keys: list[str]) -> list[EventLogEntry]:
    return [
        EventLogEntry(
            error_info=None,
            level="DEBUG",
            user_message="",
            run_id=run_id,
            timestamp=time.time(),
            dagster_event=DagsterEvent(
                DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
                "job",
                event_specific_data=AssetMaterializationPlannedData(dg.AssetKey("videos"), partition=key),
            ),
        )
        for key in keys
    ]


class Connects:
    def __enter__(self) -> Connects:
        self.n = 0
        event.listen(Engine, "engine_connect", self._count)
        return self

    def _count(self, *_args) -> None:
        self.n += 1

    def __exit__(self, *_exc) -> None:
        event.remove(Engine, "engine_connect", self._count)


def test_a_batch_of_planned_events_is_one_connection_per_database(home: Path) -> None:
    instance = dg.DagsterInstance.get()
    storage = instance.event_log_storage
    assert isinstance(storage, BatchedSqliteEventLogStorage)  # PoolInstance's default storage
    assert int(event_batch_env({})[BATCH_SIZE_ENV]) > 1  # Dagster's opt-in, as `codecvdc ui` sets it
    keys = [f"v{i:03d}" for i in range(100)]
    storage.store_event_batch(planned("batched", keys[:1]))  # (creates the run's database first)
    with Connects() as batched:
        storage.store_event_batch(planned("batched", keys[1:]))
    with Connects() as one_by_one:
        for entry in planned("looped", keys[1:]):
            storage.store_event(entry)
    assert batched.n <= 3 and one_by_one.n >= 2 * 99, (batched.n, one_by_one.n)
    # The same rows both ways: in the run's log and in the index (what the UI reads per partition).
    for run_id in ("batched", "looped"):
        records = storage.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        assert len(records.records) == (100 if run_id == "batched" else 99)
    planned_keys = instance.get_event_records(
        dg.EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=dg.AssetKey("videos")),
        limit=500,
    )
    partitions = [r.event_log_entry.dagster_event.event_specific_data.partition for r in planned_keys]
    assert sorted(partitions) == sorted(keys + keys[1:])


def test_other_batches_take_dagsters_own_path(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = dg.DagsterInstance.get().event_log_storage
    calls = []
    monkeypatch.setattr(type(storage).__mro__[1], "store_event_batch", lambda self, events: calls.append(len(events)))
    storage.store_event_batch(planned("a", ["x"]) + planned("b", ["y"]))  # two runs
    assert calls == [2]


def test_a_failing_batch_write_falls_back_quietly(home: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    """A batch that cannot be written at once is stored one event at a time, as Dagster does, without Dagster's
    two lines on stderr."""
    storage = dg.DagsterInstance.get().event_log_storage

    def full(*_args, **_kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(storage, "_store_asset_batch", full)
    storage.store_event_batch(planned("r", ["a", "b", "c"]))
    records = storage.get_records_for_run("r", of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    assert len(records) == 3
    assert capfd.readouterr().err == ""
