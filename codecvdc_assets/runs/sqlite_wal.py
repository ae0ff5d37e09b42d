"""Dagster's local SQLite instance storage without an fsync (or three) per event.

Dagster writes every event in its own transaction, on a new connection (NullPool). Its SQLite
storages mean to use WAL mode, but issue `PRAGMA journal_mode=WAL` inside the transaction that
creates the tables, where SQLite ignores it: the run, event-log and schedule databases stay in
rollback-journal mode at `synchronous=FULL`, ~35 ms of fsyncs per event on this machine's disk. A run
of 25 tiny videos writes ~480 events (planned materializations, step events, one materialization per
partition and asset), which was most of Dagster's overhead over a plain loop (bench suite 3).

So, for SQLite connections to files under $DAGSTER_HOME, a SQLAlchemy pool listener
- switches the database to WAL (persistent, once per file) as Dagster intends, and sets
  `synchronous=NORMAL`, SQLite's recommended setting for WAL: a database is never corrupted and a
  process crash (kill -9) loses nothing; only the last commits before a power loss may be rolled
  back, which `codecvdc run --stale` redoes (lake files are fsynced before their materialization is
  recorded; model calls are cached);
- keeps one idle connection open to each of the most recently used databases (no transaction, no
  lock held): the close of a database's last connection checkpoints the WAL and deletes it, an fsync
  per event again; with one held, checkpoints happen every 1,000 WAL pages, as SQLite intends.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

KEEP_OPEN = 16  # databases with an idle connection held: the instance's own and the latest runs'
_held: OrderedDict[str, sqlite3.Connection] = OrderedDict()
_lock = threading.Lock()
# Databases already switched to WAL (the mode is stored in the file): Dagster opens a new connection for
# every event and query, thousands per run, so the listener skips the mode query for those.
_wal: set[str] = set()


@functools.cache
def relax_instance_fsyncs() -> None:
    """Install the listener (once per process)."""
    event.listen(Pool, "connect", _on_connect)
    atexit.register(release)


def release() -> None:
    """Close the held connections (the last close checkpoints each WAL)."""
    with _lock:
        while _held:
            _held.popitem()[1].close()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    path = next((row[2] for row in rows if row[1] == "main"), "")
    if not path or not _real(path).startswith(_real(home) + os.sep):
        return
    if path not in _wal:
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            with contextlib.suppress(sqlite3.OperationalError):  # another process holds a lock: next time
                mode = dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode == "wal":
            _wal.add(path)
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    _hold(path)


@functools.lru_cache(maxsize=256)
def _real(path: str) -> str:
    return os.path.realpath(path)


def _hold(path: str) -> None:
    with _lock:
        if path in _held:
            _held.move_to_end(path)
            return
        held = sqlite3.connect(path, check_same_thread=False)
        held.execute("PRAGMA schema_version").fetchone()  # a read: only then does it share the WAL
        _held[path] = held
        while len(_held) > KEEP_OPEN:
            _held.popitem(last=False)[1].close()
