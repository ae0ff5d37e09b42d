"""Per-window requests of large frames in a small window (issue 21): residual windows and LongCaption clips
shrink to what fits the vision model's context; every adjacent pair is still captioned exactly once."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from codecvdc_assets.captioning.chain import ChainSettings, residual_plan
from codecvdc_assets.models.budget import estimate_prompt_tokens
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import VISION_MODEL, EmbeddedBackend
from codecvdc_assets.models.types import Sampling


def _jpeg(shade: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((720, 1280, 3), shade, np.uint8))
    assert ok
    return buf.tobytes()


def test_residual_windows_of_720p_frames_shrink_to_fit_an_8192_window() -> None:
    frames = pd.DataFrame({"segment_idx": [0] * 12, "t_s": [float(t) for t in range(12)]})
    frames["sha256"] = [f"f{i}" for i in range(12)]
    images = {f"f{i}": _jpeg(10 * i) for i in range(12)}
    client = ModelClient(EmbeddedBackend(VISION_MODEL), Sampling(max_tokens=4096), None, 1, context_tokens=8192)
    settings = ChainSettings(window_size=8, window_overlap=1, residual_context="none")
    unplanned = list(residual_plan("v", frames, images.__getitem__, "Describe changes.", settings))
    assert len(unplanned[0][2].messages[-1]["content"]) - 2 == 8  # text parts + 8 images: would not fit
    assert not client.fits(unplanned[0][2])
    planned = list(residual_plan("v", frames, images.__getitem__, "Describe changes.", settings, fits=client.fits))
    assert all(client.fits(r) for _, _, r in planned)
    assert max(estimate_prompt_tokens(r.messages) for _, _, r in planned) <= client.budget.prompt_limit
    firsts = [i for _, pairs, _ in planned for i in pairs]
    assert firsts == list(range(11))  # every adjacent pair once, in order
    assert {len(pairs) for _, pairs, _ in planned} == {1}  # windows of 2 frames (3 x 1,196 tokens would not fit)
