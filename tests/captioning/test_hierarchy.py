"""Hierarchical aggregation (issue 21): the planner on hours of synthetic scene narratives, length
targets, a cut answer rebuilt from halves over HTTP, the embedded model condensing, the direct baseline's
frame budget."""

from __future__ import annotations

import json
import random
import re

import cv2
import numpy as np
import pandas as pd
import pytest

from codecvdc_assets.captioning.baselines import direct_frame_count, direct_picks
from codecvdc_assets.captioning.chapters import narrate_video_levels
from codecvdc_assets.captioning.hierarchy import AggregationError, length_target
from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.budget import Budget
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, EmbeddedBackend, respond
from codecvdc_assets.models.server import FaultPlan, LoopbackServer
from codecvdc_assets.models.types import Sampling

PROMPTS = {"video": load_prompt("video"), "chapter": load_prompt("chapter")}


def _scenes(hours: float, seed: int = 0) -> pd.DataFrame:
    """Synthetic scene narratives over `hours` hours: shots of 5-60 s, ~45 words each."""
    rng = random.Random(seed)
    rows, t, i = [], 0.0, 0
    while t < hours * 3600:
        d = rng.uniform(5, 60)
        colour = rng.choice(["red", "blue", "green", "yellow"])
        text = f"A {colour} background fills the frame, with a white square at center-left. " + " ".join(
            f"At {t + k * 2:.0f} s, the white square moves right from center-left to center." for k in range(3)
        )
        rows.append({"segment_idx": i, "start_s": t, "end_s": t + d, "narrative": text})
        t, i = t + d, i + 1
    return pd.DataFrame(rows)


def _json(data: dict) -> str:
    return "```json\n" + json.dumps(data) + "\n```"


def jpeg_of(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def _text_client(context: int, max_tokens: int = 1024) -> ModelClient:
    return ModelClient(EmbeddedBackend(TEXT_MODEL), Sampling(max_tokens=max_tokens), None, 2, context_tokens=context)


def test_length_targets_grow_with_duration_and_stay_within_the_answer() -> None:
    big = Budget(32768, 2048)
    assert [length_target(s, big) for s in (10, 60, 90, 1080, 7200)] == [400, 900, 1024, 1024, 1024]
    assert length_target(90, Budget(32768, 4096)) == 1200  # LongCaption-10K: ~1,200 words for 90 s
    assert length_target(7200, Budget(4096, 1024)) == 426  # a sixth of the prompt room: 3 answers fit the next


def test_planner_two_hours_of_scenes_fan_in_bound_has_the_expected_depth() -> None:
    scenes = _scenes(2.0)
    n = len(scenes)
    client = _text_client(context=32768, max_tokens=1024)
    video, chapters, tree = narrate_video_levels("v", scenes, client, PROMPTS, "x", max_fan_in=4)
    # Every level groups 4 consecutive inputs: ceil(n/4), then ceil(that/4), ... until 4 or fewer remain.
    sizes, k = [], n
    while k > 4:
        k = -(-k // 4)
        sizes.append(k)
    assert chapters.groupby("level").size().tolist() == sizes
    assert tree.depth == len(sizes) + 1 and tree.levels == len(sizes) >= 3
    # Chapters tile the video: per level, consecutive segment ranges from the first scene to the last.
    for _, level in chapters.groupby("level"):
        level = level.sort_values("chapter_idx")
        assert level["first_segment_idx"].iloc[0] == 0 and level["last_segment_idx"].iloc[-1] == n - 1
        assert (
            level["first_segment_idx"].iloc[1:].to_numpy() == level["last_segment_idx"].iloc[:-1].to_numpy() + 1
        ).all()
    assert video.iloc[0]["narrative"].startswith(f"The video has {n} scenes.")


def test_planner_two_hours_small_context_every_request_fits_and_keys_are_stable() -> None:
    scenes = _scenes(2.0)
    runs = []
    for _ in range(2):
        client = _text_client(context=4096, max_tokens=1024)
        video, chapters, tree = narrate_video_levels("v", scenes, client, PROMPTS, "x")
        budget = client.budget
        assert all(r.status == "ok" for r in client.records), {r.status for r in client.records}
        # What the backend counted (text + template-free) never exceeds what the planner allowed.
        assert max(r.prompt_tokens for r in client.records) <= budget.prompt_limit
        assert tree.depth >= 3 and tree.levels == chapters["level"].max()
        assert (chapters["n_words"] <= chapters["target_words"] + 40).all()  # condensed to the target (+headers)
        runs.append((sorted(r.cache_key for r in client.records), video.iloc[0]["narrative"], tree.depth))
    assert runs[0] == runs[1]


def test_one_scene_too_large_for_any_request_fails_naming_it() -> None:
    scenes = _scenes(0.05)
    scenes.loc[1, "narrative"] = " ".join(["long"] * 5000)
    with pytest.raises(AggregationError, match=r"v/video_narratives: video narrative: one input .* cannot fit"):
        narrate_video_levels("v", scenes, _text_client(context=4096), PROMPTS, "x")


def test_a_cut_chapter_answer_is_rebuilt_from_halves_over_http() -> None:
    """The first chapter request and its brevity re-ask are cut at max_tokens by the server: that group is
    split in two, each half merged on its own, and the video narrative is made."""
    scenes = _scenes(0.5)
    plan = FaultPlan(task_script={"chapter": ["truncated", "truncated"]})
    from codecvdc_assets.models.openai_backend import OpenAIBackend

    with LoopbackServer(plan) as server:
        backend = OpenAIBackend(TEXT_MODEL, [server.base_url], None, 4, 30.0, 0)
        client = ModelClient(backend, Sampling(max_tokens=1024), None, 1, context_tokens=32768)  # in order
        video, chapters, tree = narrate_video_levels("v", scenes, client, PROMPTS, "x", max_fan_in=8)
    statuses = [(r.task, r.status, r.attempt) for r in client.records]
    assert statuses[:2] == [("chapter", "truncated", 1), ("chapter", "truncated", 2)]
    assert "Be more concise" in [s for s in plan.log if s.task == "chapter"][1].last_user_text
    assert tree.n_splits == 1
    first = chapters[chapters["level"] == 1].sort_values("chapter_idx")
    # The cut group of 8 scenes became two chapters of 4; the others kept their groups of 8.
    assert first["n_inputs"].tolist()[:2] == [4, 4] and set(first["n_inputs"].tolist()[2:-1]) == {8}
    assert video.iloc[0]["n_words"] > 0 and statuses[-1] == ("video", "ok", 1)


def test_embedded_text_model_condenses_to_the_asked_length() -> None:
    scenes = _scenes(0.3)
    items = [{k: r[k] for k in ("segment_idx", "start_s", "end_s", "narrative")} for r in scenes.to_dict("records")]
    full = respond([m.user(_json({"scenes": items}))], "video")["narrative"]
    short = respond([m.user(_json({"scenes": items, "target_words": 150}))], "video")["narrative"]
    chapter = respond([m.user(_json({"scenes": items[:5], "target_words": 60}))], "chapter")["narrative"]
    assert len(full.split()) > 600 and 100 <= len(short.split()) <= 150 + 12
    # Condensed, not cut off: the last scene is still there, and every kept sentence is from the input.
    assert f"Scene {len(items)} (" in short and short.startswith(f"The video has {len(items)} scenes.")
    assert chapter.startswith("Scenes 1-5.") and len(chapter.split()) <= 60 + 12
    # Extractive: past its headers, each kept sentence (or the start of a cut one) is in a scene narrative.
    source = " ".join(i["narrative"] for i in items)
    kept = re.split(r"Scene \d+ \([^)]*\): ", short)[1:]
    assert len(kept) > 3
    for piece in kept:
        for sentence in re.split(r"(?<=[.!?])\s+", piece.strip()):
            assert sentence.rstrip("\u2026") in source, sentence


def test_direct_baseline_asks_the_most_frames_that_fit() -> None:
    frames = pd.DataFrame({"t_s": [float(t) for t in range(600)], "sha256": [f"f{t}" for t in range(600)]})
    frames["is_sample"] = True
    image = jpeg_of(np.zeros((720, 1280, 3), np.uint8))  # 46 x 26 patches = 1,196 tokens
    client = ModelClient(EmbeddedBackend("embedded-cv-v1"), Sampling(max_tokens=4096), None, 1, context_tokens=8192)
    assert direct_frame_count(600, cap=64) == 64 and direct_frame_count(20, cap=64) == 8
    picks = direct_picks("v", frames, lambda _sha: image, client, "Describe.", cap=64)
    assert len(picks) == 2  # 2 x 1,196 tokens fit the 3,413-token prompt limit, 3 do not
    assert picks["t_s"].tolist() == [0.0, 599.0]  # spread over the whole video
