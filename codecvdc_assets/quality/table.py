"""The `caption_quality` table: one row per flag of a caption the pipeline wrote (video, asset, row, flag,
measured value, detail, attempt), from the caption tables of one video and the model client's outcomes.

`row` names the caption within its asset's table by its key columns ("segment_idx=0 pair_idx=3"; "" for
one-row-per-video assets), so exports and evidence can leave the flagged rows out (row_keys).
Flags that need a whole video (collapse) are computed here; duplicates across videos need the dataset
(dataset_duplicates).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from codecvdc_assets.models.client import AnswerOutcome
from codecvdc_assets.models.task_schemas import caption_texts
from codecvdc_assets.quality.duplicates import Caption, collapse_flags, duplicate_flags
from codecvdc_assets.quality.gates import caption_flags
from codecvdc_assets.quality.settings import QualitySettings


@dataclass(frozen=True)
class CaptionAsset:
    table: str
    task: str  # the model task (its prompt file is the instruction prompt_echo compares with)
    text: str  # the caption column
    keys: tuple[str, ...]  # the columns naming a row within one video
    collapse: bool = False  # one video's captions of this asset may collapse into one sentence
    duplicate: bool = False  # video-level captions: looked for across videos


CAPTION_ASSETS = {
    a.table: a
    for a in (
        CaptionAsset("anchors", "anchor", "caption", ("segment_idx",)),
        CaptionAsset("residuals", "residual", "delta_caption", ("segment_idx", "pair_idx"), collapse=True),
        CaptionAsset("scene_narratives", "scene", "narrative", ("segment_idx",)),
        CaptionAsset("video_narratives", "video", "narrative", (), duplicate=True),
        CaptionAsset("direct_captions", "direct", "caption", (), duplicate=True),
        CaptionAsset("per_second_captions", "per_second", "caption", ("second_idx",), collapse=True),
        CaptionAsset("longcap_frames", "longcap_frame", "caption", ("frame_idx",), collapse=True),
        CaptionAsset("longcap_clips", "longcap_clip", "caption", ("clip_idx",)),
        CaptionAsset("longcap_video", "longcap_video", "caption", (), duplicate=True),
    )
}
COLUMNS = ["video_id", "asset", "row", "flag", "value", "detail", "attempt"]


def row_key(asset: CaptionAsset, record: dict | pd.Series) -> str:
    return " ".join(f"{k}={int(record[k])}" for k in asset.keys)


def row_keys(frame: pd.DataFrame, asset: CaptionAsset) -> pd.Series:
    """The `row` of every row of an asset's table (a Series aligned with `frame`)."""
    if not asset.keys:
        return pd.Series("", index=frame.index, dtype=str)
    return frame.apply(lambda r: row_key(asset, r), axis=1).astype(str)


def _asks(outcomes: Iterable[AnswerOutcome], video_id: str, asset: CaptionAsset) -> dict[str, int]:
    """Caption text -> asks of the answer that wrote it (re-asked or still flagged answers only)."""
    asks: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.asset == asset.table and outcome.video_id == video_id:
            for text in caption_texts(outcome.task, outcome.data):
                asks[text.strip()] = max(asks.get(text.strip(), 1), outcome.asks)
    return asks


def quality_rows(
    video_id: str,
    asset: CaptionAsset,
    frame: pd.DataFrame,
    settings: QualitySettings,
    prompt: str | None = None,
    outcomes: Iterable[AnswerOutcome] = (),
) -> pd.DataFrame:
    """The caption_quality rows of one video's table of `asset` (no rows when nothing is flagged)."""
    if frame.empty:
        return empty_quality()
    keys = row_keys(frame, asset)
    texts = frame[asset.text].astype(str).tolist()
    asks = _asks(outcomes, video_id, asset)
    found: dict[int, list] = {i: caption_flags(t, settings, prompt) for i, t in enumerate(texts)}
    if asset.collapse:
        for i, flag in collapse_flags([Caption(i, video_id, t) for i, t in enumerate(texts)], settings).items():
            found[i].append(flag)
    rows = [
        [video_id, asset.table, keys.iloc[i], f.flag, float(f.value), f.detail, asks.get(texts[i].strip(), 1)]
        for i, flags in found.items()
        for f in flags
    ]
    return pd.DataFrame(rows, columns=COLUMNS) if rows else empty_quality()


def dataset_duplicates(asset: CaptionAsset, frame: pd.DataFrame, settings: QualitySettings) -> pd.DataFrame:
    """caption_quality rows of `duplicate` over every video's row of a video-level asset."""
    if frame.empty:
        return empty_quality()
    keys = row_keys(frame, asset)
    videos = frame["video_id"].astype(str).tolist()
    captions = [Caption(i, videos[i], t) for i, t in enumerate(frame[asset.text].astype(str))]
    rows = [
        [videos[i], asset.table, keys.iloc[i], f.flag, float(f.value), f.detail, 1]
        for i, f in sorted(duplicate_flags(captions, settings).items())
    ]
    return pd.DataFrame(rows, columns=COLUMNS) if rows else empty_quality()


def empty_quality() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": pd.Series(dtype=str),
            "asset": pd.Series(dtype=str),
            "row": pd.Series(dtype=str),
            "flag": pd.Series(dtype=str),
            "value": pd.Series(dtype=float),
            "detail": pd.Series(dtype=str),
            "attempt": pd.Series(dtype="int64"),
        }
    )


def flag_rates(quality: pd.DataFrame, rows_per_asset: dict[str, int]) -> dict[str, dict[str, float]]:
    """asset -> flag -> share of the asset's rows with that flag (and "any": rows with any flag)."""
    rates: dict[str, dict[str, float]] = {}
    for table, n in rows_per_asset.items():
        part = quality[quality["asset"] == table]
        per_flag = part.groupby("flag")["row"].nunique().to_dict() if len(part) else {}
        rates[table] = {flag: count / n for flag, count in per_flag.items()} if n else {}
        rates[table]["any"] = (part[["video_id", "row"]].drop_duplicates().shape[0] / n) if n else 0.0
    return rates
