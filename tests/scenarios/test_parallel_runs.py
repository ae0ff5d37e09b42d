"""Parallel runs on one home: separate `codecvdc run` processes over different videos, and one run with
the multiprocess executor, while another thread keeps querying the catalog.

Checked: every process exits 0; no lock error in any output or Dagster event log; the lake holds exactly
the rows of a sequential run (every caption table equal, model_calls with the same rows per video and
asset); one cache entry per paid call; and not one of the concurrent queries failed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from support.cli_helpers import SELECT_CHAIN, TABLES, add, cache_keys, cli, lake_table, model_calls, start
from support.paths import shared

from codecvdc_assets.storage.catalog import catalog_path, connect
from codecvdc_assets.video.synthetic import write_clip

# SQLite's and DuckDB's lock errors, and any crash.
LOCK_WORDS = ("database is locked", "could not set lock", "conflicting lock", "io error", "traceback")


@pytest.fixture(scope="module")
def clip_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("parallel_clips")
    cuts = write_clip(str(folder / "cuts.mp4"), 8.0, fps=25, width=192, height=144, cuts_s=(2.0, 5.0), keyint=12)
    moving = write_clip(str(folder / "moving.mp4"), 12.0, fps=10, width=160, height=120, cuts_s=(4.0,), seed=3)
    return [shared("bikes.mp4"), shared("counter.mp4"), cuts, moving]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory, clip_paths: list[str]) -> Path:
    home = tmp_path_factory.mktemp("sequential") / "home"
    add(home, clip_paths)
    cli(["run", *SELECT_CHAIN], home)
    return home


class CatalogQueries(threading.Thread):
    """Queries the catalog read-only in a loop (as `codecvdc sql` does) until stopped; keeps every error."""

    def __init__(self, home: Path) -> None:
        super().__init__(daemon=True)
        self.home, self.stop, self.count, self.errors = home, threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                con = connect(self.home, read_only=True)
                try:
                    con.execute("select count(*) from residuals").fetchone()
                    con.execute("select video_id, count(*) from model_calls group by all").fetchall()
                finally:
                    con.close()
                self.count += 1
            except Exception as exc:  # noqa: BLE001 (every failure is the finding)
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(0.05)


def run_concurrently(home: Path, commands: list[list[str]], tmp_path: Path) -> tuple[list[str], CatalogQueries]:
    """Start every command at once while the catalog is queried; returns the outputs and the query thread."""
    # The catalog is created again by whichever process gets there first (ensure_catalog under a lock).
    catalog_path(home).unlink()
    catalog_path(home).with_suffix(".version").unlink()
    queries = CatalogQueries(home)
    queries.start()
    procs = [start(cmd, home, tmp_path / f"run{i}.log") for i, cmd in enumerate(commands)]
    codes = [p.wait(timeout=900) for p in procs]
    queries.stop.set()
    queries.join()
    logs = [(tmp_path / f"run{i}.log").read_text() for i in range(len(commands))]
    assert codes == [0] * len(commands), "\n\n".join(logs)
    return logs, queries


def assert_like_sequential(home: Path, sequential: Path, logs: list[str], queries: CatalogQueries) -> None:
    for log in logs:
        lowered = log.lower()
        assert not [w for w in LOCK_WORDS if w in lowered], log
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for run in runs:
            for entry in instance.all_logs(run.run_id):
                text = f"{entry.user_message} {entry.dagster_event.message if entry.dagster_event else ''}".lower()
                assert "locked" not in text, text
    for table in TABLES:  # no lost and no extra row: the same tables as the sequential run
        pd.testing.assert_frame_equal(lake_table(home, table), lake_table(sequential, table), obj=table)
    calls, expected = model_calls(home), model_calls(sequential)
    per_asset = calls.groupby(["video_id", "asset"]).size()
    pd.testing.assert_series_equal(per_asset, expected.groupby(["video_id", "asset"]).size())
    paid = calls[~calls["cache_hit"] & (calls["status"] == "ok")]
    assert not paid["cache_key"].duplicated().any()
    assert set(paid["cache_key"]) == cache_keys(home) == cache_keys(sequential)
    assert queries.count > 0 and queries.errors == [], queries.errors[:3]
    print(f"{len(logs)} process(es): {len(calls)} model_calls rows, {queries.count} catalog queries, 0 errors")


@pytest.mark.slow
def test_separate_run_processes(tmp_path: Path, clip_paths: list[str], sequential: Path) -> None:
    # Four processes over 2 cores, the most contention (a run with two was the same test, milder: 80 s more).
    processes = 4
    home = tmp_path / "home"
    ids = add(home, clip_paths)
    share = len(ids) // processes
    commands = [
        ["run", *SELECT_CHAIN, *[a for vid in ids[i * share : (i + 1) * share] for a in ("--video", vid)]]
        for i in range(processes)
    ]
    logs, queries = run_concurrently(home, commands, tmp_path)
    assert_like_sequential(home, sequential, logs, queries)


@pytest.mark.slow
def test_multiprocess_executor(tmp_path: Path, clip_paths: list[str], sequential: Path) -> None:
    home = tmp_path / "home"
    add(home, clip_paths)
    logs, queries = run_concurrently(home, [["run", *SELECT_CHAIN, "--executor", "multiprocess"]], tmp_path)
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        (run,) = instance.get_runs()
        starts = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)]
    assert {"anchors", "residuals", "scene_narratives"} <= {e.step_key for e in starts}
    assert len({e.pid for e in starts}) == len(starts)  # every step ran in a process of its own
    assert_like_sequential(home, sequential, logs, queries)
