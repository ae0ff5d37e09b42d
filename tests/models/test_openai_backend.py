"""The OpenAI-compatible path against the loopback server, over real HTTP, with injected faults."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from itertools import pairwise

import openai
import pandas as pd
import pytest
from support.model_helpers import anchor_request, qa_request, red_square_frames, residual_request

from codecvdc_assets.models.cache import CallCache
from codecvdc_assets.models.calls import write_model_calls
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, VISION_MODEL, EmbeddedBackend
from codecvdc_assets.models.factory import build_client
from codecvdc_assets.models.openai_backend import OpenAIBackend
from codecvdc_assets.models.server import FaultPlan, LoopbackServer, free_port
from codecvdc_assets.models.types import ModelCallError
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake

QUESTION = ("The red object moves right.", "Which way does the red object move?", {"A": "left", "B": "right"})


def http_client(server: LoopbackServer, model: str = TEXT_MODEL, **kw) -> ModelClient:
    backend = OpenAIBackend(model, [server.base_url], max_retries=kw.pop("max_retries", 4), **kw)
    return ModelClient(backend)


def test_http_answers_equal_in_process_answers() -> None:
    frames = red_square_frames(4)
    with LoopbackServer() as server:
        over_http = http_client(server, VISION_MODEL).complete(residual_request(frames))
    in_process = ModelClient(EmbeddedBackend()).complete(residual_request(frames))
    assert over_http == in_process


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "timeout"])
def test_transient_transport_faults_are_retried_by_the_openai_client(fault: str) -> None:
    plan = FaultPlan(script=[fault, fault], retry_after_s=0.3, hang_s=5)
    with LoopbackServer(plan) as server:
        client = http_client(server, timeout_s=0.5)
        answer = client.complete(qa_request(*QUESTION))
        assert answer["answer"] == "B"
        assert server.plan.stats[fault] == 2 and server.plan.stats["ok"] == 1
    assert [(r.status, r.http_attempts) for r in client.records] == [("ok", 3)]
    seen = list(plan.log)
    assert [s.retry_count for s in seen] == [0, 1, 2] and {s.key for s in seen} == {client.records[0].cache_key}
    if fault == "429":  # Retry-After honoured: each retry arrives at least retry_after_s after the 429
        assert all(b.t - a.t >= 0.3 for a, b in pairwise(seen))


@pytest.mark.parametrize("fault", ["malformed", "schema", "empty", "truncated"])
def test_bad_answers_are_re_asked_once(fault: str) -> None:
    with LoopbackServer(FaultPlan(script=[fault])) as server:
        client = http_client(server)
        assert client.complete(qa_request(*QUESTION))["answer"] == "B"
    expected = "truncated" if fault == "truncated" else "invalid"
    assert [(r.status, r.attempt) for r in client.records] == [(expected, 1), ("ok", 2)]


@pytest.mark.parametrize("fault", ["malformed", "schema", "truncated"])
def test_persistent_bad_answers_are_recorded_failures(fault: str, tmp_path) -> None:
    cache = CallCache(str(tmp_path / "cache"))
    with LoopbackServer(FaultPlan(script=[fault, fault])) as server:
        client = ModelClient(OpenAIBackend(TEXT_MODEL, [server.base_url]), cache=cache)
        with pytest.raises(ModelCallError) as info:
            client.complete(qa_request(*QUESTION))
    expected = "truncated" if fault == "truncated" else "invalid"
    assert expected in str(info.value) and "qa_answer" in str(info.value)
    assert [r.status for r in client.records] == [expected, expected]
    assert not os.path.exists(cache.root) or not any(files for _, _, files in os.walk(cache.root))


def test_timeout_and_dead_endpoint_are_errors() -> None:
    with LoopbackServer(FaultPlan(script=["timeout"], hang_s=5)) as server:
        client = ModelClient(OpenAIBackend(TEXT_MODEL, [server.base_url], timeout_s=0.5, max_retries=0))
        results = client.complete_many([qa_request(*QUESTION)], raise_on_error=False)
    assert results[0].status == "error" and "timed out (no response within 0.5 s) after 1 attempt" in results[0].error
    dead = ModelClient(OpenAIBackend(TEXT_MODEL, [f"http://127.0.0.1:{free_port()}/v1"], max_retries=1, timeout_s=2))
    results = dead.complete_many([qa_request(*QUESTION)], raise_on_error=False)
    assert results[0].status == "error" and "connection failed (ConnectError" in results[0].error
    assert "after 2 attempts" in results[0].error


def test_round_robin_over_replicas_and_cache_makes_zero_calls(tmp_path) -> None:
    cache = CallCache(str(tmp_path / "cache"))
    questions = [
        qa_request(f"The red object moves right {i}.", "Which way?", {"A": "left", "B": "right"}) for i in range(12)
    ]
    with LoopbackServer() as a, LoopbackServer() as b:
        backend = OpenAIBackend(TEXT_MODEL, [a.base_url, b.base_url], per_endpoint_concurrency=2)
        first = ModelClient(backend, cache=cache, concurrency=4)
        answers = [r.data for r in first.complete_many(questions)]
        assert a.plan.stats["requests"] == 6 and b.plan.stats["requests"] == 6
        again = ModelClient(OpenAIBackend(TEXT_MODEL, [a.base_url, b.base_url]), cache=cache)
        assert [r.data for r in again.complete_many(questions)] == answers
        assert a.plan.stats["requests"] + b.plan.stats["requests"] == 12  # no new request
    assert all(r.cache_hit for r in again.records) and len(again.records) == 12
    assert {r.endpoint for r in first.records} == {a.base_url, b.base_url}


def _writer(args: tuple[str, int]) -> int:
    root, worker = args
    cache = CallCache(root)
    for i in range(300):
        cache.put(f"{i % 150:064x}", {"data": {"i": i % 150}})  # half the keys are shared by all workers
        cache.put(f"f{worker:07x}{i:056x}", {"data": {"w": worker, "i": i}})
    return worker


def test_cache_is_safe_with_concurrent_processes_and_torn_writes(tmp_path) -> None:
    root = str(tmp_path / "cache")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_writer, [(root, w) for w in range(4)])) == [0, 1, 2, 3]
    cache = CallCache(root)
    assert all(cache.get(f"{i:064x}") == {"data": {"i": i}} for i in range(150))
    assert all(cache.get(f"f{w:07x}{i:056x}") == {"data": {"w": w, "i": i}} for w in range(4) for i in range(300))
    # A crash mid-write leaves a temp file (never read) or, written by hand, a torn entry: both are misses.
    key = "ab" * 32
    os.makedirs(os.path.dirname(cache.path(key)), exist_ok=True)
    with open(cache.path(key), "w") as fh:
        fh.write('{"data": {"cut')
    assert cache.get(key) is None
    cache.put(key, {"data": 1})
    assert cache.get(key) == {"data": 1}


def test_calls_are_accounted_in_the_lake(home) -> None:
    client = ModelClient(EmbeddedBackend(), cache=CallCache(str(home / "cache")))
    video_id = "clip-0123456789"
    requests = [anchor_request(f, video_id) for f in red_square_frames(3)] + [
        residual_request(red_square_frames(4), video_id)
    ]
    client.complete_many(requests)
    client.complete_many(requests)  # second time: all cache hits
    write_model_calls(Lake(home), client.take_records(), run_id="run-1")
    con = connect(home)
    rows = con.execute(
        "select asset, cache_hit, count(*), sum(prompt_tokens), sum(completion_tokens), min(status) "
        "from model_calls where video_id = ? group by all order by all",
        [video_id],
    ).fetchall()
    con.close()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("anchors", False, 3),
        ("anchors", True, 3),
        ("residuals", False, 1),
        ("residuals", True, 1),
    ]
    misses = [r for r in rows if not r[1]]
    assert all(r[3] > 0 and r[4] > 0 and r[5] == "ok" for r in misses)


def test_api_key_stays_out_of_reprs_and_versions(home, monkeypatch) -> None:
    """Unit level; tests/test_secrets.py scans a whole CLI run for a sentinel key."""
    secret = "sk-SENTINEL-7f3a9c"
    monkeypatch.setenv("CODECVDC_TEST_KEY", secret)
    from codecvdc_assets.definitions import build_resources

    resources = build_resources(
        {
            "text_model": {
                "backend": "openai",
                "model": TEXT_MODEL,
                "base_urls": ["http://127.0.0.1:9/v1"],
                "api_key_env": "CODECVDC_TEST_KEY",
            }
        },
        str(home),
    )
    settings = resources["text_model"].process_config_and_initialize().settings()  # as in a run
    assert settings.api_key == secret  # read from the environment through dg.EnvVar
    backend = build_client(settings, None).backend
    assert secret not in repr(backend) and secret not in repr(settings.version_fields())


def test_serve_embedded_command(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codecvdc_assets.cli", "serve-embedded", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                models = [m.id for m in client.models.list()]
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.3)
        assert models == [VISION_MODEL, TEXT_MODEL]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert isinstance(pd.__version__, str)


def test_blank_text_is_an_invalid_answer() -> None:
    """minLength counts spaces; a caption of blanks must be re-asked, not stored as an empty caption."""
    from codecvdc_assets.models.task_schemas import SCHEMAS
    from codecvdc_assets.models.validation import parse_answer

    assert parse_answer('{"caption": " \\n ", "entities": []}', SCHEMAS["anchor"]) == (None, "blank text at caption")
    item = {"frame_pair": [0, 1], "delta_caption": "\t ", "change_type": "none", "subject": ""}
    item |= {"zone_from": "none", "zone_to": "none", "direction": "none"}
    assert parse_answer(json.dumps({"residuals": [item]}), SCHEMAS["residual"]) == (
        None,
        "blank text at residuals/0/delta_caption",
    )
    assert parse_answer('{"narrative": "A cut."}', SCHEMAS["scene"]) == ({"narrative": "A cut."}, None)
