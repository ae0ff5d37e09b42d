"""Long videos (issue 21): every request planned within its model's window, hierarchical aggregation,
a cut answer split rather than fatal, baselines and QA fitted, the embedded server's window.

Clips are generated once per test run (session fixtures): 20 and 10 minutes at 160x90, 10 fps, a cut
every 5-60 s, each made in seconds. The two pipeline tests run `codecvdc` as real processes, one with
its text model behind a loopback HTTP server that cuts the first chapter answers at max_tokens, the
other against `codecvdc serve-embedded --context-tokens 8192`.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from support.cli_helpers import CLI, cli, env_for, model_calls
from support.services import free_port, stop_group, wait_for_port

from codecvdc_assets.captioning.baselines import direct_frame_count, direct_picks
from codecvdc_assets.captioning.chapters import narrate_video_levels
from codecvdc_assets.captioning.hierarchy import AggregationError, length_target
from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.evaluation.caption_fit import fit_caption, spread
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.budget import Budget, estimate_prompt_tokens
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, EmbeddedBackend, respond
from codecvdc_assets.models.server import FaultPlan, LoopbackServer
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest, Sampling
from codecvdc_assets.video.synthetic import write_long_clip

SOURCES = {
    "codeccap:stream", "codeccap:scene", "codeccap:video", "codeccap:all",
    "direct:caption", "per_second:caption", "longcaption:video",
}  # fmt: skip
PROMPTS = {"video": load_prompt("video"), "chapter": load_prompt("chapter")}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("long_clips")
    out = {}
    for name, minutes, seed in (("long20", 20, 1), ("long10", 10, 2)):
        path = folder / f"{name}.mp4"
        write_long_clip(str(path), minutes * 60.0, seed=seed)
        out[name] = path
    return out


def _bank(path: Path, video: str) -> Path:
    """A small bank written for a generated clip: shots start blue (palette 0), a white square moves right."""
    base = {"video_id": video, "source": "test-long", "difficulty": "easy"}
    rows = [
        {**base, "question_id": f"{video}/0", "question": "In which direction does the white square move?",
         "options": ["left", "right", "up", "down"], "answer": "B", "dimension": "direction"},
        {**base, "question_id": f"{video}/1", "question": "What colour is the background at the start?",
         "options": ["red", "blue", "green", "yellow"], "answer": "B", "dimension": "attribute recognition"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _profile(path: Path, **sections: dict) -> Path:
    path.write_text(yaml.safe_dump({"extends": "embedded", **sections}))
    return path


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


# ------------------------------------------------------------------------------------------ budgets


def test_a_request_over_the_window_is_refused_before_it_is_sent_in_one_line() -> None:
    client = _text_client(context=2048, max_tokens=512)
    long_text = " ".join(["word"] * 3000)
    request = ModelRequest(
        "video", [m.system("p"), m.user("x", long_text)], SCHEMAS["video"], video_id="vid-1", asset="video_narratives"
    )
    small = ModelRequest(
        "video", [m.system("p"), m.user('```json\n{"scenes": []}\n```')], SCHEMAS["video"], video_id="vid-1"
    )
    refused, ok = client.complete_many([request, small], raise_on_error=False)
    assert refused.status == "refused" and ok.ok  # the other request of the video goes on
    estimate = estimate_prompt_tokens(request.messages)
    assert estimate >= 3000
    line = refused.error
    assert "\n" not in line and "vid-1/video_narratives" in line
    assert f"~{estimate} prompt tokens" in line and "max_tokens 512" in line and "context_tokens 2048" in line
    record = [r for r in client.records if r.status == "refused"]
    assert len(record) == 1 and record[0].prompt_tokens == 0 and record[0].http_attempts == 0
    with pytest.raises(ValueError, match="context_tokens .* must be greater than max_tokens"):
        Budget(1024, 1024)


def test_length_targets_grow_with_duration_and_stay_within_the_answer() -> None:
    big = Budget(32768, 2048)
    assert [length_target(s, big) for s in (10, 60, 90, 1080, 7200)] == [400, 900, 1024, 1024, 1024]
    assert length_target(90, Budget(32768, 4096)) == 1200  # LongCaption-10K: ~1,200 words for 90 s
    assert length_target(7200, Budget(4096, 1024)) == 465  # a sixth of the prompt room: 3 answers fit the next


# ------------------------------------------------------------------------------------------ planner


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


def test_direct_baseline_asks_the_most_frames_that_fit() -> None:
    frames = pd.DataFrame({"t_s": [float(t) for t in range(600)], "sha256": [f"f{t}" for t in range(600)]})
    frames["is_sample"] = True
    image = jpeg_of(np.zeros((720, 1280, 3), np.uint8))  # 46 x 26 patches = 1,196 tokens
    client = ModelClient(EmbeddedBackend("embedded-cv-v1"), Sampling(max_tokens=4096), None, 1, context_tokens=8192)
    assert direct_frame_count(600, cap=64) == 64 and direct_frame_count(20, cap=64) == 8
    picks = direct_picks("v", frames, lambda _sha: image, client, "Describe.", cap=64)
    assert len(picks) == 3  # 3 x 1,196 tokens fit the 3,723-token prompt limit, 4 do not
    assert picks["t_s"].tolist() == [0.0, 300.0, 599.0]  # spread over the whole video


# ------------------------------------------------------------------------------------------ QA fitting


def test_caption_fitting_keeps_levels_by_priority_and_spreads_sentences() -> None:
    sentences = [f"At {i} s, thing {i} happens." for i in range(200)]
    text = " ".join(sentences)

    def fits(caption: str) -> bool:
        return len(caption.split()) <= 300

    cut = spread(text, fits)
    assert fits(cut) and cut.startswith("At 0 s") and cut.endswith("thing 199 happens.") and "\u2026" in cut
    sources = {"codeccap:stream": text, "codeccap:scene": " ".join(sentences[:40]), "codeccap:video": "Short video."}
    fitted, was = fit_caption("codeccap:all", "\n\n".join(sources.values()), sources, fits)
    stream, scene, video = fitted.split("\n\n")
    assert was and video == "Short video." and scene == sources["codeccap:scene"] and "\u2026" in stream
    assert fit_caption("direct:caption", "Fits.", sources, fits) == ("Fits.", False)


# ------------------------------------------------------------------------------------------ pipelines


@pytest.mark.slow
def test_twenty_minute_clip_every_strategy_through_levels_with_a_cut_answer(
    long_clips: dict[str, Path], tmp_path: Path
) -> None:
    """The whole default chain, every strategy, on a generated 20-minute clip; the text model behind a
    loopback HTTP server that cuts the first chapter answer (and its re-ask) at max_tokens."""
    home = tmp_path / "home"
    plan = FaultPlan(task_script={"chapter": ["truncated", "truncated"]})
    with LoopbackServer(plan) as server:
        profile = _profile(
            tmp_path / "long.yaml",
            text_model={"backend": "openai", "model": TEXT_MODEL, "base_urls": [server.base_url], "max_tokens": 2048,
                        "context_tokens": 32768, "max_retries": 0, "concurrency": 1},
            vidcapqa={"bank": str(_bank(tmp_path / "bank.jsonl", "long20"))},
        )  # fmt: skip
        cli(["add", str(long_clips["long20"])], home)
        run = subprocess.run(
            [*CLI, "run", "--profile", str(profile)],
            env=env_for(home),
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0 failed" in run.stdout
    chapters = _sql(home, "select * from chapter_narratives")
    assert chapters["level"].max() >= 1 and len(_sql(home, "select * from video_narratives")) == 1
    calls = model_calls(home)
    cut = calls[(calls["task"] == "chapter") & (calls["status"] == "truncated")]
    assert len(cut) == 2  # the first ask and the brevity re-ask, both recorded
    assert (calls[calls["status"] != "truncated"]["status"] == "ok").all()
    answers = _sql(home, "select * from vidcapqa_answers")
    assert set(answers["source"]) == SOURCES and len(answers) == 2 * len(SOURCES)
    assert answers[answers["source"] == "per_second:caption"]["caption_fitted"].all()  # 1,200 captions do not fit
    scores = _sql(home, "select * from vidcapqa_scores where \"group\" = 'overall'")
    assert scores.set_index("source").loc["per_second:caption", "n_fitted"] == 2
    sections = _sql(home, "select * from longcap_sections")
    assert sections["level"].max() >= 1


@pytest.mark.slow
def test_ten_minute_clip_against_serve_embedded_with_an_8192_window(
    long_clips: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "codecvdc_assets.cli",
            "serve-embedded",
            "--port",
            str(port),
            "--context-tokens",
            "8192",
        ],
        env=env_for(tmp_path / "unused"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, proc=server)
        url = f"http://127.0.0.1:{port}/v1"
        # The server's own refusals, in vLLM's words.
        big = {"model": TEXT_MODEL, "max_tokens": 1000, "messages": [{"role": "user", "content": "word " * 9000}]}
        answer = httpx.post(f"{url}/chat/completions", json=big, timeout=30)
        assert answer.status_code == 400
        assert answer.json()["error"]["message"].startswith(
            "This model's maximum context length is 8192 tokens. However, you requested 10"
        )
        empty = httpx.post(f"{url}/chat/completions", json={"model": TEXT_MODEL, "messages": []}, timeout=30)
        assert empty.status_code == 400 and "messages" in empty.json()["error"]["message"]
        model = {"backend": "openai", "base_urls": [url], "context_tokens": 8192, "max_retries": 0}
        profile = _profile(
            tmp_path / "w8k.yaml",
            vision_model={**model, "model": "embedded-cv-v1", "max_tokens": 4096},
            text_model={**model, "model": TEXT_MODEL, "max_tokens": 2048},
            vidcapqa={"bank": str(_bank(tmp_path / "bank.jsonl", "long10"))},
        )
        home = tmp_path / "home"
        cli(["add", str(long_clips["long10"])], home)
        run = subprocess.run(
            [*CLI, "run", "--profile", str(profile)],
            env=env_for(home),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        calls = model_calls(home)
        assert (calls["status"] == "ok").all(), calls[calls["status"] != "ok"][["asset", "status", "error"]]
        assert not calls["error"].fillna("").str.contains("maximum context length").any()
        room = {"embedded-cv-v1": 8192 - 4096, TEXT_MODEL: 8192 - 2048}
        assert (calls["prompt_tokens"] <= calls["model"].map(room)).all()
        answers = _sql(home, "select source from vidcapqa_answers")
        assert set(answers["source"]) == SOURCES
    finally:
        stop_group(server)
        log.close()
    # The two refusals asked for above, and no other: the pipeline never met the server's limit.
    refusals = [line for line in (tmp_path / "server.log").read_text().splitlines() if '" 400 ' in line]
    assert len(refusals) == 2, refusals


def _sql(home: Path, query: str) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchdf()
    finally:
        con.close()
