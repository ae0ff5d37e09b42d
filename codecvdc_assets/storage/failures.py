"""Per-video failure records: ``lake/failures/video_id=<id>/<asset>.parquet``, one row each.

A failure is written when an asset fails for a video and removed when that asset next succeeds for
it, so the `failures` view lists what is failing now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.video.errors import VideoError


def _name(asset: str) -> str:
    return f"{asset}.parquet"


def record_failure(lake: Lake, video_id: str, asset: str, exc: BaseException, run_id: str | None) -> str:
    message = str(exc) if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}"
    _write(lake, video_id, asset, type(exc).__name__, message, run_id)
    return message


def _write(lake: Lake, video_id: str, asset: str, error_type: str, message: str, run_id: str | None) -> None:
    row = {
        "video_id": video_id,
        "asset": asset,
        "error_type": error_type,
        "message": message,
        "run_id": run_id,
        "failed_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }
    lake.write("failures", video_id, pd.DataFrame([row]), name=_name(asset))


def clear_failure(lake: Lake, video_id: str, asset: str) -> None:
    lake.remove("failures", video_id, name=_name(asset))


def current_failure(lake: Lake, video_id: str, asset: str) -> str | None:
    if not lake.exists("failures", video_id, name=_name(asset)):
        return None
    return str(lake.read("failures", video_id, name=_name(asset))["message"].iloc[0])


def current_failures(lake: Lake, video_id: str) -> list[str]:
    """The assets whose latest attempt failed for this video."""
    return [name.removesuffix(".parquet") for name in lake.names("failures", video_id)]


def failing_assets(lake: Lake) -> dict[tuple[str, str], str]:
    """{(video_id, asset): error_type} of every failure recorded now: one read of the failures table."""
    table = lake.read_all("failures")
    if not len(table):
        return {}
    return dict(zip(zip(table["video_id"], table["asset"], strict=True), table["error_type"], strict=True))


def record_damage(lake: Lake, video_id: str, asset: str, message: str) -> None:
    """Mark a partition whose lake file is damaged or missing (storage/integrity.py): `status` says
    ``damaged`` and `run --stale` re-materializes it; its next success clears the mark like a failure."""
    from codecvdc_assets.storage.integrity import DAMAGE_ERROR

    _write(lake, video_id, asset, DAMAGE_ERROR, message, None)


class RecordedFailure(Exception):
    """Raised after a failure was recorded; carries the one-line message."""


@contextmanager
def failures_recorded(lake: Lake, video_id: str, assets: list[str], run_id: str | None = None) -> Iterator[None]:
    """Record any exception as a failure of each of `assets` for `video_id`, then re-raise it; on success clear
    the video's earlier failures (a lake that fails while clearing them fails the video too, in one line)."""
    try:
        yield
        for asset in assets:
            clear_failure(lake, video_id, asset)
    except Exception as exc:
        message = ""
        for asset in assets:
            try:
                message = record_failure(lake, video_id, asset, exc, run_id)
            except Exception as unrecorded:  # the lake itself is unreachable or full: say so, go on
                first = str(exc) if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}"
                message = f"{first} (not recorded in failures: {type(unrecorded).__name__}: {unrecorded})"
                break
        raise RecordedFailure(message) from exc


def current_damage(lake: Lake, video_id: str) -> dict[str, float]:
    """{asset: epoch seconds of the mark} of the damage marks in one partition folder."""
    from codecvdc_assets.storage.integrity import DAMAGE_ERROR

    out = {}
    for asset in current_failures(lake, video_id):
        row = lake.read("failures", video_id, name=_name(asset)).iloc[0]
        if row["error_type"] == DAMAGE_ERROR:
            out[asset] = pd.Timestamp(row["failed_at"]).tz_localize("UTC").timestamp()
    return out
