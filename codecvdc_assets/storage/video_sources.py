"""Video roots on disk and on S3: bounded listings with a cursor, object fingerprints, local copies.

A root is a folder (or a file) or an ``s3://bucket/prefix/``. `scan_roots` lists at most `budget` entries
per call, resuming after the position each root reached last time (a sorted folder walk, or
``list_objects_v2`` with ``StartAfter``), so a 100K-file root costs O(budget) per sensor tick; a root whose
listing is exhausted starts over on its next turn, which is how files added behind the cursor are found.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from codecvdc_assets.storage.blobs import is_s3_url, split_s3_url
from codecvdc_assets.storage.registry import VIDEO_EXTENSIONS, SourceFile, walk_files
from codecvdc_assets.video.errors import VideoError
from codecvdc_assets.video.ids import fingerprint_of, fingerprint_ranges

S3_PAGE = 1000  # list_objects_v2 returns at most 1,000 keys per call


def is_video_key(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


@dataclass
class Slice:
    """One root's part of a scan: the videos found, where the listing stopped, whether it ran out."""

    videos: list[SourceFile] = field(default_factory=list)
    last: str = ""
    examined: int = 0
    exhausted: bool = False


def list_local(root: str, after: str, limit: int) -> Slice:
    out = Slice(last=after)
    for key, real in islice(walk_files(root, after), limit):
        out.examined += 1
        out.last = key
        if real:
            st = os.stat(real)
            out.videos.append(SourceFile(real, st.st_size, st.st_mtime))
    out.exhausted = out.examined < limit
    return out


def list_s3(client: Any, url: str, after: str, limit: int) -> Slice:
    bucket, prefix = split_s3_url(url)
    out = Slice(last=after)
    while out.examined < limit:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}/" if prefix else ""}
        kwargs["MaxKeys"] = min(S3_PAGE, limit - out.examined)
        if out.last:
            kwargs["StartAfter"] = out.last
        page = client.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            out.examined += 1
            out.last = item["Key"]
            if is_video_key(item["Key"]):
                uri = f"s3://{bucket}/{item['Key']}"
                out.videos.append(SourceFile(uri, int(item["Size"]), item["LastModified"].timestamp()))
        if not page.get("IsTruncated"):
            out.exhausted = True
            break
    return out


def scan_roots(
    roots: list[str], cursor: dict[str, Any], budget: int, s3_client: Any = None
) -> tuple[list[SourceFile], dict[str, Any]]:
    """List up to `budget` entries over `roots`, round-robin from where `cursor` stopped.

    The cursor is ``{"root": index of the root to continue, "after": {root: last key or path seen}}``
    (JSON-safe); the new one is returned with the videos found.
    """
    if not roots:
        return [], {}
    after: dict[str, str] = {r: k for r, k in (cursor.get("after") or {}).items() if r in roots}
    index = int(cursor.get("root", 0)) % len(roots)
    found: list[SourceFile] = []
    left = budget
    for _ in range(len(roots)):
        if left <= 0:
            break
        root = roots[index]
        if is_s3_url(root):
            if s3_client is None:
                raise ValueError(f"{root}: an S3 video root needs the S3 client of the storage settings")
            part = list_s3(s3_client, root, after.get(root, ""), left)
        else:
            part = list_local(root, after.get(root, ""), left)
        found.extend(part.videos)
        left -= part.examined
        if part.exhausted:
            after.pop(root, None)  # start over on this root's next turn
            index = (index + 1) % len(roots)
        else:
            after[root] = part.last
    return found, {"root": index, "after": after}


def s3_fingerprint(client: Any, src: SourceFile) -> str:
    """The video fingerprint of an S3 object from two ranged GETs (the same value as for the file)."""
    bucket, key = split_s3_url(src.path)
    chunks = []
    for offset, length in fingerprint_ranges(src.size):
        if length == 0:
            chunks.append(b"")
            continue
        byte_range = f"bytes={offset}-{offset + length - 1}"
        chunks.append(client.get_object(Bucket=bucket, Key=key, Range=byte_range)["Body"].read())
    return fingerprint_of(src.size, chunks)


def s3_fingerprints(client: Any, sources: list[SourceFile], threads: int = 8) -> dict[str, str | Exception]:
    """Fingerprints of many objects, fetched concurrently (each is two round trips); a failure is
    returned in place of its fingerprint so one unreadable object does not stop the others."""

    def one(src: SourceFile) -> str | Exception:
        try:
            return s3_fingerprint(client, src)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max(1, threads)) as pool:
        return dict(zip((s.path for s in sources), pool.map(one, sources), strict=True))


@contextmanager
def local_copy(path: str, s3_client: Any, spool_dir: str) -> Iterator[str]:
    """`path` itself for a local file; for an ``s3://`` object a copy in a temp folder under `spool_dir`,
    deleted on exit (so a process holds at most one video's bytes there). Errors name `path`."""
    if not is_s3_url(path):
        yield path
        return
    bucket, key = split_s3_url(path)
    ext = os.path.splitext(key)[1].lower()
    folder = tempfile.mkdtemp(prefix="s3-", dir=spool_dir)
    try:
        local = os.path.join(folder, "video" + (ext if ext in VIDEO_EXTENSIONS else ""))
        try:
            s3_client.download_file(bucket, key, local)
        except s3_client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            reason = "object not found" if code in ("404", "NoSuchKey") else f"download failed ({code or exc})"
            raise VideoError(path, reason) from exc
        try:
            yield local
        except VideoError as exc:  # name the object, not the temp copy
            if exc.path != local:
                raise
            raise VideoError(path, exc.reason) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
