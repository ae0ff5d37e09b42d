"""How videos are grouped into runs: contiguous key ranges of up to a batch size, more for small files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

DEFAULT_BATCH = 25  # videos per run at most; profiles set automation.batch_size


SMALL_BATCH_FACTOR = 4  # small files: a run takes at most this many times batch_size videos

RANGE_START = "dagster/asset_partition_range_start"

RANGE_END = "dagster/asset_partition_range_end"


def batch_plan(
    plan: dict[str, list[dg.AssetKey]],
    order: list[str],
    batch_size: int,
    isolate: set[str] | None = None,
    sizes: Mapping[str, int] | None = None,
    batch_bytes: int = 0,
) -> list[tuple[list[str], list[dg.AssetKey]]]:
    """Group videos into runs: same asset selection, contiguous in the partition order (a run covers a
    key range), at most `batch_size` each; videos in `isolate` (known failures) get runs of their own.

    With `batch_bytes`, a run of small files (`sizes`: bytes per video; unknown: not small) takes more
    videos while its files total at most `batch_bytes`, up to SMALL_BATCH_FACTOR x `batch_size`: every
    run costs Dagster a fixed amount (its run database, plan, steps), which dominates for tiny clips."""
    isolate = isolate or set()
    sizes = {} if sizes is None else sizes  # (a lazy mapping: no len())
    position = {key: i for i, key in enumerate(order)}
    batches: list[tuple[list[str], list[dg.AssetKey]]] = []
    total = 0  # bytes of the last batch's files
    for video_id in sorted(plan, key=lambda v: position.get(v, len(position))):
        keys = plan[video_id]
        size = sizes.get(video_id, batch_bytes + 1)
        if batches:
            videos, batch_keys = batches[-1]
            contiguous = video_id in position and position[video_id] == position.get(videos[-1], -2) + 1
            alone = video_id in isolate or videos[-1] in isolate
            room = len(videos) < batch_size or (
                len(videos) < SMALL_BATCH_FACTOR * batch_size and total + size <= batch_bytes
            )
            if batch_keys == keys and room and contiguous and not alone:
                videos.append(video_id)
                total += size
                continue
        batches.append(([video_id], keys))
        total = size
    return batches


@dataclass(frozen=True)
class Batching:
    """How `codecvdc run` groups videos into runs (the arguments batch_plan takes besides the plan)."""

    batch_size: int
    sizes: Mapping[str, int] = field(default_factory=dict)  # bytes per video, for runs of small files
    batch_bytes: int = 0  # 0: runs of batch_size videos, whatever their size


def run_batching(registry, automation: Mapping[str, Any], batch_size: int | None = None) -> Batching:
    """`batch_size` (an explicit `--batch-size`) as given; else the profile's automation.batch_size (25) and,
    with automation.batch_mib, bigger runs of small files sized from the local registry (a shared
    registry's videos: unknown, so not small), read per planned video, not the whole registry."""
    if batch_size:
        return Batching(batch_size)
    size = int(automation.get("batch_size", DEFAULT_BATCH))
    batch_bytes = int(float(automation.get("batch_mib") or 0) * 2**20)
    if batch_bytes <= 0:
        return Batching(size)
    return Batching(size, registry.sizes(), batch_bytes)


def range_tags(video_ids: list[str]) -> dict[str, str]:
    return {} if len(video_ids) <= 1 else {RANGE_START: video_ids[0], RANGE_END: video_ids[-1]}
