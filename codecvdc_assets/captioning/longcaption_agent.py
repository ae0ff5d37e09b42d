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

import numpy as np
import pandas as pd

from codecvdc_assets.captioning.chain import ImageReader, n_words
from codecvdc_assets.captioning.hierarchy import DEFAULT_FAN_IN, Aggregator, Part, Tree
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
    requests = (  # made as they are sent (complete_stream): a 2-hour video has 7,200
        ModelRequest(
            "longcap_frame",
            [m.system(prompt), m.user(f"Frame {i} at {r.t_s:.2f} s.", m.image_part(read_image(r.sha256)))],
            SCHEMAS["longcap_frame"],
            video_id=video_id,
            asset="longcap_frames",
        )
        for i, r in enumerate(samples.itertuples())
    )
    results = client.complete_stream(requests)
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
        times, images = list(inside["t_s"]), [read_image(s) for s in inside["sha256"]]
        request = clip_request(video_id, clip, times, images, previous, prompt)
        # Large frames in a small window: the most of the clip's frames, evenly spread, that fit.
        while client.context_tokens is not None and len(times) > 1 and not client.fits(request):
            keep = np.unique(np.linspace(0, len(times) - 1, len(times) - 1).round().astype(int))
            times, images = [times[i] for i in keep], [images[i] for i in keep]
            request = clip_request(video_id, clip, times, images, previous, prompt)
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
                n_frames=len(times),
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
    parts = clip_parts(frame_caps, clip_caps)
    return {
        "num_frames": sum(p.item["n_frames"] for p in parts),
        "num_clips": len(parts),
        "timeline": [x for p in parts for x in p.item["timeline"]],
    }


def clip_parts(frame_caps: pd.DataFrame, clip_caps: pd.DataFrame) -> list[Part]:
    """One part per clip for the hierarchical merge: the clip's frame group and the clip, timestamped."""
    groups = group_frames(frame_caps, clip_caps)
    parts = []
    for c in clip_caps.sort_values("start_s").itertuples():
        idx, start, end = int(c.clip_idx), round(float(c.start_s), 3), round(float(c.end_s), 3)
        timeline = [
            {"kind": "frames", "clip_idx": idx, "frames": groups[idx]},
            {"kind": "clip", "clip_idx": idx, "start_s": start, "end_s": end, "caption": c.caption},
        ]
        item = {"timeline": timeline, "n_frames": len(groups[idx])}
        parts.append(Part(float(c.start_s), float(c.end_s), idx, idx, item, 0, c.caption))
    return parts


def section_item(text: str, parts: list[Part], level: int) -> dict:
    return {
        "clips": [parts[0].first, parts[-1].last],
        "n_clips": parts[-1].last - parts[0].first + 1,
        "start_s": round(parts[0].start_s, 3),
        "end_s": round(parts[-1].end_s, 3),
        "caption": text,
    }


def section_request(
    video_id: str, prompts: dict[str, str], parts: list[Part], level: int, final: bool, target_words: int | None
) -> ModelRequest:
    """The merge of `parts`: clips with their frames (the paper's single merge when they are all of them)
    or, at higher levels, sections; the top request uses prompts/longcap_video.md, the others
    prompts/longcap_section.md."""
    data: dict = {} if target_words is None else {"target_words": target_words}
    if all(p.level == 0 for p in parts):
        data |= {
            "num_frames": sum(p.item["n_frames"] for p in parts),
            "num_clips": len(parts),
            "timeline": [x for p in parts for x in p.item["timeline"]],
        }
    else:
        data["sections"] = [p.item for p in parts]
    task = "longcap_video" if final else "longcap_section"
    ask = "Write the video-level description." if final else "Write the section description."
    return ModelRequest(
        task,
        [m.system(prompts[task]), m.user(ask, m.json_block(data))],
        SCHEMAS[task],
        video_id=video_id,
        asset="longcap_video",
    )


def merge_request(video_id: str, frame_caps: pd.DataFrame, clip_caps: pd.DataFrame, prompt: str) -> ModelRequest:
    """The single merge over every clip (no length target): what the paper sends for a short video."""
    return section_request(video_id, {"longcap_video": prompt}, clip_parts(frame_caps, clip_caps), 1, True, None)


SECTION_COLUMNS = [
    "video_id", "level", "section_idx", "first_clip_idx", "last_clip_idx", "start_s", "end_s",
    "n_inputs", "caption", "n_words", "target_words", "called", "model", "version",
]  # fmt: skip


def merge_video_levels(
    video_id: str,
    frame_caps: pd.DataFrame,
    clip_caps: pd.DataFrame,
    client: ModelClient,
    prompts: dict[str, str],
    version: str,
    max_fan_in: int = DEFAULT_FAN_IN,
) -> tuple[pd.DataFrame, pd.DataFrame, Tree]:
    """(longcap_video row, longcap_sections rows, the tree): the merge through sections of consecutive
    clips when they do not fit one request (captioning/hierarchy.py); `prompts` has longcap_video and
    longcap_section."""
    aggregator = Aggregator(
        client,
        lambda parts, level, final, target: section_request(video_id, prompts, parts, level, final, target),
        section_item,
        "caption",
        max_fan_in,
        "longcap video",
    )
    tree = aggregator.run(clip_parts(frame_caps, clip_caps))
    row = _row(video_id, client, version, tree.text, n_clips=len(clip_caps), n_frames=len(frame_caps))
    video = pd.DataFrame([row], columns=["video_id", "n_clips", "n_frames", "caption", "n_words", "model", "version"])
    sections = [
        {
            "video_id": video_id,
            "level": c.level,
            "section_idx": c.idx,
            "first_clip_idx": c.part.first,
            "last_clip_idx": c.part.last,
            "start_s": c.part.start_s,
            "end_s": c.part.end_s,
            "n_inputs": c.n_inputs,
            "caption": c.part.text,
            "n_words": n_words(c.part.text),
            "target_words": c.target_words,
            "called": c.called,
            "model": client.backend.model,
            "version": version,
        }
        for c in tree.chapters
    ]
    return video, pd.DataFrame(sections, columns=SECTION_COLUMNS), tree


def merge_video(
    video_id: str, frame_caps: pd.DataFrame, clip_caps: pd.DataFrame, client: ModelClient, prompt: str, version: str
) -> pd.DataFrame:
    from codecvdc_assets.captioning.prompts import load_prompt

    prompts = {"longcap_video": prompt, "longcap_section": load_prompt("longcap_section")}
    return merge_video_levels(video_id, frame_caps, clip_caps, client, prompts, version)[0]
