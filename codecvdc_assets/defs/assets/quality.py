"""Caption quality in the caption assets: each asset records its video's flags in `caption_quality`
(one file per video and asset: `caption_quality/video_id=<id>/<asset>.parquet`) and counts them in its
metadata; evidence reads the residuals' flags. The gates are Dagster-free (codecvdc_assets/quality)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.models.client import AnswerOutcome
from codecvdc_assets.quality.settings import FLAGS, QualitySettings
from codecvdc_assets.quality.table import CAPTION_ASSETS, quality_rows
from codecvdc_assets.storage.lake import Lake

TABLE = "caption_quality"


def file_name(asset: str) -> str:
    return f"{asset}.parquet"


def record_quality(
    store: Lake,
    video_id: str,
    asset: str,
    frame: pd.DataFrame,
    settings: QualitySettings,
    outcomes: Iterable[AnswerOutcome] = (),
) -> dict[str, int]:
    """Write the video's caption_quality rows of `asset` (an empty file when nothing is flagged: it
    replaces the flags of an earlier materialization) and return the counts for the asset's metadata."""
    spec = CAPTION_ASSETS[asset]
    rows = quality_rows(video_id, spec, frame, settings, load_prompt(spec.task), outcomes)
    store.write(TABLE, video_id, rows, name=file_name(asset))
    return quality_metadata(rows, len(frame))


def quality_metadata(rows: pd.DataFrame, total: int) -> dict[str, int]:
    flagged = int(rows["row"].nunique()) if len(rows) else 0
    per_flag = rows.groupby("flag")["row"].nunique().to_dict() if len(rows) else {}
    return {
        "quality_flagged": flagged,
        "quality_reasked": int((rows["attempt"] > 1).sum()) if len(rows) else 0,
        **{f"quality_{flag}": int(per_flag[flag]) for flag in FLAGS if flag in per_flag},
    }


def read_quality(store: Lake, video_id: str, asset: str) -> pd.DataFrame:
    """The video's caption_quality rows of `asset` (none when the asset never recorded any)."""
    if not store.exists(TABLE, video_id, file_name(asset)):
        return pd.DataFrame(columns=["video_id", "asset", "row", "flag", "value", "detail", "attempt"])
    return store.read(TABLE, video_id, file_name(asset))


def flagged_residuals(store: Lake, video_id: str) -> dict[tuple[int, int], str]:
    """(segment_idx, pair_idx) -> "flag, flag" of the video's flagged residuals (evidence rule 5)."""
    rows = read_quality(store, video_id, "residuals")
    out: dict[tuple[int, int], list[str]] = {}
    for r in rows.itertuples():
        keys = dict(part.split("=") for part in str(r.row).split())
        out.setdefault((int(keys["segment_idx"]), int(keys["pair_idx"])), []).append(str(r.flag))
    return {k: ", ".join(v) for k, v in out.items()}
