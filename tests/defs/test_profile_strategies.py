"""Strategies per profile (issue 21): a dataset build names `strategies: [codeccap]` and its graph, so
`codecvdc run`, the sensors, the schedule and the UI's jobs, holds no baseline; the embedded demo keeps all."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.cli_helpers import cli

from codecvdc_assets.captioning.strategies import ALL, STRATEGIES, dropped_assets, profile_strategies
from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.video.synthetic import write_clip

BASELINES = {"direct_captions", "per_second_captions", "longcap_frames", "longcap_clips", "longcap_video",
             "longcap_sections"}  # fmt: skip


def _profile(tmp_path: Path, strategies: list[str]) -> Path:
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump({"extends": "embedded", "strategies": strategies}))
    return path


def test_profile_strategies_parse_and_refuse_bad_values() -> None:
    assert profile_strategies({}) == ALL
    assert profile_strategies({"strategies": ["longcaption", "codeccap"]}) == ("codeccap", "longcaption")
    with pytest.raises(ValueError, match=r"profile p: strategies: unknown dense; known: codeccap, direct"):
        profile_strategies({"name": "p", "strategies": ["codeccap", "dense"]})
    with pytest.raises(ValueError, match="must include codeccap"):
        profile_strategies({"strategies": ["direct"]})
    with pytest.raises(ValueError, match="must be a list"):
        profile_strategies({"strategies": "codeccap"})
    assert dropped_assets(["codeccap"]) == BASELINES
    assert set(STRATEGIES) == {"codeccap", "direct", "per_second", "longcaption"}


def test_a_build_profile_graph_and_its_sensor_schedule_and_jobs_hold_codeccap_only(tmp_path: Path) -> None:
    full = build_definitions("embedded", str(tmp_path / "h1"))
    build = build_definitions(str(_profile(tmp_path, ["codeccap"])), str(tmp_path / "h2"))
    keys = {k.to_user_string() for k in build.resolve_asset_graph().get_all_asset_keys()}
    all_keys = {k.to_user_string() for k in full.resolve_asset_graph().get_all_asset_keys()}
    assert all_keys >= BASELINES and not BASELINES & keys
    assert {"video_narratives", "chapter_narratives", "vidcapqa_answers"} <= keys
    graph = build.resolve_asset_graph()
    answers = graph.get(dg.AssetKey("vidcapqa_answers"))
    assert not {p.to_user_string() for p in answers.parent_keys} & BASELINES
    # The schedule and the stale sensor target every asset of this graph: none of the dropped ones.
    for target in (build.resolve_schedule_def("caption_backfill"), build.resolve_sensor_def("stale_assets")):
        job = build.resolve_job_def(target.job_name)
        selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
        assert selected == keys
    # The versions of what both graphs hold are the same (switching profiles re-runs only the answers).
    versions = {k.to_user_string(): v for a in build.assets for k, v in a.code_versions_by_key.items()}
    full_versions = {k.to_user_string(): v for a in full.assets for k, v in a.code_versions_by_key.items()}
    differ = {k for k in versions if versions[k] != full_versions.get(k)}
    assert differ == {"vidcapqa_answers"}


def test_codecvdc_run_on_a_build_profile_materializes_no_baseline(tmp_path: Path) -> None:
    clip = tmp_path / "shots.mp4"
    write_clip(str(clip), 4.0, fps=10, width=160, height=90, cuts_s=[2.0])
    home = tmp_path / "home"
    cli(["add", str(clip)], home)
    out = cli(["run", "--profile", str(_profile(tmp_path, ["codeccap"]))], home).stdout
    assert "0 failed" in out
    written = {p.parent.name for p in (home / "lake").glob("*/video_id=*")}  # tables with a video's rows
    assert {"anchors", "video_narratives", "chapter_narratives"} <= written and not written & BASELINES
