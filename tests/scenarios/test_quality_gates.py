"""The caption quality gates through real Dagster runs against `codecvdc serve-embedded` (a real process)
answering with each degenerate kind: the answers are flagged, re-asked (three asks, three cache keys),
recorded in caption_quality with their attempt, never accepted as evidence, counted in the metadata; the
per-asset quality check fails above the threshold; the release leaves those rows out and its card says
why. One caption for every video: duplicates across videos, left out of the release."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from support.model_helpers import loopback_project
from support.paths import shared
from support.services import free_port, stop_group, wait_for_port

from codecvdc_assets.cli import main
from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.quality.settings import QualitySettings
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.settings import dagster_home
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.video.synthetic import write_clip

CHAIN = ["videos", "segments", "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]
ASKS = 1 + QualitySettings().reask_attempts
# kind -> (the flag, the assets whose every caption it flags, re-asked)
KINDS = {
    "loop": ("repetition", ["anchors", "residuals", "scene_narratives", "video_narratives"], True),
    "refusal": ("refusal", ["anchors", "residuals", "scene_narratives", "video_narratives"], True),
    "echo": ("prompt_echo", ["anchors", "residuals", "scene_narratives", "video_narratives"], True),
    "foreign": ("language", ["anchors", "residuals", "scene_narratives", "video_narratives"], True),
    # One sentence for every frame: the video's residuals collapse (found over the video: recorded, not re-asked).
    "same_sentence": ("collapse", ["residuals"], False),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quality-pipeline")
    loopback_project(root / "project")
    write_clip(str(root / "eight.mp4"), 8.0, fps=10, seed=3)  # one scene, 8 frames: 7 residuals
    return root


def serve(kind: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codecvdc_assets.cli", "serve-embedded", "--port", str(port)]
            + ["--fault-rate", "1", "--faults", kind],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, 60, proc)
    except Exception:
        stop_group(proc)
        raise
    return proc, f"http://127.0.0.1:{port}/v1"


def run(root: Path, home: Path, kind: str, clips: list[str], mp: pytest.MonkeyPatch):
    mp.setenv("CODECVDC_PROJECT_DIR", str(root / "project"))
    mp.setenv("CODECVDC_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    mp.setenv("CODECVDC_PROFILE", "loopback")
    mp.setenv("LOOPBACK_KEY", "sk-test-quality")
    home.mkdir()
    dagster_home(home)
    instance = dg.DagsterInstance.get()
    ids = [Registry(home).register(c)[0].video_id for c in clips]
    add_partitions(instance, ids)
    proc, url = serve(kind, home / "server.log")
    try:
        mp.setenv("LOOPBACK_URL", url)
        defs = build_definitions("loopback", str(home))
        outcomes = materialize_many(defs, instance, {v: expand_selection(defs, CHAIN) for v in ids}, Lake(home))
    finally:
        stop_group(proc)
    return ids, outcomes


def query(home: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = connect(home)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def export(out: Path, *extra: str) -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["export", str(out), *extra])
    assert code == 0, stderr.getvalue()
    return stdout.getvalue()


def released(out: Path, config: str) -> pd.DataFrame:
    """The config's exported rows (a shard whose rows are all left out has no file)."""
    files = sorted((out / config).glob("*.parquet"))
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in files]!r})").df() if files else pd.DataFrame()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_degenerate_answers_are_flagged_reasked_recorded_and_left_out(project: Path, kind: str) -> None:
    flag, assets, reasked = KINDS[kind]
    home = project / f"home-{kind}"
    with pytest.MonkeyPatch.context() as mp:
        (vid,), (outcome,) = run(project, home, kind, [str(project / "eight.mp4")], mp)
        # The per-asset check fails where the flagged share passes the threshold (5 %): here every caption.
        # It does not block: the video's assets are written and `codecvdc run` says so beside "ok".
        assert outcome.ok, outcome.error
        said = "; ".join(outcome.warnings)
        for asset in assets:
            assert f"{asset}/{asset}_quality: flagged share 100.0% > 5.0% (flags: {flag}" in said, said
        assert set(CHAIN) <= set(outcome.materialized)  # flagged captions are kept: nothing downstream waits

        quality = query(home, "select * from caption_quality where video_id = ?", [vid])
        calls = query(home, "select asset, cache_key, error from model_calls where video_id = ?", [vid])
        for asset in assets:
            table = Lake(home).read(asset, vid)
            mine = quality[(quality["asset"] == asset) & (quality["flag"] == flag)]
            assert len(mine) == len(table) > 0  # every caption recorded with its flag
            assert set(mine["attempt"]) == {ASKS if reasked else 1}
            flagged_calls = calls[(calls["asset"] == asset) & (calls["error"] == f"flagged: {flag}")]
            if reasked:  # each request asked 3 times, each ask its own cache key, all recorded as flagged
                assert (
                    len(flagged_calls) > 0 and len(flagged_calls) % ASKS == 0 and flagged_calls["cache_key"].is_unique
                )
                if asset in ("anchors", "video_narratives"):  # one request each for this one-scene clip
                    assert len(flagged_calls) == ASKS
            else:
                assert flagged_calls.empty
        # Never evidence: every residual flagged -> a rejected `quality` row each, no event from a residual
        # accepted (attribute_lock rows hold the anchor's entity attributes: no residual behind them).
        evidence = Lake(home).read("evidence", vid)
        residuals = Lake(home).read("residuals", vid)
        assert (evidence["rule"] == "quality").sum() == len(residuals)
        assert not evidence[evidence["rule"] != "attribute_lock"]["accepted"].any()
        assert all(flag in r for r in evidence[evidence["rule"] == "quality"]["reason"])

        out = project / f"release-{kind}"
        printed = export(out)
        levels = {"anchors": "anchors", "residuals": "residuals", "scene_narratives": "scene_narratives"}
        levels["video_narratives"] = "video_narratives"
        for asset in assets:
            assert released(out, levels[asset]).empty  # the flagged rows are left out
            assert f"left out: {len(Lake(home).read(asset, vid))} flagged {asset} row(s) ({flag}" in printed
        card = (out / "README.md").read_text()
        section = card.split("## Caption quality")[1]
        assert "left out of this release" in section and f"| {flag} |" in section.splitlines()[4] + " |"
        for asset in assets:
            row = next(line for line in section.splitlines() if line.startswith(f"| `{asset}` |"))
            assert row.split("|")[2].strip() == str(len(Lake(home).read(asset, vid)))
        # The report's section and the SQL summary count them.
        export_report = project / f"report-{kind}.html"
        stdout = io.StringIO()
        with redirect_stdout(stdout):
            assert main(["report", "-o", str(export_report)]) == 0
        section = export_report.read_text().split("<h2>Caption quality</h2>")[1]
        for asset in assets:
            assert f"<td>{asset}</td><td>{flag}</td><td>{len(Lake(home).read(asset, vid))}</td>" in section
        # --include-flagged keeps them, and the card says so.
        kept = project / f"release-{kind}-kept"
        export(kept, "--include-flagged")
        assert len(released(kept, "residuals")) == len(residuals)
        assert "kept in this release (--include-flagged)" in (kept / "README.md").read_text()


def test_one_caption_for_every_video_is_left_out_as_a_duplicate(project: Path) -> None:
    home = project / "home-one-caption"
    clips = [shared("counter.mp4"), str(project / "eight.mp4")]
    with pytest.MonkeyPatch.context() as mp:
        ids, outcomes = run(project, home, "one_caption", clips, mp)
        # No caption alone is flagged; the 8-second clip's residuals are all that caption: a collapse.
        assert all(o.ok for o in outcomes), [o.error for o in outcomes]
        errors = [w for o in outcomes for w in o.warnings]
        assert errors == [
            f"residuals/residuals_quality: flagged share 100.0% > 5.0% (flags: collapse 7); failing videos: {ids[1]}"
        ], errors
        calls = query(home, "select count(*) as n from model_calls where error like 'flagged:%'")
        assert calls["n"][0] == 0  # nothing re-asked
        narratives = Lake(home).read_all("video_narratives")
        assert narratives["narrative"].nunique() == 1 and len(narratives) == 2
        out = project / "release-one-caption"
        printed = export(out, "--splits", "train=1")
        assert released(out, "video_narratives").empty
        assert "left out: 2 flagged video_narratives row(s) (duplicate 2)" in printed
        card = (out / "README.md").read_text().split("## Caption quality")[1]
        row = next(line for line in card.splitlines() if line.startswith("| `video_narratives` |"))
        assert row.split("|")[2].strip() == "2"
        assert sorted(released(out, "videos")["video_id"]) == sorted(ids)
