"""Caption sources for VidCapQA: the text a text-only model reads, per captioning strategy and level.

| source | text |
|---|---|
| codeccap:stream | anchors + the residuals that report a change, in time order |
| codeccap:scene | the scene narratives |
| codeccap:video | the whole-video narrative |
| codeccap:all | all three levels together |
| direct:caption | the holistic caption of the direct-captioning baseline |
| per_second:caption | the per-second captions of the per-second baseline |
| longcaption:video | LongCaption-Agent's merged video-level caption |
| NAME:caption | an outside captioner's caption (profile `vidcapqa.external_captions`, evaluation/external.py) |
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

# Which caption assets' tokens each source spent (for tokens per video minute).
SOURCE_ASSETS = {
    "codeccap:stream": ["anchors", "residuals"],
    "codeccap:scene": ["anchors", "residuals", "scene_narratives"],
    "codeccap:video": ["anchors", "residuals", "scene_narratives", "video_narratives"],
    "codeccap:all": ["anchors", "residuals", "scene_narratives", "video_narratives"],
    "direct:caption": ["direct_captions"],
    "per_second:caption": ["per_second_captions"],
    "longcaption:video": ["longcap_frames", "longcap_clips", "longcap_video"],
}

Reader = Callable[[str], pd.DataFrame | None]  # table name -> this video's rows, or None when missing


def caption_sources(read: Reader) -> dict[str, str]:
    out: dict[str, str] = {}
    anchors, residuals = read("anchors"), read("residuals")
    segments = read("segments")
    if anchors is not None and residuals is not None and segments is not None:
        parts = []
        for seg in segments.sort_values("segment_idx").itertuples():
            anchor = anchors[anchors["segment_idx"] == seg.segment_idx]
            parts.append(
                f"Scene {seg.segment_idx + 1} ({seg.start_s:.0f}-{seg.end_s:.0f} s). "
                + (anchor.iloc[0]["caption"] if len(anchor) else "")
            )
            seg_res = residuals[(residuals["segment_idx"] == seg.segment_idx) & (residuals["change_type"] != "none")]
            parts += [f"At {r.t_s:.0f} s: {r.delta_caption}" for r in seg_res.sort_values("t_s").itertuples()]
        out["codeccap:stream"] = " ".join(parts)
    scenes = read("scene_narratives")
    if scenes is not None:
        out["codeccap:scene"] = " ".join(
            f"Scene {r.segment_idx + 1}: {r.narrative}" for r in scenes.sort_values("segment_idx").itertuples()
        )
    video = read("video_narratives")
    if video is not None and len(video):
        out["codeccap:video"] = str(video.iloc[0]["narrative"])
    levels = [out.get(k) for k in ("codeccap:stream", "codeccap:scene", "codeccap:video")]
    if all(levels):
        out["codeccap:all"] = "\n\n".join(levels)  # type: ignore[arg-type]
    direct = read("direct_captions")
    if direct is not None and len(direct):
        out["direct:caption"] = str(direct.iloc[0]["caption"])
    per_second = read("per_second_captions")
    if per_second is not None and len(per_second):
        out["per_second:caption"] = " ".join(
            f"At {r.t_s:.0f} s: {r.caption}" for r in per_second.sort_values("t_s").itertuples()
        )
    long = read("longcap_video")
    if long is not None and len(long):
        out["longcaption:video"] = str(long.iloc[0]["caption"])
    return out


def match_questions(bank: pd.DataFrame, video_id: str) -> pd.DataFrame:
    """The bank's questions about this video: its id, or the source's id that our id was made from
    (`<slug>-<fingerprint>`: a file named after the source's id)."""
    from codecvdc_assets.video.ids import made_from

    return bank[bank["video_id"].map(lambda source_id: made_from(video_id, source_id))]


def latest_run_calls(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls behind the current version of each (video, asset): its latest run, cache hits included
    (they carry the tokens the cached answer cost), so re-runs are not counted twice."""
    ordered = calls.sort_values("recorded_at")
    last = ordered.groupby(["video_id", "asset"])["run_id"].transform("last")
    return ordered[ordered["run_id"] == last]
