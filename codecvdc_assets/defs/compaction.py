"""`lake_compaction`: a job (and its schedule, off by default) that folds per-video lake files into buckets.

A thin shell over storage/compaction.py; `codecvdc compact` does the same from the command line.
"""

import dagster as dg

from codecvdc_assets.defs.resources import LakeResource
from codecvdc_assets.storage.compaction import compact


@dg.op(description="Fold per-video Parquet files into each table's hash buckets (storage/compaction.py).")
def compact_lake(context: dg.OpExecutionContext, lake: LakeResource) -> dg.Output[int]:
    results = compact(lake.lake().root)
    for r in results:
        if r.files:
            context.log.info(
                f"{r.table}: {r.files} files into {r.buckets} buckets ({r.retired} retired) in {r.seconds:.1f} s"
            )
    rows = [{"table": r.table, "files": r.files, "retired": r.retired, "seconds": round(r.seconds, 2)} for r in results]
    return dg.Output(sum(r.files for r in results), metadata={"tables": dg.MetadataValue.json(rows)})


@dg.job(description="Compact the lake: queries then read a few files per table instead of one per video.")
def lake_compaction():
    compact_lake()


def build_compaction_schedule(cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="lake_compaction_schedule",
        job=lake_compaction,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Compact the lake (automation.compaction_cron).",
    )
