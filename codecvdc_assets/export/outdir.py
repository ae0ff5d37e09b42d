"""The output folder: refusing folders this tool did not write, its manifest, and files replaced only when
their bytes change.

``OUT/.codecvdc-export.json`` marks a folder as an export of this tool and lists, per format, every file
it wrote with its sha256. An export goes into a new or empty folder, or one holding that manifest;
anything else is refused before a byte is written. Each file is written to a temp file, hashed, and moved
over the old one only if the hash differs, so an unchanged shard keeps its bytes and its mtime; files of
a format that the new export no longer produces are removed (files the manifest does not list never are).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from codecvdc_assets.export.options import ExportError

MANIFEST = ".codecvdc-export.json"
TOOL = "codecvdc export"
_TMP = ".codecvdc-tmp"
_LOCK = ".codecvdc-export.lock"


def check_out(out: Path) -> dict[str, Any]:
    """The previous manifest of `out` ({} for a new or empty folder); raises ExportError otherwise."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: is a file, not a folder")
    if not out.exists():
        if out.parent.exists() and not out.parent.is_dir():
            raise ExportError(f"{out}: {out.parent} is not a folder")
        return {}
    entries = sorted(p.name for p in out.iterdir() if p.name not in (_TMP, _LOCK))
    if not entries:
        return {}
    manifest = out / MANIFEST
    if not manifest.is_file():
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise ExportError(f"{out}: not empty and not a previous export of {TOOL} (holds {shown}); use a new folder")
    try:
        data = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{manifest}: unreadable export manifest ({exc})") from exc
    if not isinstance(data, dict) or data.get("tool") != TOOL or not isinstance(data.get("formats"), dict):
        raise ExportError(f"{manifest}: not a manifest of {TOOL}")
    return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FormatFiles:
    """The files one format writes into OUT during one export."""

    out: Path
    fmt: str
    previous: dict[str, str]  # relative path -> sha256, from the old manifest
    files: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    @contextmanager
    def write(self, rel: str, mode: str = "wb") -> Iterator[IO]:
        """Write OUT/rel through a temp file; it replaces the old file only if the bytes differ."""
        tmp = self.temp_path(rel)
        try:
            with open(tmp, mode) as fh:
                yield fh
            self.commit(rel, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def temp_dir(self) -> Path:
        """Scratch space inside OUT (same file system; removed when the export ends)."""
        folder = self.out / _TMP
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def temp_path(self, rel: str) -> Path:
        """A temp file for writers that want a path (pyarrow); pass it to `commit` when done."""
        tmp_dir = self.out / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, suffix=Path(rel).suffix)
        os.close(fd)
        return Path(tmp)

    def commit(self, rel: str, tmp: Path) -> None:
        target = self.out / rel
        sha = file_sha256(tmp)
        same = target.is_file() and self.previous.get(rel) == sha and file_sha256(target) == sha
        if same:
            tmp.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            self.changed.append(rel)
        self.files[rel] = sha

    def copy_file(self, rel: str, data: bytes) -> None:
        """Content-addressed copies (frames): written once, never rewritten."""
        target = self.out / rel
        if not target.is_file():
            with self.write(rel) as fh:
                fh.write(data)
        else:
            self.files[rel] = self.previous.get(rel) or file_sha256(target)

    def remove_stale(self) -> list[str]:
        """Delete the files the previous export of this format wrote and this one did not."""
        gone = sorted(set(self.previous) - set(self.files))
        for rel in gone:
            path = self.out / rel
            if path.is_file():
                path.unlink()
            _prune_empty(path.parent, self.out)
        return gone


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """One export at a time into a folder."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / _LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ExportError(f"{out}: another export is writing into this folder") from exc
        try:
            yield
        finally:
            shutil.rmtree(out / _TMP, ignore_errors=True)
    (out / _LOCK).unlink(missing_ok=True)


def write_manifest(out: Path, previous: dict[str, Any], done: dict[str, dict[str, Any]]) -> None:
    """The manifest: the formats written now replace their old entries, the others stay."""
    formats = dict(previous.get("formats") or {})
    formats.update(done)
    data = {"tool": TOOL, "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "formats": formats}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, out / MANIFEST)
