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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from codecvdc_assets.storage.atomic import atomic_write_bytes, spool_dir
from codecvdc_assets.storage.blobs import Blobs
from codecvdc_assets.video.ids import file_sha256, fingerprint, is_valid_video_id, stem_slug, video_id_for

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts"}
    | {".mts", ".flv", ".wmv", ".3gp", ".ogv", ".mxf"}
)


@dataclass(frozen=True)
class SourceFile:
    """A video file as a listing sees it: an absolute local path or an ``s3://`` URI."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Registration:
    video_id: str
    path: str
    size_bytes: int
    mtime: float
    added_at: float


class Registry:
    def __init__(self, home: str | os.PathLike[str], shared: Blobs | None = None) -> None:
        """`shared`: a store every host reaches (``registry/`` on the S3 profiles' root): each video's entry
        is copied there, so a worker host with its own $CODECVDC_HOME finds the file of a video that
        another host registered. The path and content indexes stay local (the registering host's)."""
        self.root = Path(home) / "registry"
        self.shared = shared

    def _spool(self) -> str:
        """Temp files go to this process's spool under the home (storage/atomic.py), not beside the entries."""
        return spool_dir(str(self.root.parent))

    def _video_file(self, video_id: str) -> Path:
        if not is_valid_video_id(video_id):
            raise ValueError(f"invalid video id {video_id!r}")
        return self.root / "videos" / f"{video_id}.json"

    def _path_file(self, path: str) -> Path:
        return self.root / "paths" / f"{hashlib.sha1(os.fsencode(path)).hexdigest()}.json"

    def known(self, path: str, size: int | None = None, mtime: float | None = None) -> str | None:
        """The id of an already-registered, unchanged file at `path`, else None (size and mtime: as
        listed, else from os.stat)."""
        entry = self._path_file(path)
        if not entry.exists():
            return None
        data = json.loads(entry.read_text())
        if size is None or mtime is None:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime
        if data["size_bytes"] == size and data["mtime"] == mtime:
            return data["video_id"]
        return None

    def register(self, path: str | os.PathLike[str]) -> tuple[Registration, bool]:
        """Register a local file; returns the registration and whether the video id is new."""
        abspath = os.path.abspath(os.fsdecode(path))
        if not os.path.isfile(abspath):
            raise FileNotFoundError(f"{abspath}: not a file")
        st = os.stat(abspath)
        return self.register_source(SourceFile(abspath, st.st_size, st.st_mtime), lambda: fingerprint(abspath))

    def register_source(self, src: SourceFile, fingerprint_of: Callable[[], str]) -> tuple[Registration, bool]:
        """Register a listed file or object; `fingerprint_of()` is only called for an unknown or changed one."""
        video_id = self.known(src.path, src.size, src.mtime) or self._by_content(
            src.path, video_id_for(src.path, fingerprint_of())
        )
        target = self._video_file(video_id)
        is_new = not target.exists()
        if is_new:
            reg = Registration(video_id, src.path, src.size, src.mtime, time.time())
            atomic_write_bytes(str(target), json.dumps(asdict(reg)).encode(), self._spool())
        else:
            reg = self.get(video_id)
        if self.shared is not None and (is_new or not self.shared.exists(self._shared_key(video_id))):
            self.shared.put(self._shared_key(video_id), json.dumps(asdict(reg)).encode())
        index = {"video_id": video_id, "size_bytes": src.size, "mtime": src.mtime}
        atomic_write_bytes(str(self._path_file(src.path)), json.dumps(index).encode(), self._spool())
        return reg, is_new

    def _by_content(self, path: str, video_id: str) -> str:
        """Reuse the id of an already-registered file with the same content (a copy or a rename).

        The fingerprint reads the size and the first and last MiB; when it matches a registered local
        file that is still there, the whole contents decide (sha256 of both: only for such look-alikes),
        and a file that differs gets an id from its full sha256 instead. (S3 objects: the fingerprint.)
        """
        video_id = self._claim(video_id)
        other = self.get(video_id).path if self._video_file(video_id).exists() else path
        if os.path.abspath(other) != path and os.path.isfile(other) and os.path.isfile(path):
            mine = file_sha256(path)
            if mine != file_sha256(other):
                return self._claim(f"{stem_slug(path)}-{mine[:10]}")
        return video_id

    def _claim(self, video_id: str) -> str:
        """The id already registered for this id's fingerprint, or this id (then recorded as such)."""
        marker = self.root / "content" / video_id.rsplit("-", 1)[1]
        if marker.exists():
            return marker.read_text()
        atomic_write_bytes(str(marker), video_id.encode(), self._spool())
        return video_id

    @staticmethod
    def _shared_key(video_id: str) -> str:
        return f"videos/{video_id}.json"

    def get(self, video_id: str) -> Registration:
        target = self._video_file(video_id)
        if target.exists():
            return Registration(**json.loads(target.read_text()))
        if self.shared is not None:
            try:
                return Registration(**json.loads(self.shared.get(self._shared_key(video_id))))
            except FileNotFoundError:
                pass
        raise KeyError(f"video {video_id!r} is not registered (use `codecvdc add PATH`)")

    def sizes(self) -> Mapping[str, int]:
        """File size per locally registered video, each read when first asked for (planning a run of 25
        videos in a 118K pool reads 25 entries, not the whole registry)."""
        return LocalSizes(self)

    def all(self) -> list[Registration]:
        folder = self.root / "videos"
        if not folder.exists():
            return []
        return sorted(
            (Registration(**json.loads(p.read_text())) for p in folder.glob("*.json")),
            key=lambda r: r.video_id,
        )


class LocalSizes(Mapping[str, int]):
    """`Registry.sizes()`: a read-only mapping over the local entries, loaded one entry at a time."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._read: dict[str, int] = {}

    def __getitem__(self, video_id: str) -> int:
        if video_id not in self._read:
            try:
                entry = self._registry._video_file(video_id).read_text()
            except (OSError, ValueError):  # not registered here (or not a video id)
                raise KeyError(video_id) from None
            self._read[video_id] = int(json.loads(entry)["size_bytes"])
        return self._read[video_id]

    def __iter__(self) -> Iterator[str]:
        folder = self._registry.root / "videos"
        return (p.stem for p in folder.glob("*.json")) if folder.exists() else iter(())

    def __len__(self) -> int:
        return sum(1 for _ in self)


class VideoRootError(ValueError):
    """A configured video root that is not scanned (it would let the sensor read outside the roots)."""


def find_videos(root: str | os.PathLike[str], confine: bool = True) -> list[str]:
    """Video files under `root` (or `root` itself). With `confine` (the sensor's roots), links that
    lead out of `root` are skipped and a root spelled with `..` is refused (VideoRootError): what a
    root covers must be plain from the configuration. `codecvdc add` follows both, as the user named
    the folder."""
    check_root(root, confine)
    return [real for _, real in walk_files(root, confine=confine) if real]


def check_root(root: str | os.PathLike[str], confine: bool = True) -> None:
    """Refuse a confined root spelled with `..` (VideoRootError)."""
    text = os.fsdecode(root)
    if confine and ".." in Path(text).parts:
        raise VideoRootError(f"video root {text!r} contains '..'; give the folder itself")


def walk_files(root: str | os.PathLike[str], after: str = "", confine: bool = True) -> Iterator[tuple[str, str | None]]:
    """Every file under `root` in sorted order as (key relative to the root, real path of a video or None),
    resuming strictly after the key `after`: a walk can be taken in bounded slices (the sensor's cursor).

    Folders are listed one at a time and sorted by name; hidden entries are skipped and links to folders
    are not followed. A video's real path is None when it is not a video, or with `confine` when its link
    leads out of `root`.
    """
    real_root = os.path.realpath(os.fsdecode(root))
    if os.path.isfile(real_root):
        if not after:
            yield os.path.basename(real_root), real_root
        return
    yield from _walk(real_root, real_root, "", after.split("/") if after else [], confine)


def _walk(root: str, folder: str, rel: str, after: list[str], confine: bool) -> Iterator[tuple[str, str | None]]:
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:  # vanished or unreadable folder: nothing to register there
        return
    first = after[0] if after else None
    for entry in entries:
        if first is not None and entry.name < first:
            continue
        rest = after[1:] if entry.name == first else []
        if entry.name == first and not rest:
            continue  # the cursor's own file: already seen
        key = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, entry.path, key, rest, confine)
            continue
        if os.path.splitext(entry.name)[1].lower() not in VIDEO_EXTENSIONS:
            yield key, None
            continue
        real = os.path.realpath(entry.path)
        inside = os.path.commonpath([real, root]) == root
        yield key, real if (inside or not confine) and os.path.isfile(real) else None
