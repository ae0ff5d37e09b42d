"""`codecvdc status` at pool scale: status of N videos x every per-video asset from the event log.

Fills a fresh SQLite Dagster instance with one materialization per video and asset (runless events,
tagged with the current code version), then times `runs.status.partition_status` (a few queries
per asset) against the per-video reading it replaced (one query per video and asset).
N defaults to 300 videos (3,300 events: filling the SQLite event log is the slow part, ~70 ms per
event on a busy 2-core machine); BENCH_STATUS_VIDEOS changes it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import dagster as dg

from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.runs.selection import per_video_keys
from codecvdc_assets.runs.status import CODE_VERSION_TAG, partition_status
from codecvdc_assets.storage.lake import Lake

N_VIDEOS = int(os.environ.get("BENCH_STATUS_VIDEOS", "300"))
REPEATS = 3


def _per_video_reading(instance: dg.DagsterInstance, keys: list[dg.AssetKey], video_ids: list[str]) -> int:
    """The old way: the latest record of every (video, asset), one query each."""
    found = 0
    for video_id in video_ids:
        for key in keys:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[video_id]), limit=1
            ).records
            found += bool(records)
    return found


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-status-") as home:
        os.environ["CODECVDC_HOME"] = home
        defs = build_definitions(home=home)
        keys = per_video_keys(defs)
        graph = defs.resolve_asset_graph()
        video_ids = [f"v{i:06d}-0123456789" for i in range(N_VIDEOS)]
        os.makedirs(os.path.join(home, "dagster"), exist_ok=True)
        with dg.instance_for_test(temp_dir=os.path.join(home, "dagster")) as instance:
            instance.add_dynamic_partitions(videos_partitions.name, video_ids)
            started = time.perf_counter()
            for video_id in video_ids:
                for key in keys:
                    tags = {CODE_VERSION_TAG: graph.get(key).code_version or ""}
                    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=video_id, tags=tags))
            fill_s = time.perf_counter() - started
            lake = Lake(home)
            batched, naive = [], []
            for _ in range(REPEATS):  # interleaved, medians
                t0 = time.perf_counter()
                table = partition_status(defs, instance, lake, video_ids)
                batched.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                found = _per_video_reading(instance, keys, video_ids)
                naive.append(time.perf_counter() - t0)
            cells = [v for row in table.values() for v in row.values()]
    b, n = statistics.median(batched), statistics.median(naive)
    print(
        f"\n## status at scale: {N_VIDEOS} videos x {len(keys)} assets "
        f"({N_VIDEOS * len(keys)} events, filled in {fill_s:.0f} s)"
    )
    print("| reading | median s | per video ms | ratio to batched |")
    print("|---|---|---|---|")
    print(f"| partition_status (batched per asset) | {b:.2f} | {1000 * b / N_VIDEOS:.2f} | 1.00x |")
    print(f"| one query per video and asset | {n:.2f} | {1000 * n / N_VIDEOS:.2f} | {n / b:.2f}x |")
    # Assets below a dataset-level asset (the question bank, never materialized here) read "stale".
    print(
        f"cells {len(cells)}: fresh {cells.count('fresh')}, stale {cells.count('stale')}, missing "
        f"{cells.count('missing')}; records found the old way {found}"
    )
    ok = "missing" not in cells and found == len(cells) == N_VIDEOS * len(keys)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
