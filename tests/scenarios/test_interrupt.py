"""SIGINT to `codecvdc run` during a run: the videos of the interrupted run and of the runs not started are
reported interrupted, not failed (nothing in `failures`), the command exits with 130 within 10 s, keeps what
finished, and `codecvdc run --stale` resumes the rest.

The signal goes to the CLI process. (A terminal's Ctrl-C reaches its whole group, where Dagster's per-step
compute-log watcher, `dagster/_core/execution/scripts/watch_orphans.py`, prints a KeyboardInterrupt
traceback of its own as it dies: docs/upstream/dagster-dynamic-partitions.md, "Also seen".)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.cli_helpers import CHAIN, SELECT_CHAIN, add, cli, start
from support.services import stop_group

from codecvdc_assets.video.synthetic import write_clip

N = 6


@pytest.mark.slow
def test_sigint_marks_unfinished_videos_interrupted_and_run_stale_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    clips = [
        write_clip(str(tmp_path / f"c{i}.mp4"), 2.0, fps=10, width=160, height=120, cuts_s=[1.0], seed=i)
        for i in range(N)
    ]
    ids = add(home, clips)
    log = tmp_path / "run.log"
    proc = start(["run", "--batch-size", "2", *SELECT_CHAIN], home, log)
    try:
        deadline = time.monotonic() + 300
        while f"videos 2/{N}" not in log.read_text():  # the first run is over: the second is under way
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"codecvdc run did not exit within 10 s of SIGINT:\n{log.read_text()}")
        exited_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            stop_group(proc)
    out = log.read_text()
    assert code == 130, out
    assert exited_after < 10
    assert "FAILED" not in out and "Traceback" not in out, out
    summary = next(line for line in out.splitlines() if line.startswith("interrupted: "))
    ok, interrupted = int(summary.split()[1]), int(summary.split(", ")[2].split()[0])
    assert ok >= 2 and interrupted >= 1 and ok + interrupted == N, summary
    assert "run --stale` resumes" in out
    assert "0 rows" in cli(["sql", "select * from failures"], home).stdout  # interrupted is not failed
    chain = [*CHAIN, "frames"]
    status = json.loads(cli(["status", "--json"], home).stdout)["videos"]
    states = {status[v][a] for v in ids for a in chain}
    assert "missing" in states and "failed" not in states, status  # unfinished: missing, not failed
    resumed = cli(["run", "--stale", *SELECT_CHAIN], home).stdout
    assert f"for {interrupted} video(s)" in resumed, resumed  # only the interrupted ones
    assert f"done: {interrupted} video(s) ok, 0 failed" in resumed, resumed
    final = json.loads(cli(["status", "--json"], home).stdout)["videos"]
    assert {final[v][a] for v in ids for a in chain} == {"fresh"}
