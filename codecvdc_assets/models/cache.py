"""The model-call cache: one JSON file per call, ``cache/<key[:2]>/<key>.json``, written atomically.

The entries live in a folder or, with the S3 profile, under ``s3://bucket/prefix/cache/model_calls/``
(storage/blobs.py; ``put_object`` is atomic, a missing object is a miss).

The key is a sha256 over (backend, model, messages with image hashes instead of bytes, schema,
sampling), so a re-run with unchanged inputs makes zero calls. A file per entry needs no lock: writers
of different keys never touch the same file, two writers of one key write the same content, and a crash
mid-write leaves only a temp file that is never read. A lookup is one open(): well under 1 ms at 100K+
entries (see `make bench`).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from codecvdc_assets.models.messages import canonical
from codecvdc_assets.storage.blobs import Blobs, LocalBlobs


def cache_key(backend: str, model: str, messages: list[dict], schema: dict, sampling: dict[str, Any]) -> str:
    blob = json.dumps(
        {
            "backend": backend,
            "model": model,
            "messages": canonical(messages),
            "schema": schema,
            "sampling": sampling,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    def __init__(self, root: str | os.PathLike[str] | Blobs) -> None:
        """`root` is the cache folder, or a blob store rooted there."""
        self.blobs: Blobs = LocalBlobs(root) if isinstance(root, str | os.PathLike) else root
        self.root = self.blobs.uri()

    @staticmethod
    def key_path(key: str) -> str:
        return f"{key[:2]}/{key}.json"

    def path(self, key: str) -> str:
        return self.blobs.uri(self.key_path(key))

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.blobs.get(self.key_path(key)))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):  # unreadable entry: treat as a miss, it will be rewritten
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.blobs.put(self.key_path(key), json.dumps(value, separators=(",", ":")).encode())
