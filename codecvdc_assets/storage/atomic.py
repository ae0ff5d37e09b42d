"""Atomic file writes: write a temp file, fsync, then rename it over the target.

A temp file lives either beside its target (``.tmp-<random>.part``) or, for the blob stores (lake,
frames, call cache: storage/blobs.py), in its writer's own spool folder under the store's root,
``.spool/<pid>-<start ticks>-<host>/``. A process killed mid-write (SIGKILL, power loss) leaves its temp
files there, never among the lake's or the frame store's files, and `remove_dead_spools` removes the
spools of dead processes (one folder per process, so a clean-up lists a few folders, not every frame),
never a live writer's.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable

from codecvdc_assets.storage.processes import is_alive, start_ticks

SPOOL = ".spool"
_SPOOL_NAME = re.compile(r"^(?P<pid>\d+)-(?P<ticks>\d*)-(?P<host>.+)$")
_OWN_SPOOLS: set[str] = set()  # spool folders this process made (one makedirs each)


def spool_dir(root: str) -> str:
    """This process's spool folder under a store's root (made on first use)."""
    pid = os.getpid()
    path = os.path.join(root, SPOOL, f"{pid}-{start_ticks(pid) or ''}-{socket.gethostname()}")
    if path not in _OWN_SPOOLS:
        os.makedirs(path, exist_ok=True)
        if not _OWN_SPOOLS:
            atexit.register(_remove_own_spools)
        _OWN_SPOOLS.add(path)
    return path


def _remove_own_spools() -> None:
    """At a clean exit the spools are empty: remove them (a killed process's are removed by the next run)."""
    for path in _OWN_SPOOLS:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def atomic_write(path: str, write: Callable[[str], None], spool: str | None = None, durable: bool = True) -> None:
    """Call `write(tmp_path)` and move the result to `path` atomically (readers never see a part).

    The temp file goes to `spool` (a folder on the target's filesystem) or beside the target. `durable`:
    fsync before the rename (without it, a power loss may leave an empty file: for derived records only)."""
    folder = os.path.dirname(path) or "."
    for attempt in range(3):
        os.makedirs(spool or folder, exist_ok=True)
        try:
            # The temp name does not end in the target's extension, so lake globs (*.parquet) never match it.
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=spool or folder)
            break
        except FileNotFoundError:  # lake compaction removed the emptied folder in between: make it again
            if attempt == 2:
                raise
    os.close(fd)
    try:
        try:
            write(tmp)
            if durable:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO):
                # A write error names no file: name the target (the temp file is removed below).
                raise OSError(exc.errno, os.strerror(exc.errno), path) from exc
            raise
        for attempt in range(3):
            os.makedirs(folder, exist_ok=True)
            try:
                os.replace(tmp, path)
                break
            except FileNotFoundError:  # the target folder was removed (compaction) between the two calls
                if attempt == 2:
                    raise
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes, spool: str | None = None, durable: bool = True) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_write(path, _write, spool, durable)


def remove_dead_spools(root: str | os.PathLike[str]) -> list[str]:
    """Remove the spool folders (and the temp files in them) of dead processes under a store's root;
    returns the temp files removed."""
    top = os.path.join(root, SPOOL)
    removed: list[str] = []
    try:
        names = os.listdir(top)
    except FileNotFoundError:
        return removed
    for name in names:
        match = _SPOOL_NAME.match(name)
        if match is None or is_alive(match["host"], int(match["pid"]), match["ticks"]):
            continue
        folder = os.path.join(top, name)
        removed.extend(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith(".tmp-"))
        shutil.rmtree(folder, ignore_errors=True)
    return removed
