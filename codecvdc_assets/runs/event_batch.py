"""Dagster's SQLite storage, writing a batch of one run's asset events in one transaction per database.

Dagster stores every event in a transaction of its own: it creates an engine for the run's database, inserts,
disposes of it, then does the same for the index database (`SqliteEventLogStorage.store_event`). A run over
a range of partitions emits one ASSET_MATERIALIZATION_PLANNED event per partition and asset when it is
created, and a step one materialization per partition: the backfill daemon spent 78 % of its time in
`store_event` creating 100-video runs (py-spy, 118,257-video pool), ~12 ms per event at idle.

Dagster already hands such events over in batches when `DAGSTER_EVENT_BATCH_SIZE` is set (the planned
events of a run, the materializations of a step's output: `DagsterEventBatchMetadata`), but its SQL
storages implement `store_event_batch` as a loop of `store_event`. `BatchedSqliteEventLogStorage` writes
the batch with one connection to the run's database and one index transaction; anything else (events of
several runs, run-status and check events, a failing batch: Dagster then stores the events one by one)
takes Dagster's own path. `PoolSqliteStorage` is the default SQLite storage with this event log; PoolInstance
makes it the default storage of a home and turns the batching on (runs/partition_store.py).
The proposed upstream change (the same method on SqlEventLogStorage): docs/upstream/dagster-event-batches.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 1000  # events Dagster collects before a write (a batch also ends with its run's range)


def enable_event_batches() -> None:
    """Dagster's opt-in to batched event writes, in this process, unless set already (it reads the
    variable on every event)."""
    os.environ.setdefault(BATCH_SIZE_ENV, str(EVENT_BATCH_SIZE))


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        runs = {event.run_id for event in events}
        assets = all(
            event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS and event.get_dagster_event().asset_key
            for event in events
        )
        if len(events) < 2 or len(runs) != 1 or not assets:
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:  # (one transaction: `_connect` begins one)
            for statement in statements:
                conn.execute(statement)
        # Mirrored in the cross-run index database, as store_event does, in one transaction.
        with self.index_transaction() as conn:
            ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in zip(events, ids, strict=True):
                self._store_asset_event(conn, event, event_id)


class PoolSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage with BatchedSqliteEventLogStorage as its event log."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(self._event_log_storage._base_dir)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PoolSqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)
