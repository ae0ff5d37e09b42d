"""`caption_backfill`: at a configurable cron, a run for every video whose assets are missing or stale.

Dynamic partitions rule out build_schedule_from_partitioned_job, so the schedule emits its own
RunRequests (batches of videos with exactly the assets to re-materialize: stale_runs.py).
"""

import dagster as dg

from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource
from codecvdc_assets.defs.stale_runs import stale_run_requests
from codecvdc_assets.runs.batching import DEFAULT_BATCH


def build_backfill_schedule(defs_provider, cron: str, batch_size: int = DEFAULT_BATCH):
    @dg.schedule(
        name="caption_backfill",
        cron_schedule=cron,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Backfill every video whose assets are missing or stale.",
    )
    def caption_backfill_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource):
        keys = context.instance.get_dynamic_partitions(videos_partitions.name)
        return stale_run_requests(context, defs_provider(), lake, keys, batch_size)

    return caption_backfill_schedule
