"""Degenerate answers from `codecvdc serve-embedded` (a real process, each fault kind) are flagged by the
gates, re-asked with another seed and temperature (cached like any call), and kept with their flags when
every ask is flagged; one answer flagged then a clean re-ask keeps the clean one (the in-process server's
fault script)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from support.model_helpers import jpeg, red_square_frames

from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.degenerate import DEGENERATE, ONE_CAPTION
from codecvdc_assets.models.embedded.backend import VISION_MODEL
from codecvdc_assets.models.factory import ModelSettings, build_client
from codecvdc_assets.models.server import FaultPlan, LoopbackServer, free_port
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest, Sampling
from codecvdc_assets.quality.answers import answer_check, reask_sampling
from codecvdc_assets.quality.duplicates import Caption, duplicate_flags
from codecvdc_assets.quality.settings import QualitySettings

S = QualitySettings()
FRAMES = red_square_frames(8)


def anchor(i: int, video: str = "v") -> ModelRequest:
    return ModelRequest(
        "anchor",
        [m.system(load_prompt("anchor")), m.user(f"Scene 0, frame at {i}.00 s.", m.image_part(jpeg(FRAMES[i])))],
        SCHEMAS["anchor"],
        video_id=video,
        asset="anchors",
    )


def residual(video: str = "v") -> ModelRequest:
    return ModelRequest(
        "residual",
        [
            m.system(load_prompt("residual")),
            m.user('```json\n{"first_frame_index": 0}\n```', *[m.image_part(jpeg(f)) for f in FRAMES]),
        ],
        SCHEMAS["residual"],
        video_id=video,
        asset="residuals",
    )


def direct(i: int) -> ModelRequest:
    return ModelRequest(
        "direct",
        [m.system(load_prompt("direct")), m.user(*[m.image_part(jpeg(f)) for f in FRAMES[i : i + 3]])],
        SCHEMAS["direct"],
        video_id=f"video-{i}",
        asset="direct_captions",
    )


def client_for(base_url: str, cache: Path | None):
    settings = ModelSettings("openai", VISION_MODEL, [base_url], "x", concurrency=2, max_retries=0, timeout_s=30)
    return build_client(settings, str(cache) if cache else None, answer_check(S), reask_sampling(S, Sampling()))


@pytest.fixture(scope="module")
def serve() -> Iterator:
    """Start `codecvdc serve-embedded` with one fault kind on every request; every process is stopped."""
    started: list[subprocess.Popen] = []

    def start(kind: str) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "codecvdc_assets.cli", "serve-embedded", "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, "--fault-rate", "1", "--faults", kind],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}/v1"
        api = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                api.models.list()
                return url
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve-embedded did not start"
                time.sleep(0.3)

    try:
        yield start
    finally:
        for proc in started:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


EXPECTED = {"loop": "repetition", "refusal": "refusal", "echo": "prompt_echo", "foreign": "language"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_persistent_degenerate_answer_is_reasked_then_kept_with_its_flag(serve, tmp_path: Path, kind: str) -> None:
    client = client_for(serve(kind), tmp_path / "cache")
    results = client.complete_many([anchor(0), anchor(3)])
    asks = 1 + S.reask_attempts
    for result in results:
        assert result.ok and result.flags == (EXPECTED[kind],) and result.asks == asks
    records = client.take_records()
    assert len(records) == 2 * asks  # every ask went to the server: a new seed is a new cache key
    assert len({r.cache_key for r in records}) == 2 * asks
    assert all(r.status == "ok" and r.error == f"flagged: {EXPECTED[kind]}" for r in records)
    assert [o.flags for o in client.outcomes] == [(EXPECTED[kind],)] * 2
    # Cached like any call: a second client over the same cache asks nothing and flags the same.
    again = client_for(serve(kind), tmp_path / "cache")
    replay = again.complete_many([anchor(0), anchor(3)])
    assert [r.flags for r in replay] == [r.flags for r in results]
    assert all(r.cache_hit for r in again.take_records())


def test_same_sentence_for_every_frame_collapses(serve) -> None:
    client = client_for(serve("same_sentence"), None)
    result = client.complete_many([residual()])[0]
    assert len(result.data["residuals"]) == 7
    assert result.flags == ("collapse",) and result.asks == 1 + S.reask_attempts


def test_one_caption_for_every_video_is_a_duplicate(serve) -> None:
    client = client_for(serve("one_caption"), None)
    results = client.complete_many([direct(i) for i in range(4)])
    assert all(r.ok and r.flags == () and r.asks == 1 for r in results)  # each answer alone is fine
    captions = [Caption(i, r.request.video_id, r.data["caption"]) for i, r in enumerate(results)]
    assert {c.text for c in captions} == {ONE_CAPTION}
    flags = duplicate_flags(captions, S)
    assert sorted(flags) == [0, 1, 2, 3] and flags[0].value == 4


def test_every_degenerate_kind_is_served() -> None:
    assert set(DEGENERATE) == {*EXPECTED, "same_sentence", "one_caption"}


def test_flagged_then_clean_reask_keeps_the_clean_answer(tmp_path: Path) -> None:
    plan = FaultPlan(script=["refusal", "ok", "loop", "foreign", "ok"])
    with LoopbackServer(plan) as server:
        client = client_for(server.base_url, tmp_path / "cache")
        client.concurrency = 1  # the script's order is the requests' order
        first, second = client.complete_many([anchor(0), anchor(5)])
    assert first.flags == () and first.asks == 2 and "sorry" not in first.data["caption"].lower()
    assert second.flags == () and second.asks == 3
    seeds = [s.key for s in plan.log]
    assert len(seeds) == len(set(seeds)) == 5
    assert [o.asks for o in client.outcomes] == [2, 3]
    errors = [r.error for r in client.take_records()]
    assert errors == ["flagged: refusal", None, "flagged: repetition", "flagged: language", None]
