"""Atomic file writes: write a temp file in the target folder, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)` and move the result to `path` atomically (readers never see a part)."""
    folder = os.path.dirname(path) or "."
    for attempt in range(3):
        os.makedirs(folder, exist_ok=True)
        try:
            # The temp name does not end in the target's extension, so lake globs (*.parquet) never match it.
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
            break
        except FileNotFoundError:  # lake compaction removed the emptied folder in between: make it again
            if attempt == 2:
                raise
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_write(path, _write)
