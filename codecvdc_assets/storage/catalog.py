"""The DuckDB catalog: ``$CODECVDC_HOME/catalog.duckdb`` holds views over the Parquet lake.

View definitions live in ``sql/views/<view>.sql``; ``{glob:<table>}`` in them is replaced by the lake
glob of that table, ``{compacted:<table>}`` by the glob of its compacted files (storage/compaction.py).
Views read the lake at query time, so the catalog is only written when the view definitions change
(tracked by a hash in ``catalog.version``): no database sits in the write path and many
processes can materialize videos while others query.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import time
from pathlib import Path

import duckdb

from ..schemas import TABLE_SCHEMAS
from ..settings import project_dir
from .compaction import compacted_glob
from .lake import Lake

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
    return lake.glob(table) if kind == "glob" else compacted_glob(lake.table_dir(table))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def catalog_path(home: str | Path) -> Path:
    return Path(home) / "catalog.duckdb"


def ensure_catalog(home: str | Path, attempts: int = 50) -> Path:
    """Create or update the catalog's views if their definitions changed; a no-op otherwise."""
    lake = Lake(home)
    for table in TABLE_SCHEMAS:
        lake.ensure_schema_file(table)
    views = load_views(lake)
    version = hashlib.sha256(json.dumps(views, sort_keys=True).encode()).hexdigest()
    path = catalog_path(home)
    stamp = path.with_suffix(".version")
    if path.exists() and stamp.exists() and stamp.read_text() == version:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and stamp.exists() and stamp.read_text() == version:
            return path
        for attempt in range(attempts):
            try:
                con = duckdb.connect(str(path))
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


def connect(home: str | Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to the catalog (read-only by default: queries never write the lake)."""
    return duckdb.connect(str(ensure_catalog(home)), read_only=read_only)
