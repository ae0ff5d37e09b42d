"""The command line as a user runs it: separate processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from support.paths import PROJECT, shared

CLI = [sys.executable, "-m", "codecvdc_assets.cli"]


def run(args: list[str], home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, CODECVDC_HOME=str(home))
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"codecvdc {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_segment_json_matches_ground_truth(tmp_path) -> None:
    doc = json.loads(run(["segment", shared("bikes.mp4"), "--json"], tmp_path).stdout)
    assert doc["mode"] == "iframe-primary"
    assert doc["gop_cv"] == pytest.approx(0.2165, abs=1e-3)
    assert [s["start_frame"] for s in doc["segments"]] == [0, 30, 76, 137, 187, 242]
    assert doc["segments"][1]["boundary_source"] == "iframe+content"


def faststart_copy(src: str, dst: Path) -> bytes:
    """Remux `src` with the index at the front (as web video is), so a truncation keeps the index."""
    with av.open(src) as source, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst.read_bytes()


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "truncated-faststart", "missing"])
def test_segment_bad_input_is_one_clear_line(kind: str, tmp_path) -> None:
    path = tmp_path / f"{kind}.mp4"
    if kind == "text":
        path.write_text("hello, not a video")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(Path(shared("bikes.mp4")).read_bytes()[:200_000])
    elif kind == "truncated-faststart":
        whole = faststart_copy(shared("bikes.mp4"), tmp_path / "whole.mp4")
        path.write_bytes(whole[: len(whole) // 2])
    proc = run(["segment", str(path), "--json"], tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("codecvdc: error: ")
    assert proc.stdout == ""
    if kind == "truncated-faststart":
        assert "truncated" in lines[0]


def test_add_run_status_sql(tmp_path) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("bikes.mp4", "counter.mp4"):
        os.symlink(shared(name), folder / name)
    out = run(["add", str(folder)], home).stdout
    assert out.count("added") == 2
    assert "0 new" in run(["add", shared("bikes.mp4")], home).stdout  # the same file again
    proc = run(["run"], home)
    # 16 assets per video (chapter_narratives and longcap_sections come with the narratives)
    assert "videos 2/2  assets 32/32" in proc.stdout and "2 video(s) ok, 0 failed" in proc.stdout
    assert "dataset-level (before the videos): vidcapqa_bank: ok" in proc.stdout
    assert "dataset-level (after the videos): vidcapqa_scores: ok" in proc.stdout
    assert "nothing to do" in run(["run", "--stale"], home).stdout
    status = json.loads(run(["status", "--json"], home).stdout)
    assert len(status["videos"]) == 2 and {s for row in status["videos"].values() for s in row.values()} == {"fresh"}
    assert status["dataset"] == {"vidcapqa_bank": "fresh", "vidcapqa_scores": "fresh"}
    pool = run(["status", "--limit", "1"], home).stdout  # more videos than the limit: counts per asset
    counts = {line.split()[0]: line.split()[1:] for line in pool.splitlines()[2:20] if line.strip()}
    assert counts["residuals"] == ["2", "0", "0", "0", "0"] and counts["video_narratives"] == ["2", "0", "0", "0", "0"]
    assert "2 videos; the first 0 that are not fresh:" in pool and "no videos to show" in pool
    rows = json.loads(run(["sql", "select count(*) as n from segments", "--format", "json"], home).stdout)
    assert rows == [{"n": 7}]  # bikes 6 + counter 1
    summary = PROJECT / "sql" / "video_summary.sql"
    text = run(["sql", "-f", str(summary)], home).stdout
    assert "iframe-primary" in text and "(2 rows)" in text
    bad = run(["sql", "select * from no_such_view"], home, check=False)
    assert bad.returncode == 2 and "no_such_view" in bad.stderr
    unknown = run(["run", "--video", "nope-0000000000"], home, check=False)
    assert unknown.returncode == 2 and "unknown video id" in unknown.stderr
