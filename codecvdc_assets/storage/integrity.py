"""Lake integrity: a checksum record for every lake file, and `verify` that reads every file against it.

Every lake file ``lake/<table>/<folder>/<name>.parquet`` gets a small JSON record at
``lake/_integrity/<table>/<folder>/<name>.json`` written right after it (the same key on a local lake and
on S3): ``{"sha256": ..., "size": ..., "written_at": ...}`` plus any extra fields a writer passes (e.g. the
producing worker), so the record can grow without a format change. The records sit outside the tables'
folders, so no lake glob (``*.parquet``) and no compaction ever sees them.

`verify` lists every table's files and every record: a file whose bytes differ from its record, or that
is not a readable Parquet file (no record: written before records existed), is damaged; a record whose
file is gone (and not folded into a compacted bucket) is a missing file. `failures` files get no record
(they are control records created and removed on every attempt); they are still parsed.

Repair (the CLI's `verify --repair`) moves a damaged file aside into ``quarantine/`` (queries answer again,
without that partition's rows) and records a `DamagedLakeFile` failure for the asset that writes it, so
`status` says ``damaged`` and `run --stale` re-materializes that partition; its success clears the mark
like any other failure.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from codecvdc_assets.schemas import TABLE_SCHEMAS
from codecvdc_assets.storage.atomic import atomic_write_bytes, spool_dir
from codecvdc_assets.storage.blobs import Blobs, LocalBlobs

RECORDS = "lake/_integrity"
QUARANTINE = "quarantine"
DAMAGE_ERROR = "DamagedLakeFile"  # the failures' error_type of a repaired (marked) partition
UNRECORDED = {"failures"}
READERS = 8  # files read at once (S3: requests in flight)


def record_key(key: str) -> str:
    """``lake/<table>/<folder>/<name>.parquet`` -> ``lake/_integrity/<table>/<folder>/<name>.json``."""
    return f"{RECORDS}/{key.removeprefix('lake/').removesuffix('.parquet')}.json"


def data_key(rkey: str) -> str:
    return f"lake/{rkey.removeprefix(RECORDS + '/').removesuffix('.json')}.parquet"


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(blobs: Blobs, key: str, data: bytes, fields: dict[str, Any] | None = None) -> None:
    """Write the record of a lake file that was just written with `data` (extra `fields` are kept)."""
    if key.split("/")[1] in UNRECORDED:
        return
    doc = {"sha256": checksum(data), "size": len(data), "written_at": round(time.time(), 3), **(fields or {})}
    body = json.dumps(doc, sort_keys=True).encode()
    if isinstance(blobs, LocalBlobs):
        # Atomic but not fsynced: a record lost to a power loss reads as no record (the file is then parsed),
        # and skipping the second fsync keeps a lake write at one (2.0x the time with it, bench in README).
        atomic_write_bytes(blobs.uri(record_key(key)), body, spool_dir(blobs.spool_root), durable=False)
    else:
        blobs.put(record_key(key), body)


def record_local_file(path: Path) -> None:
    """Record a file written straight to a local lake (compaction): `path` lies under ``<root>/lake/``."""
    parts = path.parts
    at = len(parts) - 1 - parts[::-1].index("lake")
    record(LocalBlobs(Path(*parts[:at])), "/".join(parts[at:]), path.read_bytes())


def read_record(blobs: Blobs, key: str) -> dict[str, Any] | None:
    """The file's record; None when there is none, or only a torn one (a power loss after an unsynced write)."""
    try:
        doc = json.loads(blobs.get(record_key(key)))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def forget(blobs: Blobs, key: str) -> None:
    blobs.delete(record_key(key))


@dataclass(frozen=True)
class Damage:
    key: str  # lake/<table>/<folder>/<name>.parquet
    uri: str  # where it is: a path or an s3:// URI
    reason: str

    @property
    def table(self) -> str:
        return self.key.split("/")[1]

    @property
    def video_id(self) -> str | None:
        """The partition folder's video id (``_all`` for dataset-level files); None for schema/compacted files."""
        folder = self.key.split("/")[2]
        return folder.removeprefix("video_id=") if folder.startswith("video_id=") else None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[1]

    def line(self) -> str:
        return f"{self.uri}: {self.reason}"


@dataclass
class Report:
    checked: int
    damaged: list[Damage]


def _table_keys(blobs: Blobs) -> Iterator[str]:
    for folder in [*TABLE_SCHEMAS, "_compacted"]:  # (on S3 the compacted schema files sit in lake/_compacted)
        for key in blobs.list(f"lake/{folder}"):
            if key.endswith(".parquet"):
                yield key


def _check(blobs: Blobs, key: str) -> str | None:
    """Why the file at `key` is damaged, or None when it is whole."""
    try:
        data = blobs.get(key)
    except FileNotFoundError:
        return None  # replaced or compacted away between the listing and the read: not ours to judge
    rec = read_record(blobs, key)
    if rec is not None:
        if checksum(data) == rec.get("sha256"):
            return None
        try:  # a writer replacing the file (or a compaction retiring it) just then: look once more
            again = blobs.get(key), read_record(blobs, key)
        except FileNotFoundError:
            return None
        if again[1] is not None and checksum(again[0]) == again[1].get("sha256"):
            return None
        size = f"{len(data)} bytes, recorded {rec.get('size')}" if len(data) != rec.get("size") else "same size"
        return f"checksum mismatch ({size})"
    try:
        pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...: any of them means unreadable
        return f"not a readable Parquet file ({str(exc).splitlines()[0][:160]})"
    return None


def verify(blobs: Blobs, compacted: Any = None) -> Report:
    """Read every lake file under `blobs` (the store's root) against its record.

    `compacted(key) -> bool` says whether a per-video file was folded into a compacted bucket (its record
    then outlives the file by design); default: never."""
    keys = list(_table_keys(blobs))
    present = set(keys)
    with ThreadPoolExecutor(READERS) as pool:
        reasons = list(pool.map(lambda k: _check(blobs, k), keys))
    damaged = [Damage(k, blobs.uri(k), r) for k, r in zip(keys, reasons, strict=True) if r]
    for rkey in blobs.list(RECORDS):
        key = data_key(rkey)
        if key in present or (compacted is not None and compacted(key)) or blobs.exists(key):
            continue
        damaged.append(Damage(key, blobs.uri(key), "missing (its checksum was recorded when it was written)"))
    return Report(len(keys), sorted(damaged, key=lambda d: d.key))


# Tables written by an asset of another name; the other tables are written by the asset of their name.
WRITERS = {"vidcapqa_decisions": "vidcapqa_built_bank"}
BUCKET_INDEX = "files.json"  # storage/compaction.py: the per-video files folded into a bucket


def _is_bucket(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 5 and parts[2] == "_compacted" and parts[3].startswith("bucket=")


def partitions_of(damage: Damage, blobs: Blobs, assets: set[str]) -> list[tuple[str, str]]:
    """The (partition, asset) pairs whose re-materialization rewrites the damaged file's rows: the
    asset that writes its table, for its video (``_all``: dataset-level), or for every video a compacted
    bucket holds. Schema files are rebuilt on the next write and call records (model_calls) cannot be
    made again: those map to none."""
    if damage.table == "model_calls":
        return []
    if damage.table == "failures":  # a failure record: its asset runs again
        asset = damage.name.removesuffix(".parquet")
        return [(damage.video_id, asset)] if damage.video_id and asset in assets else []
    writer = WRITERS.get(damage.table, damage.table)
    if writer not in assets:
        return []
    if _is_bucket(damage.key):
        try:
            sources = json.loads(blobs.get(damage.key.rsplit("/", 1)[0] + "/" + BUCKET_INDEX))
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        videos = sorted({s.split("/")[0].removeprefix("video_id=") for s in sources})
        return [(v, writer) for v in videos]
    return [(damage.video_id, writer)] if damage.video_id else []


def quarantine(blobs: Blobs, damage: Damage) -> str | None:
    """Move a damaged file out of the lake into ``quarantine/<key>`` and drop its record; returns where it
    went (None: it was missing). A compacted bucket's index goes with it, so no read looks there."""
    forget(blobs, damage.key)
    moved = None
    keys = [damage.key]
    if _is_bucket(damage.key):
        keys.append(damage.key.rsplit("/", 1)[0] + "/" + BUCKET_INDEX)
    for key in keys:
        try:
            data = blobs.get(key)
        except FileNotFoundError:
            continue
        blobs.put(f"{QUARANTINE}/{key}", data)
        blobs.delete(key)
        moved = moved or blobs.uri(f"{QUARANTINE}/{key}")
    return moved
