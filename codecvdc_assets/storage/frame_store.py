"""Content-addressed JPEG store: ``frames/<sha[:2]>/<sha>.jpg``; identical frames are stored once."""

from __future__ import annotations

import hashlib
import os
import shutil

from .atomic import atomic_write, atomic_write_bytes


class FrameStore:
    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, sha256: str) -> str:
        return os.path.join(self.root, sha256[:2], f"{sha256}.jpg")

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if not os.path.exists(target):
            atomic_write_bytes(target, data)
        return sha

    def put_file(self, src: str) -> str:
        digest = hashlib.sha256()
        with open(src, "rb") as fh:
            digest.update(fh.read())
        sha = digest.hexdigest()
        target = self.path(sha)
        if not os.path.exists(target):
            atomic_write(target, lambda tmp: shutil.copyfile(src, tmp))
        return sha

    def read(self, sha256: str) -> bytes:
        with open(self.path(sha256), "rb") as fh:
            return fh.read()
