"""The two baselines on the same vision model (CodecCap Table 2):
- direct captioning: one holistic caption from uniformly sampled frames: one every `interval_s` (5 s, as the
  papers sample one frame every 4-6 s), at least 8 for a short video, at most `n_frames` (the profile's
  `vidcapqa.direct_frames`), and fewer when the request would not fit the vision model's window
  (models/budget.py): the largest count that fits;
- per-second captioning: every one-second window captioned on its own (its first and last frame).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from codecvdc_assets.captioning.chain import ImageReader, n_words
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest


def _samples(frames: pd.DataFrame) -> pd.DataFrame:
    return frames[frames["is_sample"]].sort_values("t_s").reset_index(drop=True)


def uniform_samples(frames: pd.DataFrame, budget: int) -> pd.DataFrame:
    """At most `budget` of the 1 fps samples, spread uniformly over the video."""
    samples = _samples(frames)
    return samples.iloc[np.unique(np.linspace(0, len(samples) - 1, min(budget, len(samples))).round().astype(int))]


DIRECT_INTERVAL_S = 5.0
DIRECT_MIN_FRAMES = 8


def direct_request(video_id: str, picks: pd.DataFrame, read_image: ImageReader, prompt: str) -> ModelRequest:
    times = ", ".join(f"{t:.1f}" for t in picks["t_s"])
    return ModelRequest(
        "direct",
        [
            m.system(prompt),
            m.user(f"{len(picks)} frames at {times} s.", *[m.image_part(read_image(s)) for s in picks["sha256"]]),
        ],
        SCHEMAS["direct"],
        video_id=video_id,
        asset="direct_captions",
    )


def direct_frame_count(n_samples: int, cap: int, interval_s: float = DIRECT_INTERVAL_S) -> int:
    """Frames the direct baseline asks for before the budget: one per `interval_s` of the 1 fps samples,
    at least DIRECT_MIN_FRAMES, at most `cap`."""
    return max(1, min(cap, n_samples, max(DIRECT_MIN_FRAMES, math.ceil(n_samples / interval_s))))


def direct_picks(
    video_id: str, frames: pd.DataFrame, read_image: ImageReader, client: ModelClient, prompt: str, cap: int
) -> pd.DataFrame:
    """The uniformly spread frames of the direct request: the most (up to direct_frame_count) that fit."""
    wanted = direct_frame_count(len(_samples(frames)), cap)
    low, high = 1, wanted  # the largest count in [1, wanted] whose request fits (bisection)
    if client.fits(direct_request(video_id, uniform_samples(frames, high), read_image, prompt)):
        return uniform_samples(frames, high)
    while low < high:
        mid = (low + high + 1) // 2
        if client.fits(direct_request(video_id, uniform_samples(frames, mid), read_image, prompt)):
            low = mid
        else:
            high = mid - 1
    return uniform_samples(frames, low)  # one frame that still does not fit: the client refuses it


def caption_direct(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    client: ModelClient,
    prompt: str,
    version: str,
    n_frames: int = 8,
) -> pd.DataFrame:
    picks = direct_picks(video_id, frames, read_image, client, prompt, n_frames)
    request = direct_request(video_id, picks, read_image, prompt)
    caption = client.complete_many([request])[0].data["caption"].strip()
    return pd.DataFrame(
        [
            {
                "video_id": video_id,
                "caption": caption,
                "n_words": n_words(caption),
                "n_frames": len(picks),
                "model": client.backend.model,
                "version": version,
            }
        ]
    )


def caption_per_second(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    client: ModelClient,
    prompt: str,
    version: str,
) -> pd.DataFrame:
    samples = _samples(frames)

    def request(i: int) -> ModelRequest:
        window = samples.iloc[i : i + 2]
        return ModelRequest(
            "per_second",
            [
                m.system(prompt),
                m.user(
                    f"Second {i} (from {window.iloc[0]['t_s']:.1f} s).",
                    *[m.image_part(read_image(s)) for s in window["sha256"]],
                ),
            ],
            SCHEMAS["per_second"],
            video_id=video_id,
            asset="per_second_captions",
        )

    # made as they are sent (complete_stream): a 2-hour video has 7,200
    results = client.complete_stream(request(i) for i in range(len(samples)))
    rows = []
    for i, result in enumerate(results):
        caption = result.data["caption"].strip()
        rows.append(
            {
                "video_id": video_id,
                "second_idx": i,
                "t_s": float(samples.iloc[i]["t_s"]),
                "caption": caption,
                "n_words": n_words(caption),
                "model": client.backend.model,
                "version": version,
            }
        )
    return pd.DataFrame(rows)
