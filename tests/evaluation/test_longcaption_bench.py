"""LongCaption-Bench scores: S_l by hand, the judges through the model layer (embedded rule judge, cache,
re-ask on an invalid answer), bootstrap CIs and duration buckets, and `codecvdc evaluate long`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import support.dense_helpers as h

from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.cli import main
from codecvdc_assets.evaluation.lake_metrics import load_long_references
from codecvdc_assets.evaluation.longcaption_bench import Item, bucket_of, length_score, score_items, summarize
from codecvdc_assets.models.cache import CallCache
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import EmbeddedBackend
from codecvdc_assets.models.types import RawAnswer

PROMPTS = {t: load_prompt(t) for t in ("lc_quality", "lc_relevance")}
GENERIC = "The video shows some things. Some things happen. The video shows some things."


def test_length_score_by_hand() -> None:
    assert length_score(100, 100) == 100
    assert length_score(100, 200) == pytest.approx(100 * (1 - 1 / 3))  # twice as long: -1/3
    assert length_score(100, 400) == 0  # four times as long: floor at 0
    assert length_score(100, 50) == pytest.approx(50)  # half as long: 100 (1 - (2 - 1) / 2)
    assert length_score(100, 25) == 0
    assert length_score(100, 0) == 0
    with pytest.raises(ValueError):
        length_score(0, 10)


def test_buckets_follow_longcaption_bench() -> None:
    assert bucket_of(299.9) == "[0s, 300s)" and bucket_of(300) == "[300s, 600s)"
    assert bucket_of(1199) == "[900s, 1200s)" and bucket_of(1800) == "[1200s, 1800s]"
    assert bucket_of(1800.5) == "(1800s, inf)" and bucket_of(None) is None


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    path = tmp_path_factory.mktemp("long") / "yc2.json"
    path.write_text(json.dumps(h.subset(h.youcook2(), 30)))
    return load_long_references(str(path))


def _items(references: list[dict]) -> list[Item]:
    own = [Item("reference", r["video_id"], r["reference"], r["reference"], r["duration"]) for r in references]
    generic = [Item("generic", r["video_id"], GENERIC, r["reference"], r["duration"]) for r in references]
    return own + generic


def test_youcook2_sentences_joined_per_video(references: list[dict]) -> None:
    first = h.youcook2()[sorted(h.youcook2())[0]]
    assert references[0]["reference"].startswith(first["sentences"][0] + ". ")
    assert references[0]["duration"] == first["duration"]


def test_embedded_judge_scores_cached_and_recorded(tmp_path: Path, references: list[dict]) -> None:
    client = ModelClient(EmbeddedBackend("embedded-rules-v3"), cache=CallCache(str(tmp_path / "cache")))
    rows = score_items(_items(references), client, PROMPTS)
    first = client.take_records()
    assert len(first) == 2 * len(rows) and all(r.status == "ok" for r in first)
    # The generic caption's quality request is the same for every video: asked once, then a cache hit.
    assert len({r.cache_key for r in first}) == 3 * len(references) + 1
    own = [r for r in rows if r["source"] == "reference"]
    generic = [r for r in rows if r["source"] == "generic"]
    assert all(r["S_l"] == 100 and r["S_r"] == 5 for r in own)
    assert all(r["S_r"] < 3 and r["S_l"] < 20 for r in generic)
    assert sum(r["S_q"] for r in own) > sum(r["S_q"] for r in generic)
    assert all(20 <= r["S_q"] <= 100 for r in rows)
    again = score_items(_items(references), client, PROMPTS)
    assert again == rows and all(r.cache_hit for r in client.take_records())

    table = summarize(rows, seed=0, resamples=1000)
    overall = {(r["source"], r["metric"]): r for r in table if r["subset"] == "overall"}
    for (_, metric), r in overall.items():
        assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] == len(references), metric
    buckets = {r["subset"] for r in table}
    assert {"overall", "[0s, 300s)", "[300s, 600s)"} <= buckets  # YouCook2 videos are 1-10 minutes long
    per_bucket = sum(
        r["n"] for r in table if r["source"] == "generic" and r["metric"] == "S_l" and r["subset"] != "overall"
    )
    assert per_bucket == len(references)


class _OnceInvalid:
    """A backend whose first answer to each request is not JSON, like a model that rambles."""

    name, model = "flaky", "flaky-judge"

    def __init__(self) -> None:
        self.calls = 0
        self.inner = EmbeddedBackend("embedded-rules-v3")

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def chat(self, messages, task, schema, sampling) -> RawAnswer:
        self.calls += 1
        if len(messages) == 2:  # the first ask (a re-ask appends the answer and the reason)
            return RawAnswer("Sure! The caption is rather good, I would say 4.", 10, 12)
        return await self.inner.chat(messages[:2], task, schema, sampling)


def test_invalid_judge_answers_are_asked_again(references: list[dict]) -> None:
    backend = _OnceInvalid()
    client = ModelClient(backend)
    rows = score_items(_items(references)[:2], client, PROMPTS)
    assert backend.calls == 8 and all(r["S_q"] is not None and r["S_r"] is not None for r in rows)
    records = client.take_records()
    assert sorted((r.status, r.attempt) for r in records) == [("invalid", 1)] * 4 + [("ok", 2)] * 4


def test_cli_long_with_a_captions_file(
    tmp_path: Path, home: Path, references: list[dict], capsys: pytest.CaptureFixture
) -> None:
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps(r) + "\n" for r in references[:6]))
    captions = tmp_path / "captions.jsonl"
    rows = [{"video_id": r["video_id"], "caption": r["reference"], "source": "copy"} for r in references[:6]]
    rows += [{"video_id": r["video_id"], "caption": GENERIC, "source": "generic"} for r in references[:6]]
    captions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["evaluate", "long", "--references", str(refs), "--captions", str(captions), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    s_r = {r["source"]: r["value"] for r in out["rows"] if r["metric"] == "S_r" and r["subset"] == "overall"}
    assert s_r == {"copy": 5.0, "generic": pytest.approx(s_r["generic"])} and s_r["generic"] < 3
    # Every judge call went through the model layer and is in model_calls.
    from codecvdc_assets.storage.lake import Lake

    calls = Lake(home).read_all("model_calls")
    assert len(calls[calls["asset"] == "caption_metrics"]) == 2 * len(rows)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video_id": "v_unknown", "caption": "x"}\n')
    assert main(["evaluate", "long", "--references", str(refs), "--captions", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not in the references" in err and str(bad) in err
