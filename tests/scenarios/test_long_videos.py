"""Long videos end to end (issue 21): every strategy completes and every request fits its model's window.
The planner, budgets and fitting have their own tests (captioning/test_hierarchy.py, models/test_budget.py,
evaluation/test_caption_fit.py).

Clips are generated once per test run (session fixtures): 20 and 10 minutes at 160x90, 10 fps, a cut
every 5-60 s, each made in seconds. The two pipeline tests run `codecvdc` as real processes, one with
its text model behind a loopback HTTP server that cuts the first chapter answers at max_tokens, the
other against `codecvdc serve-embedded --context-tokens 8192`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from support.cli_helpers import CLI, cli, env_for, model_calls
from support.services import free_port, stop_group, wait_for_port

from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.models.embedded.backend import TEXT_MODEL
from codecvdc_assets.models.server import FaultPlan, LoopbackServer
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
            # per-second captions are single small windows: left out to keep 600 HTTP calls out of the test
            strategies=["codeccap", "direct", "longcaption"],
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
        assert set(answers["source"]) == SOURCES - {"per_second:caption"}
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
