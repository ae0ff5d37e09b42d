"""The Parquet lake: one file per table per video, ``lake/<table>/video_id=<id>/data.parquet``.

The lake lives under a blob store's root (storage/blobs.py): ``$CODECVDC_HOME`` or ``s3://bucket/prefix``,
with the same keys in both. Writes are atomic (temp file + rename locally, one ``put_object`` on S3), so
readers (DuckDB views, other processes) only ever see whole files, and processes writing different
videos never contend for a lock. Every file's checksum is recorded right after it (storage/integrity.py).
Every table folder also holds ``_schema/data.parquet``, a zero-row file with the table's columns, so the
catalog's views answer (with zero rows) before the first video lands.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codecvdc_assets.schemas import TABLE_SCHEMAS, empty_frame, validate
from codecvdc_assets.storage import integrity
from codecvdc_assets.storage.atomic import atomic_write, spool_dir
from codecvdc_assets.storage.blobs import Blobs, LocalBlobs
from codecvdc_assets.storage.provenance import PARQUET_KEY, worker_identity
from codecvdc_assets.video.ids import is_valid_video_id

DATA_FILE = "data.parquet"
GLOBAL = "_all"  # the partition folder of rows that belong to no single video (dataset-level assets)
_SCHEMA_FILES: set[str] = set()  # S3 schema files known to exist in this process (one HEAD each, not one a write)

# Compacted files (storage/compaction.py writes them): the read side, which Lake.read and exists use.
BUCKETS = 16
SOURCE = "_file"
FOLDER = "_compacted"
INDEX = "files.json"
NOT_COMPACTED = {"failures"}  # cleared by removing the file; see the module docstring
COMPACTED_TABLES = [t for t in TABLE_SCHEMAS if t not in NOT_COMPACTED]


def bucket_of(video_id: str, buckets: int = BUCKETS) -> int:
    return int.from_bytes(hashlib.sha256(video_id.encode()).digest()[:4], "big") % buckets


def source_name(video_id: str, name: str = DATA_FILE) -> str:
    return f"video_id={video_id}/{name}"


def compacted_dir(table_dir: Path) -> Path:
    return table_dir / FOLDER


def bucket_path(table_dir: Path, bucket: int) -> Path:
    return compacted_dir(table_dir) / f"bucket={bucket:03d}" / DATA_FILE


def schema_frame(table: str) -> pd.DataFrame:
    """Zero rows with the table's columns and `_file`: what a compacted file holds."""
    return empty_frame(table).assign(**{SOURCE: pd.Series(dtype=str)})


def compacted_glob(table_dir: Path) -> str:
    """The DuckDB glob over a table's compacted files (a zero-row schema file included, made here)."""
    schema_file = compacted_dir(table_dir) / "_schema" / DATA_FILE
    if not schema_file.exists():
        frame = schema_frame(table_dir.name)
        atomic_write(str(schema_file), lambda tmp: frame.to_parquet(tmp, index=False), spool_for(table_dir))
        integrity.record_local_file(schema_file)
    return str(compacted_dir(table_dir) / "*" / DATA_FILE)


def compacted_index(table_dir: Path, bucket: int) -> set[str]:
    path = bucket_path(table_dir, bucket).with_name(INDEX)
    try:
        return set(json.loads(path.read_text()))
    except FileNotFoundError:
        return set()


def compacted_exists(table_dir: Path, video_id: str, name: str = DATA_FILE) -> bool:
    return source_name(video_id, name) in compacted_index(table_dir, bucket_of(video_id))


def read_compacted(table_dir: Path, video_id: str, name: str = DATA_FILE) -> pd.DataFrame:
    """One per-video file's rows from its bucket; FileNotFoundError when it was never compacted."""
    bucket = bucket_of(video_id)
    source = source_name(video_id, name)
    path = bucket_path(table_dir, bucket)
    if source not in compacted_index(table_dir, bucket) or not path.exists():
        raise FileNotFoundError(str(table_dir / source))
    rows = pq.read_table(path, filters=[(SOURCE, "==", source)])
    return rows.drop_columns([SOURCE]).to_pandas()


def compacted_sources(table_dir: Path) -> list[str]:
    """Every compacted source file of a table (``video_id=<id>/<name>``)."""
    return sorted(s for b in range(BUCKETS) for s in compacted_index(table_dir, b))


def read_all_compacted(table_dir: Path, shadowed: set[str]) -> pd.DataFrame:
    """Every compacted row whose source file is not shadowed by a per-video file on disk."""
    files = sorted(compacted_dir(table_dir).glob(f"bucket=*/{DATA_FILE}"))
    if not files:
        return pd.DataFrame()
    rows = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    keep = [s not in shadowed for s in rows.column(SOURCE).to_pylist()]
    return rows.filter(pa.array(keep, type=pa.bool_())).drop_columns([SOURCE]).to_pandas()


def spool_for(table_dir: Path) -> str:
    """This process's spool under the store's root (``<root>/lake/<table>``): a killed compaction's temp
    files are removed by the next run (storage/atomic.py), never left among the lake's files."""
    return spool_dir(str(table_dir.parent.parent))


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    """The frame as Parquet (what ``df.to_parquet(index=False)`` writes), with the writing process's
    ``host:pid`` in the file's key-value metadata (storage/provenance.py)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_KEY: worker_identity().encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


class Lake:
    def __init__(self, home: str | os.PathLike[str], blobs: Blobs | None = None) -> None:
        """`home` is $CODECVDC_HOME; `blobs` the store whose root holds ``lake/`` (default: `home`)."""
        self.home = Path(home)
        self.blobs: Blobs = blobs or LocalBlobs(self.home)
        self.is_local = isinstance(self.blobs, LocalBlobs)
        self.root = Path(self.blobs.uri("lake")) if self.is_local else self.blobs.uri("lake")

    def __repr__(self) -> str:
        return f"Lake({self.blobs.uri('lake')!r})"

    def _table_key(self, table: str) -> str:
        if table not in TABLE_SCHEMAS:
            raise KeyError(f"unknown lake table {table!r}")
        return f"lake/{table}"

    def key(self, table: str, video_id: str, name: str = DATA_FILE) -> str:
        """The file's key relative to the store's root."""
        if video_id != GLOBAL and not is_valid_video_id(video_id):
            raise ValueError(f"refusing lake path for unsanitized video id {video_id!r}")
        if "/" in name or name.startswith("."):
            raise ValueError(f"refusing lake file name {name!r}")
        return f"{self._table_key(table)}/video_id={video_id}/{name}"

    def table_dir(self, table: str) -> Path | str:
        uri = self.blobs.uri(self._table_key(table))
        return Path(uri) if self.is_local else uri

    def path(self, table: str, video_id: str, name: str = DATA_FILE) -> Path | str:
        """A local Path, or an ``s3://`` URI when the lake is on S3."""
        uri = self.blobs.uri(self.key(table, video_id, name))
        return Path(uri) if self.is_local else uri

    def write(
        self,
        table: str,
        video_id: str,
        df: pd.DataFrame,
        name: str = DATA_FILE,
        fields: dict[str, Any] | None = None,
    ) -> Path | str:
        """Validate `df` against the table's pandera model and write it atomically; its checksum record
        gets `fields` too (storage/integrity.py)."""
        checked = validate(table, df)
        self._put(self.key(table, video_id, name), _parquet_bytes(checked), fields)
        self.ensure_schema_file(table)
        return self.path(table, video_id, name)

    def _put(self, key: str, data: bytes, fields: dict[str, Any] | None = None) -> None:
        self.blobs.put(key, data)
        integrity.record(self.blobs, key, data, fields)

    def read(self, table: str, video_id: str, name: str = DATA_FILE) -> pd.DataFrame:
        try:
            return pd.read_parquet(io.BytesIO(self.blobs.get(self.key(table, video_id, name))))
        except FileNotFoundError:
            if not self.is_local:
                raise
            return read_compacted(self.table_dir(table), video_id, name)

    def read_all(self, table: str) -> pd.DataFrame:
        """Every video's rows of a table (the schema file excluded); empty when none is written."""
        keys = [k for k in self.blobs.list(self._table_key(table)) if _is_partition_file(k)]
        frames = [pd.read_parquet(io.BytesIO(self.blobs.get(k))) for k in keys]
        if self.is_local:
            shadowed = {"/".join(k.split("/")[-2:]) for k in keys}  # a file on disk wins over compacted rows
            frames.append(read_all_compacted(self.table_dir(table), shadowed))
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def names(self, table: str, video_id: str) -> list[str]:
        """The Parquet file names of one video's folder of a table, sorted (files on disk only)."""
        folder = self.key(table, video_id, DATA_FILE).rsplit("/", 1)[0]
        return [k.rsplit("/", 1)[1] for k in self.blobs.list(folder) if k.endswith(".parquet")]

    def exists(self, table: str, video_id: str, name: str = DATA_FILE) -> bool:
        if self.blobs.exists(self.key(table, video_id, name)):
            return True
        if not self.is_local:
            return False
        return compacted_exists(self.table_dir(table), video_id, name)

    def remove(self, table: str, video_id: str, name: str = DATA_FILE) -> None:
        key = self.key(table, video_id, name)
        self.blobs.delete(key)
        if table not in integrity.UNRECORDED:
            integrity.forget(self.blobs, key)

    def ensure_schema_file(self, table: str, recheck: bool = False) -> Path | str:
        """Write the table's zero-row schema file if missing (`recheck`: look even if seen in this process)."""
        key = f"{self._table_key(table)}/_schema/{DATA_FILE}"
        uri = self.blobs.uri(key)
        if recheck or self.is_local or uri not in _SCHEMA_FILES:  # a local check is one stat
            if not self.blobs.exists(key):
                self._put(key, _parquet_bytes(empty_frame(table)))
            if not self.is_local:  # what compacted_glob finds on S3 (local: compaction makes its own)
                compacted = _compacted_schema_key(table)
                if not self.blobs.exists(compacted):
                    self._put(compacted, _parquet_bytes(schema_frame(table)))
            _SCHEMA_FILES.add(uri)
        return Path(uri) if self.is_local else uri

    def glob(self, table: str) -> str:
        """The DuckDB glob over every file of a table (schema file included). On S3 ``**`` (the same files:
        the layout is two levels deep) makes s3fs list the table with one recursive LIST, where ``*/``
        would list every video's folder on its own."""
        return self.blobs.uri(f"{self._table_key(table)}/{'*' if self.is_local else '**'}/*.parquet")

    def compacted_glob(self, table: str) -> str:
        """The DuckDB glob over a table's compacted files (storage/compaction.py), a zero-row file with the
        `_file` column included. Compaction runs on local lakes only; on S3 the glob finds that file alone."""
        if self.is_local:
            return compacted_glob(self.table_dir(table))
        self.ensure_schema_file(table)
        return self.blobs.uri(f"lake/_compacted/{table}/*/{DATA_FILE}")


def _compacted_schema_key(table: str) -> str:
    """On S3, outside the table's folder, so the table's ``**`` glob never sees it."""
    return f"lake/_compacted/{table}/_schema/{DATA_FILE}"


def _is_partition_file(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 4 and parts[2].startswith("video_id=") and parts[3].endswith(".parquet")
