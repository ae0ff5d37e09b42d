"""Which videos go into which shard of a split: hash buckets sized from the rows' estimated bytes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from codecvdc_assets.export.splits import shard_count, shard_of


@dataclass(frozen=True)
class Shard:
    split: str
    index: int
    count: int
    video_ids: list[str]


def shards(videos: pd.DataFrame, split: str, estimated_bytes: float, target_bytes: float) -> Iterator[Shard]:
    """The non-empty shards of one split (videos in id order inside each)."""
    part = videos[videos["split"] == split]
    n = shard_count(estimated_bytes, target_bytes, len(part))
    buckets = [shard_of(sha, n) for sha in part["sha256"]]
    grouped: dict[int, list[str]] = {}
    for video_id, bucket in zip(part["video_id"], buckets, strict=True):
        grouped.setdefault(bucket, []).append(video_id)
    for index in sorted(grouped):
        yield Shard(split, index, n, sorted(grouped[index]))
