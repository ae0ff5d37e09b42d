"""A profile can be a YAML file anywhere (CODECVDC_PROFILE / --profile), not only a name under resources/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.settings import load_profile


def test_profile_file_extends_a_named_profile_and_a_relative_file(tmp_path: Path) -> None:
    base = tmp_path / "team.yaml"
    base.write_text(yaml.safe_dump({"extends": "embedded", "segmentation": {"sample_fps": 2.0}}))
    mine = tmp_path / "sub" / "mine.yml"
    mine.parent.mkdir()
    mine.write_text(
        yaml.safe_dump({"extends": "../team.yaml", "video_roots": ["/data/videos"], "automation": {"batch_size": 5}})
    )
    profile = load_profile(str(mine))
    assert profile["video_roots"] == ["/data/videos"]
    assert profile["segmentation"]["sample_fps"] == 2.0  # from team.yaml, relative to mine.yml
    assert profile["segmentation"]["tau_gop"] == 0.15  # from resources/embedded.yaml
    assert profile["automation"] == {**load_profile("embedded")["automation"], "batch_size": 5}


def test_profile_file_sets_sensor_intervals_and_cron(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fast.yaml"
    automation = {"video_files_interval_s": 2, "stale_interval_s": 3, "backfill_cron": "* * * * *"}
    path.write_text(yaml.safe_dump({"extends": "embedded", "automation": automation}))
    monkeypatch.setenv("CODECVDC_HOME", str(tmp_path / "home"))
    defs = build_definitions(str(path))
    sensors = {s.name: s for s in defs.sensors}
    assert sensors["video_files"].minimum_interval_seconds == 2
    assert sensors["stale_assets"].minimum_interval_seconds == 3
    assert sensors["stale_assets"].has_jobs  # a target: the daemon refuses RunRequests of a sensor without one
    assert next(s for s in defs.schedules if s.name == "caption_backfill").cron_schedule == "* * * * *"
    default = build_definitions("embedded")
    assert next(s for s in default.schedules if s.name == "caption_backfill").cron_schedule == "0 3 * * *"


def test_missing_profile_file_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    env = {"CODECVDC_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "codecvdc_assets.cli", "status", "--profile", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("codecvdc: error:")]
    assert errors == [f"codecvdc: error: profile {missing}: no such file"]
    assert "Traceback" not in proc.stderr
