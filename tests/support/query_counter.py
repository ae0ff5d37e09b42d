"""Counting what a piece of work asks of the Dagster instance: SQL statements (every engine) and loads of
all dynamic partition keys (the storage query `DagsterInstance.get_dynamic_partitions` ends in), next to
the calls of `get_dynamic_partitions` itself (answered from PoolInstance's cache when nothing changed).
Used by tests/scenarios/test_pool_scale.py and bench/pool.py: costs counted in queries, not seconds."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from codecvdc_assets.runs.partition_store import PoolInstance


@dataclass
class Counts:
    statements: int = 0
    key_loads: int = 0  # full loads of a definition's keys from the storage
    keys_loaded: int = 0  # keys those loads returned
    key_calls: int = 0  # DagsterInstance.get_dynamic_partitions calls (cached or not)
    by_table: collections.Counter = field(default_factory=collections.Counter)
    cpu_s: float = 0.0  # set by callers that time the work (bench/pool.py)


class QueryCounter:
    """`with QueryCounter() as counts:` counts in this process while the block runs."""

    def __enter__(self) -> Counts:
        self.counts = Counts()
        counts = self.counts
        self._load, self._call = SqlEventLogStorage.get_dynamic_partitions, PoolInstance.get_dynamic_partitions
        load, call = self._load, self._call

        def counted_load(storage: Any, partitions_def_name: str):
            keys = load(storage, partitions_def_name)
            counts.key_loads += 1
            counts.keys_loaded += len(keys)
            return keys

        def counted_call(instance: Any, partitions_def_name: str):
            counts.key_calls += 1
            return call(instance, partitions_def_name)

        SqlEventLogStorage.get_dynamic_partitions = counted_load  # type: ignore[method-assign]
        PoolInstance.get_dynamic_partitions = counted_call  # type: ignore[method-assign]
        event.listen(Engine, "before_cursor_execute", self._statement)
        return counts

    def _statement(self, _conn, _cursor, statement: str, *_args: Any) -> None:
        self.counts.statements += 1
        words = statement.split()
        table = next(
            (w for prev, w in zip(words, words[1:], strict=False) if prev.upper() in ("FROM", "INTO", "UPDATE")), ""
        )
        self.counts.by_table[table.strip('"')] += 1

    def __exit__(self, *_exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        SqlEventLogStorage.get_dynamic_partitions = self._load  # type: ignore[method-assign]
        PoolInstance.get_dynamic_partitions = self._call  # type: ignore[method-assign]
