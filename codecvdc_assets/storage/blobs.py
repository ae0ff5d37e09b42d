"""Where the lake, the frame store and the model-call cache keep their bytes: a folder or an S3 prefix.

Both stores hold the same keys (``lake/<table>/video_id=<id>/data.parquet``, ``frames/<sha[:2]>/<sha>.jpg``,
``cache/model_calls/<key[:2]>/<key>.json``) under their root: ``$CODECVDC_HOME`` or ``s3://bucket/prefix``.
Writes are atomic in both: a local write goes to a temp file that is renamed over the target, and an S3
``put_object`` is atomic by itself (readers never see a partial object).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Protocol

from codecvdc_assets.storage.atomic import SPOOL, atomic_write_bytes, spool_dir


class Blobs(Protocol):
    """Keys are ``/``-separated paths relative to the store's root."""

    def uri(self, key: str = "") -> str: ...
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...  # FileNotFoundError when missing
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...  # no error when missing
    def list(self, prefix: str) -> Iterator[str]: ...  # keys under `prefix/`, sorted
    def child(self, prefix: str) -> Blobs: ...


LISTING_TTL_S = 5.0


def is_s3_url(url: str) -> bool:
    return url.startswith("s3://")


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> (``bucket``, ``a/b``)."""
    if not is_s3_url(url):
        raise ValueError(f"{url}: not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{url}: no bucket")
    return bucket, prefix.strip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class LocalBlobs:
    def __init__(self, root: str | os.PathLike[str], spool_root: str | None = None) -> None:
        """`spool_root`: where the writers' temp files go (default `root`; children share their parent's)."""
        self.root = os.fspath(root)
        self.spool_root = spool_root or self.root

    def __repr__(self) -> str:
        return f"LocalBlobs({self.root!r})"

    def uri(self, key: str = "") -> str:
        return os.path.join(self.root, *key.split("/")) if key else self.root

    def put(self, key: str, data: bytes) -> None:
        # Temp files go to this process's spool under the root (storage/atomic.py), not beside the target.
        atomic_write_bytes(self.uri(key), data, spool_dir(self.spool_root))

    def get(self, key: str) -> bytes:
        with open(self.uri(key), "rb") as fh:
            return fh.read()

    def exists(self, key: str) -> bool:
        return os.path.exists(self.uri(key))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.uri(key))

    def list(self, prefix: str) -> Iterator[str]:
        top = self.uri(prefix)
        found = []
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            if rel == SPOOL or rel.startswith(SPOOL + "/"):
                dirs.clear()
                continue
            found.extend(_join(rel, name) for name in files if not name.startswith(".tmp-"))
        yield from sorted(found)

    def child(self, prefix: str) -> LocalBlobs:
        return LocalBlobs(self.uri(prefix), self.spool_root)


class S3Blobs:
    """Objects under ``s3://bucket/prefix`` through a boto3 S3 client (dagster-aws ``S3Resource.get_client()``).

    `fs_options` are the s3fs options (endpoint, region, AWS profile) that reach the same store; DuckDB
    reads the lake through them (storage/catalog.py).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", fs_options: dict[str, Any] | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.fs_options = dict(fs_options or {})

    def __repr__(self) -> str:
        return f"S3Blobs({self.uri()!r})"

    def _key(self, key: str) -> str:
        return _join(self.prefix, key)

    def uri(self, key: str = "") -> str:
        return f"s3://{_join(self.bucket, self.prefix, key)}"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(self.uri(key)) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> Iterator[str]:
        start = self._key(prefix) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def child(self, prefix: str) -> S3Blobs:
        return S3Blobs(self.client, self.bucket, self._key(prefix), self.fs_options)

    def filesystem(self) -> Any:
        """An fsspec (s3fs) filesystem on the same endpoint and credentials. Its listing cache lets a
        query's per-file lookups reuse the glob's one LIST instead of a HEAD (and a LIST) per file;
        entries expire after LISTING_TTL_S, and storage/catalog.py clears them for each new connection."""
        import s3fs

        return s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=True, listings_expiry_time=LISTING_TTL_S, **self.fs_options
        )
