"""Crash and resume: `codecvdc run` is SIGKILLed in the middle of a model step, then started again.

Real processes, a real signal, real clips (two from ../shared/videos, two generated). The embedded
backend's test knob CODECVDC_EMBEDDED_DELAY_S (seconds per call) widens the window in which a step is
in the middle of its calls; the kill is triggered by the step's own call journal, so it lands there
deterministically: after at least one call of the last video finished, before that video's table was
written, while its batch-mate's table of the same step is already in the lake.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.cli_helpers import CHAIN, SELECT_CHAIN, TABLES, add, cache_keys, cli, lake_table, model_calls, start, views
from support.paths import shared

from codecvdc_assets.video.synthetic import write_clip

BATCH = ["--batch-size", "2"]  # 4 videos -> 2 runs: the kill lands in the second run, the first is finished
DELAY_S = "0.3"


@pytest.fixture(scope="module")
def clip_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("crash_clips")
    cuts = write_clip(str(folder / "cuts.mp4"), 8.0, fps=25, width=192, height=144, cuts_s=(2.0, 5.0), keyint=12)
    shot_cuts = (6.0, 12.0, 18.0, 24.0)
    shots = write_clip(str(folder / "shots.mp4"), 30.0, fps=10, width=160, height=120, cuts_s=shot_cuts, keyint=20)
    # Partition order = registration order: runs [cityCC0, cuts], [bikes, shots]; shots is killed mid-step.
    return [shared("cityCC0.mpg"), cuts, shared("bikes.mp4"), shots]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, clip_paths: list[str]) -> Path:
    """An uninterrupted run in another home."""
    home = tmp_path_factory.mktemp("reference") / "home"
    add(home, clip_paths)
    cli(["run", *SELECT_CHAIN, *BATCH], home)
    return home


def wait_for_journaled_call(home: Path, proc, video_id: str, asset: str, timeout: float = 400) -> None:
    """Poll the step journals until a call of `asset` for `video_id` is recorded (the step is mid-way)."""
    folder = home / "journal" / "model_calls"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {asset} of {video_id} began")
        for path in folder.glob("*.jsonl") if folder.exists() else []:
            try:
                lines = path.read_text().splitlines()[1:]
            except FileNotFoundError:
                continue
            for line in lines:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # being written
                    continue
                if row["asset"] == asset and row["video_id"] == video_id and not row["cache_hit"]:
                    return
        time.sleep(0.01)
    raise AssertionError(f"no {asset} call for {video_id} within {timeout} s")


def materializations(home: Path, video_ids: list[str]) -> dict[tuple[str, str], list[int]]:
    """Storage ids of every materialization, per (asset, video)."""
    keys = [*CHAIN, "frames"]
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return {
            (name, vid): [
                r.storage_id
                for r in instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[vid]), limit=1000
                ).records
            ]
            for name in keys
            for vid in video_ids
        }


def run_statuses(home: Path) -> dict[str, str]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return {r.run_id: r.status.value for r in instance.get_runs()}


def data_files(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_mtime_ns for p in (home / "lake").glob("*/video_id=*/data.parquet")}


def assert_lake_readable(home: Path) -> int:
    """Every view of the catalog answers and every Parquet file the lake globs see reads cleanly; no
    temp file is among them. Returns the number of files read."""
    files = sorted((home / "lake").glob("*/*/*.parquet"))
    for path in files:
        assert not path.name.startswith(".tmp-"), f"a temp file is visible to the lake globs: {path}"
        pq.read_table(path)
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    try:
        for view in views():
            con.execute(f"select count(*) from {view}").fetchone()
    finally:
        con.close()
    return len(files)


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["residuals", "scene_narratives"])
def test_killed_run_resumes_without_repeating_work(
    asset: str, tmp_path: Path, clip_paths: list[str], reference: Path
) -> None:
    home = tmp_path / "home"
    ids = add(home, clip_paths)
    target, mate = ids[3], ids[2]
    log = tmp_path / "killed.log"
    proc = start(["run", *SELECT_CHAIN, *BATCH], home, log, CODECVDC_EMBEDDED_DELAY_S=DELAY_S)
    try:
        wait_for_journaled_call(home, proc, target, asset)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and anything it started
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, log.read_text()

    # Killed in the middle of the step: the batch-mate's table is written, the target's is not.
    assert (home / "lake" / asset / f"video_id={mate}" / "data.parquet").exists()
    assert not (home / "lake" / asset / f"video_id={target}" / "data.parquet").exists()
    assert list((home / "journal" / "model_calls").glob("*.jsonl")), "the killed step left no journal"
    assert "STARTED" in run_statuses(home).values()
    paid_before = cache_keys(home)
    done_before = {k: v for k, v in materializations(home, ids).items() if v}
    files_before = data_files(home)
    assert ("video_narratives", ids[0]) in done_before and (asset, target) not in done_before
    assert assert_lake_readable(home) > 0

    resumed = cli(["run", "--stale", *SELECT_CHAIN, *BATCH], home)
    assert "recovered from a killed run: 1 run(s) marked failed" in resumed.stdout, resumed.stdout
    print(resumed.stdout.splitlines()[0], f"; {len(paid_before)} calls paid before the kill")
    # --stale: only the killed batch's unfinished assets are materialized again.
    assert f"materializing {', '.join(CHAIN[CHAIN.index(asset) :])} for 2 video(s)" in resumed.stdout, resumed.stdout
    assert "2 video(s) ok, 0 failed" in resumed.stdout, resumed.stdout
    assert "STARTED" not in run_statuses(home).values()  # the dead run was marked failed
    assert not list((home / "journal" / "model_calls").glob("*")), "a journal was left behind"

    # (a) Zero repeated successful calls, and no lost record: every cache entry (every answer paid for)
    # has exactly one paid `ok` row in model_calls, including those the killed step made.
    calls = model_calls(home)
    paid = calls[~calls["cache_hit"] & (calls["status"] == "ok")]
    repeated = paid["cache_key"][paid["cache_key"].duplicated()]
    assert repeated.empty, f"{len(repeated)} call(s) paid twice"
    assert set(paid["cache_key"]) == cache_keys(home)
    assert paid_before <= set(paid["cache_key"])
    reused = calls[calls["cache_hit"] & calls["cache_key"].isin(paid_before)]
    assert len(reused) > 0  # the resumed run got the killed step's answers from the cache

    # (b) Partitions finished before the kill are not materialized again; their lake files are untouched.
    done_after = materializations(home, ids)
    for key, storage_ids in done_before.items():
        assert done_after[key] == storage_ids, f"{key} was materialized again"
    files_after = data_files(home)
    for name, mtime in files_before.items():
        table, folder = name.split("/")[1:3]
        if (table, folder.removeprefix("video_id=")) in done_before:
            assert files_after[name] == mtime, f"{name} was rewritten"
    assert all(done_after[(name, vid)] for name in CHAIN for vid in ids)

    # (c) The final tables equal those of an uninterrupted run.
    for table in TABLES:
        pd.testing.assert_frame_equal(lake_table(home, table), lake_table(reference, table), obj=table)
    assert assert_lake_readable(home) > 0


def wait_for_frames(home: Path, proc, at_least: int, timeout: float = 300) -> int:
    """Poll the frame store until `at_least` JPEGs are written (segmentation is mid-way through the clip)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {at_least} frames were written")
        n = len(list((home / "frames").glob("*/*.jpg"))) if (home / "frames").exists() else 0
        if n >= at_least:
            return n
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} frames within {timeout} s")


def plant_spool(home: Path, pid: int, ticks: str, host: str) -> Path:
    """A spool folder with one temp file, as a writer `pid` on `host` would leave it (storage/atomic.py)."""
    folder = home / ".spool" / f"{pid}-{ticks}-{host}"
    folder.mkdir(parents=True)
    path = folder / ".tmp-abcd_123.part"
    path.write_bytes(b"half a frame")
    return path


@pytest.mark.slow
def test_kill_during_segmentation_leaves_no_temp_files(tmp_path: Path) -> None:
    """SIGKILL while `segments`/`frames` decode a long clip: no temp file is ever among the lake's or the
    frame store's files, the next run removes the dead writer's spool (and dead ones planted beside it)
    while a live process's temp file stays, and the resumed run completes the clip."""
    import socket
    import subprocess

    import cv2

    from codecvdc_assets.storage.processes import start_ticks

    clip = write_clip(str(tmp_path / "long.mp4"), 150.0, fps=10, width=160, height=120, cuts_s=(40.0, 90.0))
    home = tmp_path / "home"
    [video_id] = add(home, [clip])
    select = ["--select", "videos", "--select", "segments"]
    log = tmp_path / "killed.log"
    proc = start(["run", *select], home, log)
    live = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        written = wait_for_frames(home, proc, 20)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, log.read_text()
        spools = sorted((home / ".spool").iterdir())
        assert len(spools) == 1 and spools[0].name.startswith(f"{proc.pid}-"), spools
        print(f"killed after {written} frames; {len(list(spools[0].iterdir()))} temp file(s) in its spool")
        for top in ("frames", "lake"):
            assert not [p for p in (home / top).rglob(".tmp-*")], f"a temp file among the files of {top}/"
        assert not (home / "lake" / "frames" / f"video_id={video_id}" / "data.parquet").exists()

        # Beside the killed writer's spool: a live process's (kept), a dead one's and another host's.
        kept = plant_spool(home, live.pid, start_ticks(live.pid) or "", socket.gethostname())
        reused = plant_spool(home, live.pid, "1", socket.gethostname())  # same pid, another start: dead
        elsewhere = plant_spool(home, 999999, "5", "another-host.example")  # not ours to judge

        resumed = cli(["run", "--stale", *select], home)
        assert "1 video(s) ok, 0 failed" in resumed.stdout, resumed.stdout
        assert kept.exists() and elsewhere.exists() and not reused.exists()
        assert not spools[0].exists(), "the killed run's spool is still there"
        left = sorted(p.parent.name for p in (home / ".spool").rglob(".tmp-*"))
        assert left == sorted([kept.parent.name, elsewhere.parent.name]), left

        frames = lake_table(home, "frames")
        assert len(frames) == 150 and len(frames) > written  # 1 fps over 150 s, more than before the kill
        for sha in frames["sha256"]:  # every frame the table names is a whole, decodable JPEG
            assert cv2.imread(str(home / "frames" / sha[:2] / f"{sha}.jpg")) is not None, sha
        segments = lake_table(home, "segments")
        assert {40.0, 90.0} <= set(segments["start_s"].round(1)) and segments["end_s"].max() > 149
    finally:
        for p in (proc, live):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
