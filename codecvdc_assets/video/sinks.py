"""Where sampled JPEGs go: the FrameSink protocol (storage.frame_store.FrameStore implements it) and a sink
that only hashes them (segmentation alone, `codecvdc segment`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol


class FrameSink(Protocol):
    """Where JPEGs go; `put` returns the content hash. Implemented by storage.frame_store.FrameStore."""

    def put(self, data: bytes) -> str: ...

    def put_file(self, path: str) -> str: ...


class HashOnlySink:
    """A frame sink that hashes JPEGs without storing them (segmentation alone)."""

    def put(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def put_file(self, path: str) -> str:
        return self.put(Path(path).read_bytes())
