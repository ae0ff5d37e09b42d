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
