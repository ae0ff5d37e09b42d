"""Context budgets (issue 21): a request that cannot fit its model's window is refused before it is
sent, in one line; long streams of requests are made only as they are sent."""

from __future__ import annotations

import json

import pytest

from codecvdc_assets.models import messages as m
from codecvdc_assets.models.budget import Budget, estimate_prompt_tokens
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, EmbeddedBackend
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest, Sampling


def _json(data: dict) -> str:
    return "```json\n" + json.dumps(data) + "\n```"


def test_a_request_over_the_window_is_refused_before_it_is_sent_in_one_line() -> None:
    client = ModelClient(EmbeddedBackend(TEXT_MODEL), Sampling(max_tokens=512), None, 2, context_tokens=2048)
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


def test_complete_stream_runs_a_lazy_stream_in_order_and_keeps_no_messages() -> None:
    made = []

    def stream():
        for i in range(600):
            made.append(i)
            scenes = [{"segment_idx": 0, "start_s": 0, "end_s": 1, "narrative": f"Scene number {i}."}]
            yield ModelRequest("video", [m.user(_json({"scenes": scenes}))], SCHEMAS["video"], video_id="v", asset="a")

    client = ModelClient(EmbeddedBackend(TEXT_MODEL), Sampling(max_tokens=256), None, 2, context_tokens=4096)
    results = client.complete_stream(stream())
    assert len(results) == 600 == len(made)
    assert [r.data["narrative"].split("Scene number ")[1] for r in results[:3]] == ["0.", "1.", "2."]
    assert all(r.ok and r.request.messages == [] and r.request.asset == "a" for r in results)
