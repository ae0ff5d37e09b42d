"""Compaction: fold the lake's per-video files into a few large, hash-bucketed files per table.

Per-video files stay the write path (atomic, one writer per video, no lock). A query over 100,000 videos
must not open 100,000 files per table, so `compact` merges them into
``lake/<table>/_compacted/bucket=<k>/data.parquet`` (k = sha256(video_id) mod BUCKETS). Every compacted
row carries ``_file``, the per-video file it came from (``video_id=<id>/<name>``); ``files.json`` beside
each bucket lists every compacted source file, also the ones that held zero rows.

The rule that keeps the result exact (views, ``Lake.read``/``exists``): a per-video file on disk wins over
the compacted rows of the same ``_file``. A re-materialized video writes its file again, so its old rows
never show; the next compaction replaces them. After a bucket is rewritten, each source file is retired
only if it is still the file that was read (same inode): a writer that replaced it meanwhile keeps its
newer file. Concurrent compactions of a table are serialized by a lock; writers never wait.

`failures` is never compacted: a cleared failure is a removed file, and a compacted row would resurface.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from codecvdc_assets.storage.atomic import atomic_write, atomic_write_bytes
from codecvdc_assets.storage.integrity import record_local_file
from codecvdc_assets.storage.lake import (
    COMPACTED_TABLES,
    GLOBAL,
    INDEX,
    NOT_COMPACTED,
    SOURCE,
    bucket_of,
    bucket_path,
    compacted_dir,
    compacted_index,
    spool_for,
)


@dataclass
class CompactionResult:
    table: str
    files: int = 0  # per-video files folded in
    retired: int = 0  # of those, removed from disk (the rest were replaced by a writer meanwhile)
    buckets: int = 0  # bucket files rewritten
    seconds: float = 0.0


def _loose_files(table_dir: Path) -> dict[int, list[tuple[str, Path, int]]]:
    """Per bucket: (source name, path, inode) of every per-video file now on disk."""
    out: dict[int, list[tuple[str, Path, int]]] = defaultdict(list)
    if not table_dir.is_dir():
        return out
    with os.scandir(table_dir) as folders:
        for folder in folders:
            if not folder.name.startswith("video_id=") or folder.name == f"video_id={GLOBAL}":
                continue
            video_id = folder.name.removeprefix("video_id=")
            with os.scandir(folder.path) as entries:
                for entry in entries:
                    if entry.name.endswith(".parquet.compacted"):  # a compaction died in _retire: undo
                        _restore(Path(entry.path))
                        continue
                    if entry.name.endswith(".parquet") and entry.is_file():
                        inode = entry.inode()
                        out[bucket_of(video_id)].append((f"{folder.name}/{entry.name}", Path(entry.path), inode))
    return out


def _retire(path: Path, inode: int) -> bool:
    """Remove `path` if it is still the file that was compacted; a newer file put there meanwhile stays.

    Moving it aside first makes the check and the removal one step for writers: a writer that renames a
    new file in after the move keeps it (the link back below then fails), one that did before is put back.
    """
    aside = path.with_name(path.name + ".compacted")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if os.stat(aside).st_ino == inode:
        os.unlink(aside)
        # An emptied video folder goes too: globbing 100,000 empty folders costs a query seconds. A writer
        # that made the folder just before re-makes it (storage/atomic.py).
        with contextlib.suppress(OSError):
            os.rmdir(path.parent)
        return True
    _restore(aside)  # a newer file: put it back
    return False


def _restore(aside: Path) -> None:
    """Put a moved-aside file back unless a newer one is already in its place (link never overwrites)."""
    with contextlib.suppress(FileExistsError):
        os.link(aside, aside.with_name(aside.name.removesuffix(".compacted")))
    os.unlink(aside)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def compact_table(table_dir: Path, min_files: int = 1) -> CompactionResult:
    """Fold every per-video file of one table into its bucket; see the module docstring."""
    table = table_dir.name
    if table in NOT_COMPACTED:
        raise ValueError(f"{table}: not compacted (cleared failures are removed files)")
    started = time.perf_counter()
    result = CompactionResult(table)
    folder = compacted_dir(table_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        loose = _loose_files(table_dir)
        if sum(len(v) for v in loose.values()) < min_files:
            return result
        con = duckdb.connect()
        try:
            for bucket, listed in sorted(loose.items()):
                with _snapshot(folder, listed) as files:
                    if not files:
                        continue
                    _rewrite_bucket(con, table_dir, bucket, files)
                result.buckets += 1
                result.files += len(files)
                result.retired += sum(_retire(path, inode) for _, path, inode, _ in files)
        finally:
            con.close()
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _snapshot(folder: Path, listed: list[tuple[str, Path, int]]) -> Iterator[list[tuple[str, Path, int, Path]]]:
    """Hard links to the listed files, read instead of them: a writer replacing a file (rename) while
    DuckDB reads it would hand DuckDB the footer of one file and the pages of another. Yields (source,
    path, inode of the linked file, link) for the files still there: rows come from the link, and _retire
    removes the path only if it still holds that inode. The links go afterwards."""
    snap = folder / f".snapshot-{os.getpid()}-{threading.get_ident()}"
    files = []
    try:
        for source, path, _ in listed:
            link = snap / source
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, link)
            except FileNotFoundError:  # removed meanwhile (another compaction retired it): nothing to fold
                continue
            files.append((source, path, os.stat(link).st_ino, link))
        yield files
    finally:
        shutil.rmtree(snap, ignore_errors=True)


def _rewrite_bucket(con: duckdb.DuckDBPyConnection, table_dir: Path, bucket: int, files: list) -> None:
    target = bucket_path(table_dir, bucket)
    sources = [s for s, _, _, _ in files]
    new = (
        f"SELECT * EXCLUDE (filename), regexp_extract(filename, '[^/]+/[^/]+$') AS {SOURCE} "
        f"FROM read_parquet({_sql_list([str(link) for *_, link in files])}, union_by_name = true, filename = true)"
    )
    query = new
    if target.exists():
        old = f"SELECT * FROM read_parquet('{target}') WHERE {SOURCE} NOT IN (SELECT unnest({_sql_list(sources)}))"
        query = f"{new} UNION ALL BY NAME {old}"
    # Sorted by source file: a video's rows sit together, so Lake.read of one video reads few row groups.
    atomic_write(
        str(target),
        lambda tmp: con.execute(
            f"COPY ({query} ORDER BY {SOURCE}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
        ),
        spool_for(table_dir),
    )
    record_local_file(target)
    index = sorted(compacted_index(table_dir, bucket) | set(sources))
    atomic_write_bytes(str(target.with_name(INDEX)), json.dumps(index).encode(), spool_for(table_dir))


def compact(lake_root: Path | str, tables: list[str] | None = None, min_files: int = 1) -> list[CompactionResult]:
    """Compact the given tables (default: every compacted table that has a folder in the lake)."""
    if not isinstance(lake_root, Path):  # an s3:// URI (storage/lake.py): no rename, no flock there
        raise ValueError(f"{lake_root}: compaction needs a lake on a local filesystem, not on S3 (not supported yet)")
    names = tables or [t for t in COMPACTED_TABLES if (lake_root / t).is_dir()]
    unknown = [t for t in names if t not in COMPACTED_TABLES]
    if unknown:
        raise ValueError(f"cannot compact {', '.join(unknown)}; compacted tables: {', '.join(COMPACTED_TABLES)}")
    return [compact_table(lake_root / t, min_files) for t in names]
