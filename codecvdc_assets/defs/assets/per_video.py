"""What every per-video asset shell shares: batches of videos per run, failure recording, metadata.

A run may cover several videos (a partition-key range; assets declare BackfillPolicy.multi_run), so
10,000 videos are hundreds of runs, not tens of thousands. Inside a run each video is processed on
its own: a bad video is recorded in `failures` and the others go on. When every video succeeds, Dagster
records one materialization per partition as usual; when some fail, the successful ones are recorded
explicitly (with their code version) before the step fails naming the failed videos, so finished work is
never lost and `status` stays exact per video.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster import DagsterExecutionInterruptedError

from codecvdc_assets.defs.resources import LakeResource
from codecvdc_assets.storage.catalog import ensure_catalog
from codecvdc_assets.storage.failures import RecordedFailure, failures_recorded

# work(video_id, path) -> {asset name: metadata}
Work = Callable[[str, str], dict[str, dict[str, Any]]]


def backfill_policy(batch_size: int) -> dg.BackfillPolicy:
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=max(1, batch_size))


def run_videos(
    context: dg.AssetExecutionContext, lake: LakeResource, assets: list[str], work: Work
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run `work` for every video of this run; returns {video_id: {asset: metadata}} when all succeed."""
    done: dict[str, dict[str, dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    keys = context.partition_keys
    try:
        for i, video_id in enumerate(keys, 1):
            try:
                with failures_recorded(lake.lake(), video_id, assets, context.run_id):
                    done[video_id] = work(video_id, lake.registry().get(video_id).path)
            except RecordedFailure as exc:
                failed[video_id] = str(exc)
                context.log.error(str(exc))
            # Every log line is an event-log write (a SQLite transaction locally): a few per run, not one per video.
            if len(keys) > 1 and (i * 4 // len(keys)) != ((i - 1) * 4 // len(keys)):
                context.log.info(f"{'/'.join(assets)}: {i}/{len(keys)} videos ({len(failed)} failed)")
    except DagsterExecutionInterruptedError:  # SIGINT: the videos finished so far stay materialized
        record_done(context, done)
        raise
    refresh_catalog(context, lake)
    if failed:
        record_done(context, done)
        first = next(iter(failed.values()))
        summary = first if len(keys) == 1 else f"{len(failed)} of {len(keys)} videos failed; first: {first}"
        raise dg.Failure(
            description=summary,
            allow_retries=False,
            metadata={"failed": dg.MetadataValue.json(failed), "succeeded": len(done)},
        )
    return done


def record_done(context: dg.AssetExecutionContext, done: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Materializations of the finished videos of a step that is about to fail (with their code version)."""
    versions = context.assets_def.code_versions_by_key
    for video_id, by_asset in done.items():
        for name, metadata in by_asset.items():
            key = dg.AssetKey(name)
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=video_id,
                    metadata=metadata,
                    tags={"dagster/code_version": versions.get(key) or ""},
                )
            )


def result_metadata(
    context: dg.AssetExecutionContext, done: dict[str, dict[str, dict[str, Any]]], asset: str
) -> dict[str, Any]:
    """One video: its metadata. Several: each partition's materialization gets its own video's metadata
    (partition-scoped, so a UI user opening one partition sees that video); the run-wide part is a count."""
    if len(done) == 1:
        return next(iter(done.values()))[asset]
    for video_id, by_asset in done.items():
        context.add_asset_metadata(by_asset[asset], asset_key=asset, partition_key=video_id)
    return {"videos_in_run": len(done)}


def refresh_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    try:
        ensure_catalog(lake.home, lake.lake())
    except Exception as exc:  # the lake is written; a busy catalog must not fail the asset
        context.log.warning(f"catalog not refreshed: {exc}")


def markdown_table(rows: list[dict], limit: int = 20) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
    if len(rows) > limit:
        lines.append(f"\n... {len(rows) - limit} more")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
