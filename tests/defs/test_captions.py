"""The caption chain through Dagster: checks, prompt-change re-materialization, SQL statistics."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from support.paths import PROJECT, shared

from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.defs.checks import expectations as ex
from codecvdc_assets.defs.sensors import build_stale_sensor
from codecvdc_assets.runs.batching import RANGE_END, RANGE_START
from codecvdc_assets.runs.execute import materialize_batch, materialize_global, materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.runs.status import partition_status
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's prompts, SQL and profiles that a test may edit."""
    root = tmp_path / "project"
    for name in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / name, root / name)
    monkeypatch.setenv("CODECVDC_PROJECT_DIR", str(root))
    return root


def setup_videos(home: Path, *names: str) -> tuple[dg.Definitions, dg.DagsterInstance, list[str]]:
    registry = Registry(home)
    ids = [registry.register(shared(n))[0].video_id for n in names]
    defs = build_definitions(home=str(home))
    instance = dg.DagsterInstance.get()
    add_partitions(instance, ids)
    return defs, instance, ids


def calls(home: Path, sql: str) -> list[tuple]:
    con = connect(home)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_prompt_change_rematerializes_exactly_the_affected_assets(home: Path, project: Path) -> None:
    defs, instance, ids = setup_videos(home, "bikes.mp4", "cityCC0.mpg")
    outcomes = materialize_many(defs, instance, {v: expand_selection(defs, None) for v in ids}, Lake(home))
    # 4 GX suites and 9 caption quality checks (one per caption asset), each once for the batched run
    assert all(o.ok and o.checks == 13 for o in outcomes), [(o.error, o.checks) for o in outcomes]
    assert outcomes[0].run_id == outcomes[1].run_id  # both videos in one batched run
    before = {
        name: count
        for name, count in calls(home, "select asset, count(*) from model_calls where not cache_hit group by asset")
    }
    assert before["anchors"] == 6 + 2 and before["residuals"] >= 2

    (project / "prompts" / "residual.md").write_text(
        (project / "prompts" / "residual.md").read_text() + "\nBe concise.\n"
    )
    defs2 = build_definitions(home=str(home))  # the code location reloads with the new prompt
    status = partition_status(defs2, instance, Lake(home), ids)
    for row in status.values():
        assert row == {
            "videos": "fresh",
            "segments": "fresh",
            "frames": "fresh",
            "anchors": "fresh",
            "residuals": "stale",
            "evidence": "stale",
            "scene_narratives": "stale",
            "video_narratives": "stale",
            "chapter_narratives": "stale",  # made with the video narrative (long videos)
            "direct_captions": "fresh",  # the baselines do not read residuals
            "per_second_captions": "fresh",
            "longcap_frames": "fresh",  # LongCaption-Agent does not read residuals either
            "longcap_clips": "fresh",
            "longcap_video": "fresh",
            "longcap_sections": "fresh",
            "vidcapqa_answers": "stale",  # reads the narratives
        }

    sensor = build_stale_sensor(lambda: defs2)
    from codecvdc_assets.defs.resources import LakeResource

    context = dg.build_sensor_context(instance=instance, resources={"lake": LakeResource(home=str(home))})
    result = sensor(context)
    # One request for both videos: they need the same assets and are contiguous partitions.
    (request,) = result.run_requests
    selection = [k.to_user_string() for k in request.asset_selection]
    assert selection == [
        "residuals", "evidence", "scene_narratives", "chapter_narratives", "video_narratives", "vidcapqa_answers"
    ]  # fmt: skip
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (ids[0], ids[1])
    # Run what the automation asked for, as the daemon would.
    outcomes = materialize_batch(defs2, instance, ids, list(request.asset_selection), Lake(home))
    assert all(o.ok for o in outcomes) and outcomes[0].run_id == outcomes[1].run_id
    for outcome in outcomes:
        assert sorted(outcome.materialized) == [
            "chapter_narratives",
            "evidence",
            "residuals",
            "scene_narratives",
            "vidcapqa_answers",
            "video_narratives",
        ]
    # The scores sum up all videos: stale now, asked for by the next evaluation as one dataset-level run.
    followup = sensor(dg.build_sensor_context(instance=instance, resources={"lake": LakeResource(home=str(home))}))
    (score_request,) = followup.run_requests
    assert [k.to_user_string() for k in score_request.asset_selection] == ["vidcapqa_scores"]
    assert score_request.partition_key is None
    assert materialize_global(defs2, instance, list(score_request.asset_selection)).ok

    after = {
        name: count
        for name, count in calls(home, "select asset, count(*) from model_calls where not cache_hit group by asset")
    }
    assert after["anchors"] == before["anchors"]  # zero new anchor calls
    assert after["residuals"] == 2 * before["residuals"]  # the new prompt: every window asked again
    assert after["scene_narratives"] == before["scene_narratives"]  # same evidence: answered from the cache
    assert all(set(row.values()) == {"fresh"} for row in partition_status(defs2, instance, Lake(home), ids).values())
    # Nothing left to do: the same state never asks for another run.
    again = sensor(
        dg.build_sensor_context(instance=instance, resources={"lake": LakeResource(home=str(home))}, cursor=None)
    )
    assert again.run_requests == []


def test_caption_tables_and_stats(home: Path) -> None:
    defs, instance, ids = setup_videos(home, "bikes.mp4")
    (outcome,) = materialize_many(defs, instance, {ids[0]: expand_selection(defs, None)}, Lake(home))
    assert outcome.ok, outcome.error
    lake = Lake(home)
    anchors, residuals = lake.read("anchors", ids[0]), lake.read("residuals", ids[0])
    segments, frames = lake.read("segments", ids[0]), lake.read("frames", ids[0])
    assert list(anchors["segment_idx"]) == list(segments["segment_idx"])
    # One residual per adjacent pair of frames within each segment.
    expected_pairs = int((frames.groupby("segment_idx").size() - 1).clip(lower=0).sum())
    assert len(residuals) == expected_pairs
    evidence = lake.read("evidence", ids[0])
    assert set(evidence["rule"]) <= {"continuous", "contradiction", "discrete", "attribute", "attribute_lock"}
    video = lake.read("video_narratives", ids[0]).iloc[0]
    assert video["n_segments"] == len(segments) and video["narrative"].startswith(
        f"The video has {len(segments)} scenes. Scene 1"
    )

    text = (PROJECT / "sql" / "caption_stats.sql").read_text()
    con = connect(home)
    try:
        results = [con.execute(s.query).fetchdf() for s in con.extract_statements(text)]
    finally:
        con.close()
    overview = results[0].iloc[0]
    assert overview["videos"] == 1
    assert overview["hours"] == pytest.approx(10.0 / 3600, rel=1e-6)
    assert overview["median_segments_per_video"] == len(segments)
    assert overview["mean_words_per_anchor"] == pytest.approx(anchors["n_words"].mean())
    assert overview["median_words_per_anchor"] == pytest.approx(anchors["n_words"].median())
    assert overview["residuals_per_video"] == len(residuals)
    assert overview["words_per_residual"] == pytest.approx(residuals["n_words"].mean())
    assert overview["none_share"] == pytest.approx((residuals["change_type"] == "none").mean())
    levels = results[1].set_index("level")
    assert levels.loc["anchor", "words"] == anchors["n_words"].sum()
    assert levels.loc["residual", "words"] == residuals["n_words"].sum()
    model_calls = pd.concat([pd.read_parquet(p) for p in (home / "lake" / "model_calls").glob("video_id=*/*.parquet")])
    anchor_tokens = model_calls[model_calls["asset"] == "anchors"]["completion_tokens"].sum()
    assert levels.loc["anchor", "completion_tokens"] == anchor_tokens
    rules = results[2]
    assert rules["n"].sum() == len(evidence)


def test_a_bad_table_fails_the_check_with_a_readable_reason(home: Path) -> None:
    segments = pd.DataFrame({"segment_idx": [0, 1, 2]})
    anchors = pd.DataFrame({"segment_idx": [0, 1], "caption": ["A red car.", "x"], "n_words": [3, 1]})
    outcome = ex.validate(anchors, ex.anchor_expectations(segments, 10, 1500), "anchors")
    assert not outcome.passed
    text = outcome.summary()
    assert "expect_column_values_to_be_between(n_words): 2 unexpected" in text
    assert "expect_column_distinct_values_to_equal_set(segment_idx)" in text

    # Through Dagster: with bounds the real anchors cannot meet, the blocking check fails inside the run
    # and nothing downstream of anchors is materialized.
    from codecvdc_assets.definitions import build_assets, build_resources
    from codecvdc_assets.defs.checks.captions import CHECKS

    registry = Registry(home)
    video_id = registry.register(shared("counter.mp4"))[0].video_id
    instance = dg.DagsterInstance.get()
    add_partitions(instance, [video_id])
    with pytest.raises(ValueError, match="anchor_words_min"):
        build_resources({"captioning": {"anchor_words_min": 5000}}, str(home))  # above the default max
    resources = build_resources({"captioning": {"anchor_words_min": 5000, "anchor_words_max": 9000}}, str(home))
    strict = dg.Definitions(assets=build_assets(resources), asset_checks=CHECKS, resources=resources)
    (outcome,) = materialize_many(strict, instance, {video_id: expand_selection(strict, None)}, Lake(home))
    assert not outcome.ok
    assert (
        "anchors_gx" in outcome.error and "expect_column_values_to_be_between(n_words): 1 unexpected" in outcome.error
    )
    # Residuals read the anchors (residual_context: anchor), so they are downstream too.
    assert "anchors" in outcome.materialized and "longcap_frames" in outcome.materialized
    assert not {"residuals", "evidence", "scene_narratives", "video_narratives"} & set(outcome.materialized)
