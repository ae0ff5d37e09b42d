"""LongCaption-Agent (LongCaptioning, section 3) as a captioning strategy on our vision and text models.

1. Frame level: every 1 fps sampled frame captioned on its own (static, fine detail).
2. Clip level: a sliding window over the video (default 10 s long, 5 s stride, so clips overlap; the last
   one is clipped to the video's end), each clip captioned from its frames, given the previous clip's
   caption as context (the paper's caption_t = LMM(clip_t, caption_{t-1})): the clips run in order.
3. Video level: the text model merges them. Every caption carries its timestamps; each frame caption is
   grouped under one clip whose range holds it (of two overlapping holders, the one whose centre is
   nearer; a tie goes to the earlier), and the groups are interleaved with the clip captions in time
   order: frames of clip 0, clip 0, frames of clip 1, clip 1, ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from codecvdc_assets.captioning.chain import ImageReader, n_words
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest


@dataclass(frozen=True)
class Clip:
    idx: int
    start_s: float
    end_s: float

    @property
    def centre(self) -> float:
        return (self.start_s + self.end_s) / 2

    def holds(self, t: float, last: bool) -> bool:
        return self.start_s <= t < self.end_s or (last and t == self.end_s)


def clip_windows(duration_s: float, window_s: float = 10.0, stride_s: float = 5.0) -> list[Clip]:
    """Sliding clips from 0 s every `stride_s`, `window_s` long, until one reaches the end (clipped to it)."""
    if window_s <= 0 or stride_s <= 0:
        raise ValueError("longcaption: window and stride must be positive")
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"longcaption: the video's duration is {duration_s}")
    clips: list[Clip] = []
    start = 0.0
    while True:
        end = min(start + window_s, duration_s)
        clips.append(Clip(len(clips), round(start, 3), round(end, 3)))
        if end >= duration_s:
            return clips
        start += stride_s


def _samples(frames: pd.DataFrame) -> pd.DataFrame:
    return frames[frames["is_sample"]].sort_values("t_s").reset_index(drop=True)


def _row(video_id: str, client: ModelClient, version: str, caption: str, **fields) -> dict:
    return {"video_id": video_id, **fields, "caption": caption, "n_words": n_words(caption),
            "model": client.backend.model, "version": version}  # fmt: skip


# ------------------------------------------------------------------------------------------ frames


def caption_frames(
    video_id: str, frames: pd.DataFrame, read_image: ImageReader, client: ModelClient, prompt: str, version: str
) -> pd.DataFrame:
    samples = _samples(frames)
    requests = [
        ModelRequest(
            "longcap_frame",
            [m.system(prompt), m.user(f"Frame {i} at {r.t_s:.2f} s.", m.image_part(read_image(r.sha256)))],
            SCHEMAS["longcap_frame"],
            video_id=video_id,
            asset="longcap_frames",
        )
        for i, r in enumerate(samples.itertuples())
    ]
    results = client.complete_many(requests)
    rows = [
        _row(video_id, client, version, res.data["caption"].strip(), frame_idx=i, t_s=float(r.t_s))
        for i, (r, res) in enumerate(zip(samples.itertuples(), results, strict=True))
    ]
    return pd.DataFrame(rows, columns=["video_id", "frame_idx", "t_s", "caption", "n_words", "model", "version"])


# ------------------------------------------------------------------------------------------ clips


def clip_request(
    video_id: str, clip: Clip, times: list[float], images: list[bytes], previous: str | None, prompt: str
) -> ModelRequest:
    data = {
        "clip_idx": clip.idx,
        "start_s": clip.start_s,
        "end_s": clip.end_s,
        "frame_times_s": [round(t, 3) for t in times],
        "previous_clip_caption": previous or "",
    }
    return ModelRequest(
        "longcap_clip",
        [
            m.system(prompt),
            m.user(
                f"Clip {clip.idx}: {clip.start_s:.1f}-{clip.end_s:.1f} s.",
                m.json_block(data),
                *map(m.image_part, images),
            ),
        ],
        SCHEMAS["longcap_clip"],
        video_id=video_id,
        asset="longcap_clips",
    )


def caption_clips(
    video_id: str,
    frames: pd.DataFrame,
    duration_s: float,
    read_image: ImageReader,
    client: ModelClient,
    prompt: str,
    version: str,
    window_s: float = 10.0,
    stride_s: float = 5.0,
) -> pd.DataFrame:
    samples = _samples(frames)
    # A container may report no or a short duration (synthesized timestamps): the frames say how long it is.
    last = float(samples["t_s"].max()) if len(samples) else 0.0
    clips = clip_windows(max(duration_s, last) if math.isfinite(duration_s) else last, window_s, stride_s)
    rows, previous = [], None
    for clip in clips:
        inside = samples[[clip.holds(float(t), clip is clips[-1]) for t in samples["t_s"]]]
        if inside.empty:
            continue  # a clip with no sampled frame (a video shorter than a frame interval) says nothing
        request = clip_request(
            video_id, clip, list(inside["t_s"]), [read_image(s) for s in inside["sha256"]], previous, prompt
        )
        previous = client.complete_many([request])[0].data["caption"].strip()  # the next clip's context
        rows.append(
            _row(
                video_id,
                client,
                version,
                previous,
                clip_idx=clip.idx,
                start_s=clip.start_s,
                end_s=clip.end_s,
                n_frames=len(inside),
            )  # fmt: skip
        )
    columns = ["video_id", "clip_idx", "start_s", "end_s", "n_frames", "caption", "n_words", "model", "version"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------------------------------ video


def group_frames(frame_caps: pd.DataFrame, clip_caps: pd.DataFrame) -> dict[int, list[dict]]:
    """{clip_idx: [frame captions]}: each frame under one clip that holds it, the nearer centre first."""
    clips = [
        Clip(int(c.clip_idx), float(c.start_s), float(c.end_s)) for c in clip_caps.sort_values("start_s").itertuples()
    ]
    groups: dict[int, list[dict]] = {c.idx: [] for c in clips}
    for f in frame_caps.sort_values("t_s").itertuples():
        t = float(f.t_s)
        holders = [c for c in clips if c.holds(t, c is clips[-1])]
        if not holders:
            continue
        best = min(holders, key=lambda c: (abs(t - c.centre), c.start_s))
        groups[best.idx].append({"t_s": round(t, 3), "caption": f.caption})
    return groups


def merge_input(frame_caps: pd.DataFrame, clip_caps: pd.DataFrame) -> dict:
    """The interleaved, timestamped input of the merge: frames of clip 0, clip 0, frames of clip 1, ..."""
    groups = group_frames(frame_caps, clip_caps)
    timeline: list[dict] = []
    for c in clip_caps.sort_values("start_s").itertuples():
        start, end = round(float(c.start_s), 3), round(float(c.end_s), 3)
        timeline.append({"kind": "frames", "clip_idx": int(c.clip_idx), "frames": groups[int(c.clip_idx)]})
        timeline.append({"kind": "clip", "clip_idx": int(c.clip_idx), "start_s": start, "end_s": end,
                         "caption": c.caption})  # fmt: skip
    return {"num_frames": len(frame_caps), "num_clips": len(clip_caps), "timeline": timeline}


def merge_request(video_id: str, frame_caps: pd.DataFrame, clip_caps: pd.DataFrame, prompt: str) -> ModelRequest:
    return ModelRequest(
        "longcap_video",
        [
            m.system(prompt),
            m.user("Write the video-level description.", m.json_block(merge_input(frame_caps, clip_caps))),
        ],
        SCHEMAS["longcap_video"],
        video_id=video_id,
        asset="longcap_video",
    )


def merge_video(
    video_id: str, frame_caps: pd.DataFrame, clip_caps: pd.DataFrame, client: ModelClient, prompt: str, version: str
) -> pd.DataFrame:
    caption = client.complete_many([merge_request(video_id, frame_caps, clip_caps, prompt)])[0].data["caption"].strip()
    row = _row(video_id, client, version, caption, n_clips=len(clip_caps), n_frames=len(frame_caps))
    return pd.DataFrame([row], columns=["video_id", "n_clips", "n_frames", "caption", "n_words", "model", "version"])
