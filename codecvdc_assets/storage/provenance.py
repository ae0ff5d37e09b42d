"""Which process produced a record: ``host:pid``, stored in every `model_calls` row and every lake file.

On the celery profile a step runs in a worker's pool process on some host; the identity of that process
says where the work ran (a Celery worker's prefork children each have their own pid). Computed on every
call, not cached: a forked child must not report its parent.
"""

from __future__ import annotations

import os
import socket

PARQUET_KEY = b"codecvdc.worker"  # the Parquet key-value metadata entry of a lake file


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def file_worker(metadata: dict[bytes, bytes] | None) -> str | None:
    """The worker recorded in a Parquet file's key-value metadata (pyarrow schema metadata)."""
    value = (metadata or {}).get(PARQUET_KEY)
    return value.decode() if value is not None else None
