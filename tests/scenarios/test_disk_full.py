"""Disk full: CODECVDC_HOME on a small tmpfs (mounted here as root; skipped with the reason where mounting
is not permitted). A ballast file leaves a little room, the run that fills it fails with one line naming
the path, what was finished before stays intact and readable, and once the ballast is gone `run --stale`
completes without paying for any model call twice."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli_helpers import CLI, SELECT_CHAIN, add, cli, env_for, model_calls

from codecvdc_assets.storage import integrity
from codecvdc_assets.storage.blobs import LocalBlobs
from codecvdc_assets.video.synthetic import write_clip

SIZE = "96m"
ROOM = 384 * 1024  # bytes left free by the ballast: room to start the run, not for the long clip's frames


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the test puts CODECVDC_HOME on a small file system)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path, leave: int) -> Path:
    """A ballast file taking all but `leave` bytes of the file system."""
    st = os.statvfs(mnt)
    ballast = mnt / "ballast"
    with open(ballast, "wb") as fh:
        remaining = st.f_bavail * st.f_frsize - leave
        block = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= fh.write(block[: min(len(block), remaining)])
    return ballast


@pytest.mark.slow
def test_disk_full_fails_in_one_line_keeps_finished_work_and_resumes(small_fs: Path, tmp_path: Path) -> None:
    clips = [
        write_clip(str(tmp_path / "a.mp4"), 4.0, fps=10, width=160, height=120, cuts_s=(2.0,)),
        write_clip(str(tmp_path / "b.mp4"), 20.0, fps=10, width=640, height=480, cuts_s=(7.0, 14.0)),
        write_clip(str(tmp_path / "c.mp4"), 3.0, fps=10, width=160, height=120, cuts_s=(1.5,)),
    ]
    home = small_fs / "home"
    a, b, c = add(home, clips)
    cli(["run", *SELECT_CHAIN, "--video", a], home)
    finished = {p: p.read_bytes() for p in (home / "lake").glob(f"*/video_id={a}/*.parquet")}
    assert len(finished) >= 7

    ballast = fill(small_fs, ROOM)
    full = subprocess.run([*CLI, "run", "--stale", *SELECT_CHAIN], env=env_for(home), capture_output=True, text=True)
    out = full.stdout + full.stderr
    assert full.returncode in (1, 2), out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if "No space left on device" in line]
    assert lines, out
    assert all(str(home) in line for line in lines), lines  # each names the path it could not write
    print(f"disk full: {lines[0][:200]}")
    if full.returncode == 2:  # the instance storage itself could not write: the run stops, in one line
        assert len(full.stderr.splitlines()) == 1, full.stderr
    else:  # the run went on: the videos that failed are named, one line each
        assert f"{b} FAILED" in full.stdout, full.stdout

    # What was finished before is intact (same bytes, checksums match) and readable.
    assert {p: p.read_bytes() for p in finished} == finished
    damaged = [d for d in integrity.verify(LocalBlobs(home)).damaged if a in d.key]
    assert damaged == []
    rows = cli(["sql", f"select count(*) n from anchors where video_id = '{a}'", "--format", "csv"], home)
    assert int(rows.stdout.split()[-1]) > 0
    paid_before = model_calls(home).query("not cache_hit and status == 'ok'")

    ballast.unlink()
    resumed = cli(["run", "--stale", *SELECT_CHAIN], home)
    assert "0 failed" in resumed.stdout, resumed.stdout
    status = cli(["status", "--json"], home).stdout
    assert '"failed"' not in status and '"damaged"' not in status
    calls = model_calls(home)
    paid = calls[~calls["cache_hit"] & (calls["status"] == "ok")]
    assert not paid["cache_key"].duplicated().any(), "a model call was paid twice"
    assert set(paid_before["cache_key"]) <= set(paid["cache_key"])
    assert {a, b, c} <= set(calls["video_id"])
    assert not [p for p in home.rglob(".tmp-*")], "temp files left behind"
