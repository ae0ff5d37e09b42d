"""Run an iterator in a background thread, a bounded number of items ahead of the consumer.

Used to decode video ahead of analysis: PyAV releases the GIL while FFmpeg decodes, so decoding and
our per-frame work overlap on two cores. The queue bound keeps memory at `ahead` decoded frames.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


@functools.cache
def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (M_ARENA_MAX). Frames allocated in the decode thread and freed in the
    consumer otherwise spread over per-thread arenas that glibc rarely returns: under CPU contention a
    10-minute 1080p scan peaked at 772 MB against 245 MB with the cap (bench/memory.py)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to cap
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8: M_ARENA_MAX in glibc's malloc.h


def prefetch(items: Iterable[T], ahead: int = 4) -> Iterator[T]:
    limit_malloc_arenas()
    slots: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        """Block until there is room or the consumer stopped; False when it stopped."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            failure.append(exc)
        finally:
            put(_DONE)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        worker.join(timeout=5)
