"""Stable, sanitized video ids.

A video id is ``<slug>-<fingerprint>``: the slug is the file stem reduced to ``[a-z0-9_-]`` (at most
40 characters) so it is safe as a Dagster partition key and a lake path component; the fingerprint is
the first 10 hex digits of a sha256 over the file size and its first and last MiB. The same file added
twice (or through another path) gets the same id; two different files whose names sanitize alike get
different ids. Reading 2 MiB keeps registration fast on pools of 100K multi-GB files.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

_CHUNK = 1 << 20
_SLUG_MAX = 40
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}-[0-9a-f]{10}")


def slugify(name: str) -> str:
    """Reduce any (possibly hostile) file name to a short, path- and key-safe slug."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9_-]+", "-", text).strip("-_")
    return text[:_SLUG_MAX].rstrip("-_") or "video"


def fingerprint_ranges(size: int) -> list[tuple[int, int]]:
    """The (offset, length) byte ranges the fingerprint reads: the first MiB, and the last when beyond it."""
    return [(0, min(size, _CHUNK))] + ([(size - _CHUNK, _CHUNK)] if size > 2 * _CHUNK else [])


def fingerprint_of(size: int, chunks: list[bytes]) -> str:
    """The fingerprint from the size and the bytes of `fingerprint_ranges(size)` (files and S3 objects)."""
    digest = hashlib.sha256(str(size).encode())
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def fingerprint(path: str | os.PathLike[str]) -> str:
    """sha256 over the size and the first and last MiB of a file (hex)."""
    size = os.path.getsize(path)
    chunks = []
    with open(path, "rb") as fh:
        for offset, length in fingerprint_ranges(size):
            fh.seek(offset)
            chunks.append(fh.read(length))
    return fingerprint_of(size, chunks)


def stem_slug(path: str | os.PathLike[str]) -> str:
    return slugify(os.path.splitext(os.path.basename(os.fsdecode(path)))[0])


def video_id_for(path: str | os.PathLike[str], fingerprint_hex: str | None = None) -> str:
    """The id of the file at `path` (or of an object named `path` whose fingerprint is given)."""
    return f"{stem_slug(path)}-{(fingerprint_hex or fingerprint(path))[:10]}"


def made_from(video_id: str, source_id: str) -> bool:
    """Whether our video id is the source's id, or was made from a file named after it (same slug)."""
    return video_id == source_id or video_id.rsplit("-", 1)[0] == slugify(str(source_id))


def is_valid_video_id(video_id: str) -> bool:
    return bool(_ID_RE.fullmatch(video_id))  # fullmatch: `$` would accept a trailing newline


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK * 4):
            digest.update(block)
    return digest.hexdigest()
