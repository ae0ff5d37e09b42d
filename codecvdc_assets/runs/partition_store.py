"""The Dagster instance class of CodecVDC homes: dynamic partition keys loaded once per change, not per call.

Dagster resolves a run's partition-key range with `DynamicPartitionsDefinition.get_partition_keys_in_range`,
which loads *every* key of the definition (`DagsterInstance.get_dynamic_partitions`) and slices it with
two `list.index` scans. It does so for each `context.add_asset_metadata(..., partition_key=...)`, each
`context.partition_keys`, each output and input of a step and each asset of a run it creates: ~450 times
in a 25-video run of the whole chain, 0.4 s each at 118K partitions (docs/upstream/dagster-dynamic-partitions.md).

`PoolInstance` (named by `instance_class` in resources/dagster*.yaml, so the CLI, the run workers, the
daemon and the webserver all use it) keeps the keys of each definition per instance object:
- keys added anywhere are seen within STAMP_TTL_S: the cache is checked against a stamp of the partitions
  table (its largest id and the key of that row: one lookup on the primary key, whatever the pool size),
  read at most every STAMP_TTL_S (a step asks for the keys a dozen times in a row);
- keys deleted by another process are seen within RELOAD_S (the keys are reloaded that often while in use:
  0.4 s a minute at 118K); adds and deletes through the instance itself are seen at once;
- `has_dynamic_partition` answers from valid cached keys instead of one query per key.
The keys come as a `PartitionKeys` list whose `index` and `in` are dictionary lookups, so slicing a 25-key
range out of 118K keys costs the same as out of 1K. Storages that are not Dagster's SQL event logs (and
instances of other classes) get Dagster's uncached answers.

It also gives a home without a `storage:` setting a SQLite storage that writes Dagster's event batches in
one transaction (runs/event_batch.py; `codecvdc ui` turns the batches on), and SQLite's WAL without an fsync
per event (runs/sqlite_wal.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import dagster as dg
import sqlalchemy as db

from codecvdc_assets.runs.event_batch import PoolSqliteStorage
from codecvdc_assets.runs.sqlite_wal import relax_instance_fsyncs

Stamp = tuple[int | None, str | None]
STAMP_TTL_S = 0.5  # a stamp read this recently is reused
RELOAD_S = 60.0  # cached keys older than this are reloaded (deletes made by other processes)


class PartitionKeys(list):
    """An ordered list of partition keys that never changes, with dictionary-speed `index` and `in`."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        super().__init__(keys)
        self._position = {key: i for i, key in enumerate(self)}

    def index(self, key: Any, *bounds: Any) -> int:  # type: ignore[override]
        if bounds:
            return super().index(key, *bounds)
        try:
            return self._position[key]
        except (KeyError, TypeError):
            raise ValueError(f"{key!r} is not in list") from None

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._position
        except TypeError:
            return False

    def _frozen(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("cached partition keys are shared: copy them (list(keys)) before changing them")

    append = extend = insert = remove = pop = clear = sort = reverse = _frozen  # type: ignore[assignment]
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _frozen  # type: ignore[assignment]


class PoolInstance(dg.DagsterInstance):
    """A DagsterInstance whose dynamic partition keys come from a per-instance cache while the partitions
    table is unchanged (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Every process opening the instance through dagster.yaml (the daemon and the webserver too, not only
        # the CLI): SQLite in WAL without an fsync per event (runs/sqlite_wal.py). The backfill daemon
        # writes a planned event per partition of every run it creates: with an fsync each, ~10 s a run.
        relax_instance_fsyncs()
        super().__init__(*args, **kwargs)

    # What Dagster's `instance_class` loading asks of a DagsterInstance subclass: no settings of its own,
    # the default storages of a local instance.
    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Any:
        """Dagster's defaults for a local instance, with SQLite storage that writes event batches at once
        (a `storage:` key in dagster.yaml, e.g. Postgres, replaces it)."""
        import yaml
        from dagster._core.instance.ref import InstanceRef
        from dagster._serdes import ConfigurableClassData

        defaults = dict(InstanceRef.config_defaults(base_dir))
        config = yaml.dump({"base_dir": base_dir}, default_flow_style=False)
        defaults["storage"] = ConfigurableClassData(PoolSqliteStorage.__module__, PoolSqliteStorage.__name__, config)
        return defaults

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        cache = self._keys_cache()
        stamp = cache.stamp(self)
        if stamp is None:
            return super().get_dynamic_partitions(partitions_def_name)
        keys = cache.valid(partitions_def_name, stamp)
        if keys is None:
            # Loaded after the stamp was read: a change in between makes a later call reload, never miss one.
            keys = PartitionKeys(super().get_dynamic_partitions(partitions_def_name))
            cache.put(partitions_def_name, stamp, keys)
        return keys

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        cache = self._keys_cache()
        stamp = cache.stamp(self)
        keys = cache.valid(partitions_def_name, stamp) if stamp is not None else None
        if keys is None:
            return super().has_dynamic_partition(partitions_def_name, partition_key)
        return partition_key in keys

    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys: Sequence[str]) -> None:
        try:
            super().add_dynamic_partitions(partitions_def_name, partition_keys)
        finally:
            self._keys_cache().clear()

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        try:
            super().delete_dynamic_partition(partitions_def_name, partition_key)
        finally:
            self._keys_cache().clear()

    def update_backfill(self, partition_backfill: Any) -> None:
        """Dagster's backfill daemon and the UI's cancel each read a backfill, change it and write the whole row
        back. A cancel that landed between the daemon's read and its write (it serializes the partition subsets
        in between: seconds at 118K partitions) was overwritten with REQUESTED and lost: the backfill went on
        submitting (seen at 118,257: still REQUESTED 5 minutes after the cancel). Here the daemon's REQUESTED
        write applies only while the stored status is not CANCELING (one conditional UPDATE); otherwise the
        backfill is written with the cancel kept."""
        from dagster._core.execution.backfill import BulkActionStatus
        from dagster._core.storage.runs.schema import BulkActionsTable
        from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
        from dagster_shared.serdes import serialize_value

        storage = self.run_storage
        if partition_backfill.status != BulkActionStatus.REQUESTED or not isinstance(storage, SqlRunStorage):
            super().update_backfill(partition_backfill)
            return
        canceling = BulkActionStatus.CANCELING.value
        table = BulkActionsTable
        with storage.connect() as conn:
            written = conn.execute(
                table.update()
                .where(table.c.key == partition_backfill.backfill_id, table.c.status != canceling)
                .values(status=partition_backfill.status.value, body=serialize_value(partition_backfill))
            ).rowcount
        if not written:  # cancelled meanwhile (or not stored: Dagster's own path says so)
            super().update_backfill(partition_backfill.with_status(BulkActionStatus.CANCELING))

    def _keys_cache(self) -> KeysCache:
        cache = self.__dict__.get("_codecvdc_keys_cache")
        return cache if cache is not None else self.__dict__.setdefault("_codecvdc_keys_cache", KeysCache())


class KeysCache:
    """Keys per partitions definition with the stamp they were loaded under; thread-safe (the daemon
    evaluates sensors in threads on one instance)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[Stamp, float, PartitionKeys]] = {}
        self._stamp: tuple[Stamp | None, float] | None = None

    def stamp(self, instance: dg.DagsterInstance) -> Stamp | None:
        now = time.monotonic()
        with self._lock:
            if self._stamp is not None and now - self._stamp[1] < STAMP_TTL_S:
                return self._stamp[0]
        stamp = partitions_stamp(instance)
        with self._lock:
            self._stamp = (stamp, now)
        return stamp

    def valid(self, name: str, stamp: Stamp) -> PartitionKeys | None:
        with self._lock:
            hit = self._keys.get(name)
        if hit is None or hit[0] != stamp or time.monotonic() - hit[1] >= RELOAD_S:
            return None
        return hit[2]

    def put(self, name: str, stamp: Stamp, keys: PartitionKeys) -> None:
        with self._lock:
            self._keys[name] = (stamp, time.monotonic(), keys)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._stamp = None


def partitions_stamp(instance: dg.DagsterInstance) -> Stamp | None:
    """(largest id, key of that row) of the instance's dynamic partitions table: every add changes it (ids
    only grow; when SQLite reuses the largest id after its row was deleted, the key there differs unless the
    same key was added back). One primary-key lookup. None when the storage is not Dagster's SQL event log."""
    from dagster._core.storage.event_log.schema import DynamicPartitionsTable
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return None
    table = DynamicPartitionsTable
    top = db.select(db.func.max(table.c.id)).scalar_subquery()
    query = db.select(top, db.select(table.c.partition).where(table.c.id == top).scalar_subquery())
    try:
        with storage.index_connection() as conn:
            largest, key = conn.execute(query).one()
    except db.exc.SQLAlchemyError:  # e.g. an old instance without the table: Dagster's own path says why
        return None
    return largest, key
