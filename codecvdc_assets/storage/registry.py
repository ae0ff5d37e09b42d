"""Which file each video id stands for: ``registry/videos/<id>.json`` plus a path index.

The path index (``registry/paths/<sha1 of the absolute path>.json``) lets the sensor skip known files
with one stat, re-fingerprinting a file only when its size or mtime changed. The content index
(``registry/content/<fingerprint>``) makes a copy or a renamed file the same video as the original.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..video.ids import file_sha256, is_valid_video_id, stem_slug, video_id_for
from .atomic import atomic_write_bytes

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts"}
    | {".mts", ".flv", ".wmv", ".3gp", ".ogv", ".mxf"}
)


@dataclass(frozen=True)
class Registration:
    video_id: str
    path: str
    size_bytes: int
    mtime: float
    added_at: float


class Registry:
    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.root = Path(home) / "registry"

    def _video_file(self, video_id: str) -> Path:
        if not is_valid_video_id(video_id):
            raise ValueError(f"invalid video id {video_id!r}")
        return self.root / "videos" / f"{video_id}.json"

    def _path_file(self, path: str) -> Path:
        return self.root / "paths" / f"{hashlib.sha1(os.fsencode(path)).hexdigest()}.json"

    def known(self, path: str) -> str | None:
        """The id of an already-registered, unchanged file at `path`, else None."""
        entry = self._path_file(path)
        if not entry.exists():
            return None
        data = json.loads(entry.read_text())
        st = os.stat(path)
        if data["size_bytes"] == st.st_size and data["mtime"] == st.st_mtime:
            return data["video_id"]
        return None

    def register(self, path: str | os.PathLike[str]) -> tuple[Registration, bool]:
        """Register a file; returns the registration and whether the video id is new."""
        abspath = os.path.abspath(os.fsdecode(path))
        if not os.path.isfile(abspath):
            raise FileNotFoundError(f"{abspath}: not a file")
        st = os.stat(abspath)
        video_id = self.known(abspath) or self._by_content(abspath)
        target = self._video_file(video_id)
        is_new = not target.exists()
        if is_new:
            reg = Registration(video_id, abspath, st.st_size, st.st_mtime, time.time())
            atomic_write_bytes(str(target), json.dumps(asdict(reg)).encode())
        else:
            reg = self.get(video_id)
        index = {"video_id": video_id, "size_bytes": st.st_size, "mtime": st.st_mtime}
        atomic_write_bytes(str(self._path_file(abspath)), json.dumps(index).encode())
        return reg, is_new

    def _by_content(self, path: str) -> str:
        """Reuse the id of an already-registered file with the same content (a copy or a rename).

        The fingerprint reads the size and the first and last MiB; when it matches a registered file
        that is still there, the whole contents decide (sha256 of both: only for such look-alikes), and
        a file that differs gets an id from its full sha256 instead.
        """
        video_id = self._claim(video_id_for(path))
        other = self.get(video_id).path if self._video_file(video_id).exists() else path
        if os.path.abspath(other) != path and os.path.isfile(other):
            mine = file_sha256(path)
            if mine != file_sha256(other):
                return self._claim(f"{stem_slug(path)}-{mine[:10]}")
        return video_id

    def _claim(self, video_id: str) -> str:
        """The id already registered for this id's fingerprint, or this id (then recorded as such)."""
        marker = self.root / "content" / video_id.rsplit("-", 1)[1]
        if marker.exists():
            return marker.read_text()
        atomic_write_bytes(str(marker), video_id.encode())
        return video_id

    def get(self, video_id: str) -> Registration:
        target = self._video_file(video_id)
        if not target.exists():
            raise KeyError(f"video {video_id!r} is not registered (use `codecvdc add PATH`)")
        return Registration(**json.loads(target.read_text()))

    def all(self) -> list[Registration]:
        folder = self.root / "videos"
        if not folder.exists():
            return []
        return sorted(
            (Registration(**json.loads(p.read_text())) for p in folder.glob("*.json")),
            key=lambda r: r.video_id,
        )


class VideoRootError(ValueError):
    """A configured video root that is not scanned (it would let the sensor read outside the roots)."""


def find_videos(root: str | os.PathLike[str], confine: bool = True) -> list[str]:
    """Video files under `root` (or `root` itself). With `confine` (the sensor's roots), links that
    lead out of `root` are skipped and a root spelled with `..` is refused (VideoRootError): what a
    root covers must be plain from the configuration. `codecvdc add` follows both, as the user named
    the folder."""
    text = os.fsdecode(root)
    if confine and ".." in Path(text).parts:
        raise VideoRootError(f"video root {text!r} contains '..'; give the folder itself")
    root = os.path.realpath(text)
    if os.path.isfile(root):
        return [root]
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = os.path.join(folder, name)
            if os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS or name.startswith("."):
                continue
            real = os.path.realpath(full)
            inside = os.path.commonpath([real, root]) == root
            if (inside or not confine) and os.path.isfile(real):
                found.append(real)
    return found
