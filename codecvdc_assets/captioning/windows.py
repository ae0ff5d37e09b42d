"""Sliding windows over a segment's frames (CodecCap 3.4): adjacent windows share boundary frames.

With `overlap` frames shared, each adjacent pair is assigned to exactly one window (the first that
contains it), so the shared boundary pair is captioned once, never twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int  # index of the first frame (within the segment)
    stop: int  # exclusive
    pairs: tuple[tuple[int, int], ...]  # the pairs this window must caption


def windows(n_frames: int, size: int = 8, overlap: int = 1) -> list[Window]:
    if size < 2:
        raise ValueError("window size must be >= 2")
    if not 1 <= overlap < size:
        raise ValueError("overlap must be in [1, size-1]")
    out: list[Window] = []
    done = 0  # pairs (i, i+1) with i < done are assigned
    start = 0
    while n_frames >= 2 and done < n_frames - 1:
        stop = min(start + size, n_frames)
        pairs = tuple((i, i + 1) for i in range(max(start, done), stop - 1))
        out.append(Window(start, stop, pairs))
        done = stop - 1
        if stop == n_frames:
            break
        start = stop - overlap
    return out
