"""Minimal reproduction: Dagster's SQLite event log stores a batch of asset events (what the backfill daemon
and a step hand over when DAGSTER_EVENT_BATCH_SIZE is set) one event at a time, each with its own engine,
connection and transaction on the run's database and on the index database. The proposed
`store_event_batch` (below, as a subclass) writes the batch in one transaction per database.

`python dagster_event_batch_repro.py 100`: stores 100 ASSET_MATERIALIZATION_PLANNED events of one run (one
100-partition run's planned events) both ways and prints the time of each and that both stored the same rows.
"""

import sys
import tempfile
import time

import dagster as dg
from dagster._core.events import ASSET_EVENTS, AssetMaterializationPlannedData, DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """The proposed change (for SqlEventLogStorage too, with its run_connection/index_connection)."""

    def store_event_batch(self, events):
        if len({e.run_id for e in events}) != 1 or not all(e.dagster_event_type in ASSET_EVENTS for e in events):
            return super().store_event_batch(events)
        statements = [self.prepare_insert_event(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in zip(events, ids):
                self._store_asset_event(conn, event, event_id)


def planned(run_id: str, n: int) -> list[EventLogEntry]:
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
                event_specific_data=AssetMaterializationPlannedData(dg.AssetKey("videos"), partition=f"v{i:06d}"),
            ),
        )
        for i in range(n)
    ]


def main(n: int) -> None:
    for cls in (SqliteEventLogStorage, BatchedSqliteEventLogStorage):
        with tempfile.TemporaryDirectory() as tmp:
            storage = cls(tmp)
            events = planned("run-1", n)
            started = time.perf_counter()
            storage.store_event_batch(events)
            seconds = time.perf_counter() - started
            stored = len(storage.get_records_for_run("run-1").records)
            print(f"{cls.__name__}: {n} planned events in {seconds:.3f} s, {stored} stored")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
