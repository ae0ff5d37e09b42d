"""What every per-video asset shell shares: the partition's file, failure recording, the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ..resources import LakeResource
from ..storage.catalog import ensure_catalog
from ..storage.failures import RecordedFailure, failures_recorded


@contextmanager
def per_video(context: dg.AssetExecutionContext, lake: LakeResource, assets: list[str]) -> Iterator[str]:
    """Yield the video's file path; record a failure (and fail the step cleanly) on any error."""
    video_id = context.partition_key
    try:
        with failures_recorded(lake.lake(), video_id, assets, context.run_id):
            yield lake.registry().get(video_id).path
    except RecordedFailure as exc:
        context.log.error(str(exc))
        raise dg.Failure(description=str(exc), metadata={"video_id": video_id}, allow_retries=False) from None


def refresh_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    try:
        ensure_catalog(lake.home)
    except Exception as exc:  # the lake is written; a busy catalog must not fail the asset
        context.log.warning(f"catalog not refreshed: {exc}")


def markdown_table(rows: list[dict], limit: int = 20) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    if len(rows) > limit:
        lines.append(f"\n... {len(rows) - limit} more")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
