"""resources/dagster-postgres.yaml against a real PostgreSQL server (tests/services.py starts one on
loopback): four `codecvdc run` processes at once plus `dagster-daemon` (its sensors ticking), all on one
Postgres instance, give the same lake rows as a sequential run, with no lock error anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.scheduler.instigation import TickStatus  # not exported at the top level
from support.cli_helpers import SELECT_CHAIN, TABLES, cli, lake_table, start
from support.dagster_live import wait_for, write_profile
from support.paths import PROJECT
from support.services import start_postgres

from codecvdc_assets.runs.process_group import end_group
from codecvdc_assets.video.synthetic import write_clip

pytestmark = pytest.mark.slow

POSTGRES_YAML = str(PROJECT / "resources" / "dagster-postgres.yaml")
# SQLite's and PostgreSQL's lock errors, and any crash.
LOCK_WORDS = (
    "database is locked",
    "deadlock",
    "could not obtain lock",
    "lock timeout",
    "traceback",
    "operationalerror",
)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    with start_postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pg_clips")
    for i in range(4):
        write_clip(str(folder / f"clip{i}.mp4"), 2.0 + 0.5 * i, fps=10, width=160, height=120, cuts_s=(1.5,), seed=i)
    return folder


def test_parallel_runs_and_daemon_share_one_postgres_instance(
    tmp_path: Path, postgres, clip_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = sorted(str(p) for p in clip_folder.glob("*.mp4"))
    sequential = tmp_path / "sequential"  # the reference: one process, the default SQLite instance
    cli(["add", *clips], sequential)
    cli(["run", *SELECT_CHAIN], sequential)

    home = tmp_path / "pg_home"
    pg = {"CODECVDC_DAGSTER_YAML": POSTGRES_YAML, **postgres.env()}
    for name, value in pg.items():
        monkeypatch.setenv(name, value)  # this process reads the same instance below
    out = cli(["add", *clips], home, **pg).stdout
    ids = [line.split()[1] for line in out.splitlines() if line.startswith("added")]
    assert len(ids) == 4

    profile = write_profile(tmp_path / "daemon-profile.yaml", clip_folder, {"video_files_interval_s": 2})
    daemon_log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k != "CODECVDC_PROFILE"}
    env |= {"CODECVDC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "CODECVDC_PROFILE": str(profile)}
    with open(daemon_log, "w") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs: list[subprocess.Popen] = []
    try:
        with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"

            def sensor_ticking():
                assert daemon.poll() is None, daemon_log.read_text()[-3000:]
                state = [s for s in instance.all_instigator_state() if s.name == "video_files"]
                return state and instance.get_ticks(state[0].instigator_origin_id, state[0].selector_id)

            wait_for("the daemon's video_files ticks in Postgres", sensor_ticking, 180, 2, daemon_log)
            started = time.monotonic()
            procs = [
                start(["run", *SELECT_CHAIN, "--video", vid], home, tmp_path / f"run{i}.log", **pg)
                for i, vid in enumerate(ids)
            ]
            codes = [p.wait(timeout=600) for p in procs]
            elapsed = time.monotonic() - started
            logs = [(tmp_path / f"run{i}.log").read_text() for i in range(len(ids))]
            assert codes == [0] * 4, "\n\n".join(logs)
            for text in [*logs, daemon_log.read_text()]:
                assert not [w for w in LOCK_WORDS if w in text.lower()], text[-3000:]
            runs = instance.get_runs()
            assert len(runs) == 4 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            for key in ("videos", "anchors", "video_narratives"):
                done = instance.get_materialized_partitions(dg.AssetKey(key))
                assert done == set(ids), key
            state = next(s for s in instance.all_instigator_state() if s.name == "video_files")
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            assert ticks and all(t.status != TickStatus.FAILURE for t in ticks)
            assert instance.get_daemon_heartbeats()  # the daemon wrote its heartbeats to Postgres too
        assert daemon.poll() is None, daemon_log.read_text()[-3000:]
    finally:
        for proc in [*procs, daemon]:
            end_group(proc.pid, grace_s=5)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    for table in TABLES:  # no lost and no extra row
        pd.testing.assert_frame_equal(lake_table(home, table), lake_table(sequential, table), obj=table)
    print(f"4 parallel runs + daemon on PostgreSQL: {elapsed:.1f} s, {len(ticks)} sensor ticks, 0 lock errors")
