"""The DuckDB catalog: ``$CODECVDC_HOME/catalog.duckdb`` holds views over the Parquet lake.

View definitions live in ``sql/views/<view>.sql``; ``{glob:<table>}`` in them is replaced by the lake
glob of that table, ``{compacted:<table>}`` by the glob of its compacted files (storage/compaction.py).
Views read the lake at query time, so the catalog is only written when the view definitions change
(tracked by a hash in ``catalog.version``): no database sits in the write path and many
processes can materialize videos while others query.

A lake on S3 is read through an fsspec filesystem (s3fs, on the lake's endpoint and credentials) that
every connection registers with DuckDB before it touches a view: DuckDB's own S3 support is the httpfs
extension, which it would download at run time (machines are offline), so extension autoloading and
autoinstalling are switched off and ``s3://`` globs go to the registered filesystem instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import duckdb

from codecvdc_assets.schemas import TABLE_SCHEMAS
from codecvdc_assets.settings import project_dir
from codecvdc_assets.storage.blobs import S3Blobs
from codecvdc_assets.storage.lake import Lake

# No extension is ever downloaded or loaded behind our back (the parquet reader is built in).
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

_FILESYSTEMS: dict[str, Any] = {}  # the s3fs filesystem registered with each catalog's database instance
_PLACEHOLDER = re.compile(r"\{(glob|compacted):([a-z_]+)\}")


def views_dir() -> Path:
    return project_dir() / "sql" / "views"


def load_views(lake: Lake, folder: Path | None = None) -> dict[str, str]:
    folder = folder or views_dir()
    views = {}
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text()
        views[path.stem] = _PLACEHOLDER.sub(lambda m: _quote(_resolve(lake, *m.groups())), text).strip().rstrip(";")
    return views


def _resolve(lake: Lake, kind: str, table: str) -> str:
    return lake.glob(table) if kind == "glob" else lake.compacted_glob(table)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def catalog_path(home: str | Path) -> Path:
    return Path(home) / "catalog.duckdb"


def _lake(home: str | Path, lake: Lake | None) -> Lake:
    """The lake to view: the given one (a profile's, e.g. on S3: defs.resources.open_lake), else the local
    lake under `home`."""
    return lake if lake is not None else Lake(home)


def _open(path: Path, lake: Lake, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
    if isinstance(lake.blobs, S3Blobs):
        # Filesystems belong to the database instance, which DuckDB shares between connections to one file
        # in a process: register once per instance, and start each connection with fresh listings.
        if "s3" in con.list_filesystems() and str(path) in _FILESYSTEMS:
            _FILESYSTEMS[str(path)].invalidate_cache()
        else:
            _FILESYSTEMS[str(path)] = lake.blobs.filesystem()
            con.register_filesystem(_FILESYSTEMS[str(path)])
    return con


def ensure_catalog(home: str | Path, lake: Lake | None = None, attempts: int = 50) -> Path:
    """Create or update the catalog's views if their definitions changed; a no-op otherwise.
    `lake` defaults to the local lake under `home` (pass the profile's: defs.resources.open_lake)."""
    lake = _lake(home, lake)
    views = load_views(lake)
    version = hashlib.sha256(json.dumps(views, sort_keys=True).encode()).hexdigest()
    path = catalog_path(home)
    stamp = path.with_suffix(".version")
    fresh = path.exists() and stamp.exists() and stamp.read_text() == version
    for table in TABLE_SCHEMAS:  # on S3 one HEAD per table when the views are (re)built, else once a process
        lake.ensure_schema_file(table, recheck=not fresh)
    if fresh:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and stamp.exists() and stamp.read_text() == version:
            return path
        for attempt in range(attempts):
            try:
                con = _open(path, lake, read_only=False)
                break
            except duckdb.IOException:  # a reader holds the file; views are small, retry shortly
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)
        try:
            for name, sql in views.items():
                con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        finally:
            con.close()
        stamp.write_text(version)
    return path


def connect(home: str | Path, read_only: bool = True, lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the catalog (read-only by default: queries never write the lake); `lake`
    defaults to the active profile's."""
    lake = _lake(home, lake)
    return _open(ensure_catalog(home, lake), lake, read_only)
