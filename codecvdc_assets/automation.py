"""Incremental re-materialization (DESIGN.md section 8): a sensor and a backfill schedule.

Choice: a sensor over our own status (orchestration.partition_status) rather than declarative
automation conditions, because it works the same from the CLI (`codecvdc run --stale`), needs no
per-asset condition tuning, and emits one run per video with exactly the stale assets and their
downstream ones. Dynamic partitions rule out build_schedule_from_partitioned_job, so both emit their
own RunRequests. The sensor walks the videos in bounded batches with a cursor.
"""

import dagster as dg

from .orchestration import stale_run_key, stale_selection
from .resources import LakeResource

CAPTION_ASSETS = ["anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]


def stale_run_requests(
    context, defs: dg.Definitions, lake: LakeResource, video_ids: list[str], only: list[str] | None = None
) -> list[dg.RunRequest]:
    within = [dg.AssetKey(name) for name in only] if only else None
    plan = stale_selection(defs, context.instance, lake.lake(), video_ids, within)
    return [
        dg.RunRequest(
            run_key=stale_run_key(video_id, keys, defs, context.instance),
            partition_key=video_id,
            asset_selection=keys,
            tags={"codecvdc/reason": "stale"},
        )
        for video_id, keys in plan.items()
    ]
