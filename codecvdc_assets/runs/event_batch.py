"""Dagster's SQLite storage, writing a batch of one run's asset events in one transaction per database.

Dagster stores every event in a transaction of its own: it creates an engine for the run's database, inserts,
disposes of it, then does the same for the index database (`SqliteEventLogStorage.store_event`). A run over
a range of partitions emits one ASSET_MATERIALIZATION_PLANNED event per partition and asset when it is
created, and a step one materialization per partition: the backfill daemon spent 78 % of its time in
`store_event` creating 100-video runs (py-spy, 118,257-video pool), ~12 ms per event at idle.

Dagster already hands such events over in batches when `DAGSTER_EVENT_BATCH_SIZE` is set (the planned
events of a run, the materializations of a step's output: `DagsterEventBatchMetadata`), but its SQL
storages implement `store_event_batch` as a loop of `store_event`. `BatchedSqliteEventLogStorage` writes
the batch with one connection to the run's database and one index transaction. Batches of several runs or
of other events take Dagster's own path. A batch whose write fails (a full disk) is stored one event at a
time (a batch whose run-log write succeeded but whose index write failed is then in the run log twice).
`PoolSqliteStorage` is the default SQLite
storage with this event log; PoolInstance makes it the default storage of a home (runs/partition_store.py);
`codecvdc ui` turns the batching on for the daemon, the webserver and their runs (event_batch_env).
The proposed upstream change (the same method on SqlEventLogStorage): docs/upstream/dagster-event-batches.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 1000  # events Dagster collects before a write (a batch also ends with its run's range)


def event_batch_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with Dagster's opt-in to batched event writes (unless set already): for `codecvdc ui`'s daemon,
    webserver and their runs. Not for `codecvdc run`: when a batch cannot be written (a full disk) Dagster
    prints two lines to stderr before the error, against the CLI's one-line error contract."""
    return {**env, BATCH_SIZE_ENV: env.get(BATCH_SIZE_ENV) or str(EVENT_BATCH_SIZE)}


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        runs = {event.run_id for event in events}
        assets = all(
            event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS and event.get_dagster_event().asset_key
            for event in events
        )
        if len(events) > 1 and len(runs) == 1 and assets:
            try:
                self._store_asset_batch(events)
                return
            except Exception:
                pass
        super().store_event_batch(events)  # other batches, or this one after a failure: one event at a time

    def _store_asset_batch(self, events: Sequence[EventLogEntry]) -> None:
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
