"""The Parquet lake: one file per table per video, ``lake/<table>/video_id=<id>/data.parquet``.

Writes are atomic (temp file + rename), so readers (DuckDB views, other processes) only ever see
whole files, and processes writing different videos never contend for a lock. Every table folder
also holds ``_schema/data.parquet``, a zero-row file with the table's columns, so the catalog's
views answer (with zero rows) before the first video lands.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..schemas import TABLE_SCHEMAS, empty_frame, validate
from ..video.ids import is_valid_video_id
from .atomic import atomic_write

DATA_FILE = "data.parquet"
GLOBAL = "_all"  # the partition folder of rows that belong to no single video (dataset-level assets)


class Lake:
    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.root = self.home / "lake"

    def table_dir(self, table: str) -> Path:
        if table not in TABLE_SCHEMAS:
            raise KeyError(f"unknown lake table {table!r}")
        return self.root / table

    def path(self, table: str, video_id: str, name: str = DATA_FILE) -> Path:
        if video_id != GLOBAL and not is_valid_video_id(video_id):
            raise ValueError(f"refusing lake path for unsanitized video id {video_id!r}")
        return self.table_dir(table) / f"video_id={video_id}" / name

    def write(self, table: str, video_id: str, df: pd.DataFrame, name: str = DATA_FILE) -> Path:
        """Validate `df` against the table's pandera model and write it atomically."""
        checked = validate(table, df)
        target = self.path(table, video_id, name)
        atomic_write(str(target), lambda tmp: checked.to_parquet(tmp, index=False))
        self.ensure_schema_file(table)
        return target

    def read(self, table: str, video_id: str, name: str = DATA_FILE) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.path(table, video_id, name))
        except FileNotFoundError:  # folded into the table's compacted files
            from . import compaction  # (imports this module)

            return compaction.read_compacted(self.table_dir(table), video_id, name)

    def read_all(self, table: str) -> pd.DataFrame:
        """Every video's rows of a table (the schema file excluded); empty when none is written."""
        files = sorted(self.table_dir(table).glob("video_id=*/*.parquet"))
        from . import compaction

        shadowed = {f"{f.parent.name}/{f.name}" for f in files}  # a file on disk wins over compacted rows
        frames = [pd.read_parquet(f) for f in files] + [compaction.read_all_compacted(self.table_dir(table), shadowed)]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def exists(self, table: str, video_id: str, name: str = DATA_FILE) -> bool:
        from . import compaction

        path = self.path(table, video_id, name)
        return path.exists() or compaction.compacted_exists(self.table_dir(table), video_id, name)

    def remove(self, table: str, video_id: str, name: str = DATA_FILE) -> None:
        self.path(table, video_id, name).unlink(missing_ok=True)

    def ensure_schema_file(self, table: str) -> Path:
        target = self.table_dir(table) / "_schema" / DATA_FILE
        if not target.exists():
            frame = empty_frame(table)
            atomic_write(str(target), lambda tmp: frame.to_parquet(tmp, index=False))
        return target

    def glob(self, table: str) -> str:
        """The DuckDB glob over every file of a table (schema file included)."""
        return str(self.table_dir(table) / "*" / "*.parquet")
