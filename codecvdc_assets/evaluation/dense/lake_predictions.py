"""CodecCap's captions in the lake as dense-captioning predictions (`codecvdc evaluate dense --from-lake`).

| source | one prediction per | timestamp | sentence |
|---|---|---|---|
| codeccap:evidence | accepted evidence event | [t_start_s, t_end_s] | the event |
| codeccap:scene | segment | [start_s, end_s] | its scene narrative |
| per_second | per-second caption | [t_s, t_s + 1] | the caption |

Reference videos are matched to ours as VidCapQA matches bank videos: the same id, or our
`<slug>-<fingerprint>` made from a file named after the reference's id (`video/ids.py: made_from`).
For the single-timestamp protocol a prediction's time is the middle of its span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from codecvdc_assets.evaluation.dense.inputs import Event, Videos
from codecvdc_assets.video.ids import made_from

DENSE_SOURCES = {
    "codeccap:evidence": "evidence",
    "codeccap:scene": "scene_narratives",
    "per_second": "per_second_captions",
}

ReadTable = Callable[[str], pd.DataFrame]  # table name -> all its rows in the lake


def match_videos(reference_ids: Iterable[str], our_ids: Iterable[str]) -> dict[str, str]:
    """reference id -> our video id (the first in sorted order when several files were made from one id)."""
    ours = sorted(set(our_ids))
    out = {}
    for ref in reference_ids:
        found = next((v for v in ours if made_from(v, ref)), None)
        if found is not None:
            out[ref] = found
    return out


def _events(source: str, rows: pd.DataFrame) -> list[Event]:
    if source == "codeccap:evidence":
        rows = rows[rows["accepted"].astype(bool)].sort_values(["t_start_s", "event_idx"])
        return [Event(float(r.t_start_s), float(r.t_end_s), str(r.event)) for r in rows.itertuples()]
    if source == "codeccap:scene":
        rows = rows.sort_values("segment_idx")
        return [Event(float(r.start_s), float(r.end_s), " ".join(str(r.narrative).split())) for r in rows.itertuples()]
    rows = rows.sort_values("t_s")
    return [Event(float(r.t_s), float(r.t_s) + 1.0, str(r.caption)) for r in rows.itertuples()]


def lake_predictions(
    source: str, read_all: ReadTable, reference_ids: Iterable[str], single: bool = False
) -> tuple[Videos, dict[str, str]]:
    """(predictions keyed by reference id, reference id -> our id) for one source; a matched video without
    rows in the source's table has no predictions (it scores 0, as in the official scripts)."""
    if source not in DENSE_SOURCES:
        raise ValueError(f"unknown dense source {source!r}; known: {', '.join(DENSE_SOURCES)}")
    table = read_all(DENSE_SOURCES[source])
    videos = read_all("videos")
    ours = set(videos["video_id"]) | set(table["video_id"])  # registered videos, and any with captions
    matches = match_videos(reference_ids, ours)
    predictions: Videos = {}
    for ref, ours in matches.items():
        events = _events(source, table[table["video_id"] == ours])
        if single:
            events = [Event((e.start + e.end) / 2, (e.start + e.end) / 2, e.sentence) for e in events]
        predictions[ref] = events
    return predictions, matches
