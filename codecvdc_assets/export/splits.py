"""Splits and shards from the source file's content hash (sha256), never from names or ids.

Splits: the distinct contents are ordered by a position taken from their sha256 and cut into contiguous
runs whose sizes are the requested shares (largest remainder), so the same content always lands in the
same split (two names of one file: one split), every split is within one content of its share, and
adding videos moves only the few that sit at a cut point.

Shards: content -> bucket ``h mod n`` with ``n`` a power of two chosen from the data's size, so a
re-export whose size stays within a factor of two keeps every video in its shard: a change in one video
rewrites only the shards holding it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def position(sha256: str) -> int:
    """Where a content sits in the split order (the first 64 bits of its hash)."""
    return int(sha256[:16], 16)


def bucket_key(sha256: str) -> int:
    """The shard hash of a content: other bits than `position`, so shards mix every part of a split."""
    return int(sha256[16:32], 16)


def quotas(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split sizes summing to `n`, each within one of ``share * n`` (largest remainder, ties by order)."""
    exact = {name: share * n for name, share in shares.items()}
    sizes = {name: math.floor(v) for name, v in exact.items()}
    order = sorted(shares, key=lambda s: (-(exact[s] - sizes[s]), list(shares).index(s)))
    for name in order[: n - sum(sizes.values())]:
        sizes[name] += 1
    return sizes


def assign_splits(shas: Mapping[str, str], shares: Mapping[str, float]) -> dict[str, str]:
    """{video_id: split} for {video_id: sha256}; videos with the same content share a split."""
    contents = sorted(set(shas.values()), key=lambda s: (position(s), s))
    split_of: dict[str, str] = {}
    start = 0
    for name, size in quotas(len(contents), shares).items():
        for sha in contents[start : start + size]:
            split_of[sha] = name
        start += size
    return {video_id: split_of[sha] for video_id, sha in shas.items()}


def shard_count(estimated_bytes: float, target_bytes: float, n_videos: int) -> int:
    """The power of two that brings shards to at most `target_bytes` (at least one video per shard)."""
    n = 1
    while estimated_bytes / n > target_bytes and n < max(1, n_videos):
        n *= 2
    while n > 1 and n > n_videos:
        n //= 2
    return n


def shard_of(sha256: str, n_shards: int) -> int:
    return bucket_key(sha256) % n_shards
