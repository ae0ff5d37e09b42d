"""Content-addressed JPEG store: ``frames/<sha[:2]>/<sha>.jpg``; identical frames are stored once."""

from __future__ import annotations

import hashlib
import os

from codecvdc_assets.storage.blobs import Blobs, LocalBlobs


class FrameStore:
    def __init__(self, root: str | os.PathLike[str] | Blobs) -> None:
        """`root` is the frames folder, or a blob store rooted there (``.../frames`` on S3)."""
        self.blobs: Blobs = LocalBlobs(root) if isinstance(root, str | os.PathLike) else root
        self.root = self.blobs.uri()

    @staticmethod
    def key(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}.jpg"

    def path(self, sha256: str) -> str:
        """A local path, or an ``s3://`` URI."""
        return self.blobs.uri(self.key(sha256))

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.blobs.exists(self.key(sha)):
            self.blobs.put(self.key(sha), data)
        return sha

    def put_file(self, src: str) -> str:
        with open(src, "rb") as fh:
            return self.put(fh.read())

    def read(self, sha256: str) -> bytes:
        return self.blobs.get(self.key(sha256))
