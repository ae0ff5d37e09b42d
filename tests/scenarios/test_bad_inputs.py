"""Every case of the generated bad-input corpus (tests/bad_inputs.py) gets its documented outcome.

`processed`: what "correct" means is asserted per case (below). `fails`: `codecvdc segment FILE --json`
exits 2 with one line naming the file and the reason; in a batched Dagster run the partition fails,
the message is in the `failures` view and the other videos of the same run finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import dagster as dg
import numpy as np
import pytest
from support.bad_inputs import DECODE_FAILURES, FAILS, NAMES, PROCESSED, START_OFFSET_S, VFR_MS, Case, build_corpus
from support.paths import shared

from codecvdc_assets import cli
from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.video.errors import display_path
from codecvdc_assets.video.ids import is_valid_video_id
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import scan_video
from codecvdc_assets.video.segmentation import SegmentParams
from codecvdc_assets.video.synthetic import write_clip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {c.name: c for c in build_corpus(tmp_path_factory.mktemp("corpus"))}


def segment_cli(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["segment", path, "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def expected_grid(times_s: list[float], fps: float = 1.0) -> list[float]:
    """The 1 fps rule written out: for each grid point k/fps, the first frame at or after it (no repeats)."""
    picks: list[float] = []
    k = 0
    while k / fps <= times_s[-1]:
        t = min(t for t in times_s if t >= k / fps - 1e-9)
        if not picks or t != picks[-1]:
            picks.append(t)
        k += 1
    return picks


# What "processed correctly" means, per case, on the `codecvdc segment --json` document.
def check_no_timestamps(doc: dict) -> None:
    # A raw H.264 stream has no timestamps: frames are timed by index at FFmpeg's assumed 25 fps.
    assert doc["timestamps_synthesized"] and doc["fps"] == 25.0 and doc["n_frames"] == 50
    assert doc["duration_s"] == pytest.approx(2.0)
    assert doc["sampled_s"] == pytest.approx([0.0, 1.0])
    assert [(s["start_s"], s["end_s"]) for s in doc["segments"]] == [(0.0, pytest.approx(2.0))]


def check_corrupt_packet(doc: dict) -> None:
    # The middle keyframe (3.0 s) is garbage: the decoder rejects it, the frames that depend on it are
    # lost until the next keyframe; the rest is processed and the hard cuts at 2 s and 4 s are found.
    assert doc["decode_errors"] >= 1
    assert 0.9 * 150 <= doc["n_frames"] < 150
    assert [s["start_s"] for s in doc["segments"]] == pytest.approx([0.0, 2.0, 4.0])
    assert doc["segments"][-1]["end_s"] == pytest.approx(6.0)
    assert doc["sampled_s"][:3] == pytest.approx([0.0, 1.0, 2.0]) and doc["sampled_s"][-2:] == pytest.approx([4.0, 5.0])


def check_one_frame(doc: dict) -> None:
    # One segment lasting the frame's duration (1/25 s), the frame sampled once.
    assert doc["n_frames"] == 1 and doc["sampled_s"] == [0.0]
    assert [(s["start_s"], s["end_s"]) for s in doc["segments"]] == [(0.0, pytest.approx(0.04))]


def check_eight_k(doc: dict) -> None:
    # Full resolution is reported; the frames are analysed downscaled (see test_frames_stored_upright_and_bounded).
    assert (doc["width"], doc["height"]) == (7680, 4320) and doc["n_frames"] == 3
    assert len(doc["segments"]) == 1


def check_rotated(doc: dict) -> None:
    # Reported as displayed: the 320x240 stored picture is shown 240x320 (see the JPEG test below).
    assert (doc["width"], doc["height"], doc["rotation"]) == (240, 320, 90)


def check_vfr(doc: dict) -> None:
    # The 1 fps grid follows the timestamps, not the frame count: the freeze (3.8 s -> 6.5 s) gives one frame.
    times = [ms / 1000 for ms in VFR_MS]
    assert doc["n_frames"] == len(VFR_MS)
    assert doc["sampled_s"] == pytest.approx(expected_grid(times), abs=1e-3)
    assert doc["sampled_s"] == pytest.approx([0.0, 1.0, 2.0, 3.0, 6.5, 7.0, 8.0], abs=1e-3)
    assert doc["segments"][-1]["end_s"] == pytest.approx(times[-1] + 1 / 12, abs=0.02)


def check_nonzero_start(doc: dict) -> None:
    # Times are seconds from the first frame; the stream's own start time is kept in start_offset_s.
    assert doc["start_offset_s"] == pytest.approx(START_OFFSET_S)
    assert doc["segments"][0]["start_s"] == 0.0 and doc["segments"][-1]["end_s"] == pytest.approx(3.0)
    assert doc["sampled_s"] == pytest.approx([0.0, 1.0, 2.0])


def check_all_intra(doc: dict) -> None:
    # Every frame is a keyframe: no GOP signal, so content-primary; I-frames are not split points.
    assert doc["mode"] == "content-primary" and "all-intra" in doc["mode_reason"]
    assert doc["n_frames"] == 75 and len(doc["iframes_s"]) == 75


CHECKS = {
    "no-timestamps": check_no_timestamps,
    "corrupt-packet": check_corrupt_packet,
    "one-frame": check_one_frame,
    "8k": check_eight_k,
    "rotated": check_rotated,
    "vfr": check_vfr,
    "nonzero-start": check_nonzero_start,
    "all-intra": check_all_intra,
}


@pytest.mark.parametrize("name", NAMES)
def test_segment_cli_outcome(name: str, corpus: dict[str, Case], capsys: pytest.CaptureFixture[str]) -> None:
    case = corpus[name]
    code, out, err = segment_cli(case.path, capsys)
    if case.outcome == FAILS:
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        prefix = f"codecvdc: error: {case.path}: "
        assert lines[0].startswith(prefix), lines[0]
        assert re.search(case.reason, lines[0][len(prefix) :]), lines[0]
        assert "Traceback" not in err
    else:
        assert case.outcome == PROCESSED
        assert code == 0, err
        CHECKS[name](json.loads(out))


def test_every_processed_case_has_a_check() -> None:
    assert sorted(CHECKS) == sorted(n for n, outcome in NAMES.items() if outcome == PROCESSED)


class KeepingSink:
    """A frame sink that keeps the JPEGs in memory (small clips only)."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.images[digest] = data
        return digest

    def put_file(self, path: str) -> str:
        return self.put(Path(path).read_bytes())


def test_frames_stored_upright_and_bounded(corpus: dict[str, Case]) -> None:
    # Rotated: the stored picture's top half is white; shown 90 degrees counter-clockwise, the LEFT half is.
    sink = KeepingSink()
    scan = scan_video(probe(corpus["rotated"].path), SegmentParams(), sink)
    for frame in scan.frames:
        image = cv2.imdecode(np.frombuffer(sink.images[frame.sha256], np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image.shape == (320, 240) == (frame.height, frame.width)
        assert image[:, :100].mean() > 200 and image[:, 140:].mean() < 50
    # 8K: JPEGs at most frame_max_side (1280) on the long side, whatever the source.
    sink = KeepingSink()
    scan = scan_video(probe(corpus["8k"].path), SegmentParams(), sink)
    for frame in scan.frames:
        image = cv2.imdecode(np.frombuffer(sink.images[frame.sha256], np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image.shape == (720, 1280) == (frame.height, frame.width)


def hostile_clips(folder: Path) -> dict[str, str]:
    """Good videos with hostile names: two real clips and generated ones (distinct content each)."""
    folder.mkdir()
    names = {
        "real-newline": ("new\nline\x1b[31mred.mp4", shared("counter.mp4")),
        "real-non-utf8": (os.fsdecode(b"caf\xe9\xff\xfe.mp4"), shared("bikes.mp4")),
        "dots": ("..%2f..%2fetc%2fpasswd.mp4", None),
        "backslashes": ("..\\..\\windows.mp4", None),
        "long": ("x" * 246 + ".mp4", None),
        "same-slug-a": ("Clip A.mp4", None),
        "same-slug-b": ("clip-a.mp4", None),
        "dash": ("--help.mp4", None),
    }
    made = {}
    for seed, (key, (name, source)) in enumerate(names.items()):
        target = folder / name
        if source:
            shutil.copy(source, target)
        else:
            write_clip(str(target), 1.0, fps=10, width=96, height=64, seed=seed)
        made[key] = str(target)
    # `../` inside a registered path (nested folders), resolved before anything is built from it.
    nested = folder / "a" / "b"
    nested.mkdir(parents=True)
    made["dotdot-path"] = str(nested / ".." / ".." / "..%2f..%2fetc%2fpasswd.mp4")
    return made


def test_batched_dagster_run_over_the_corpus(home: Path, tmp_path: Path, corpus: dict[str, Case]) -> None:
    """One batched run: the corpus, two real clips and hostile-named good and bad files together."""
    good = hostile_clips(tmp_path / "hostile")
    bad_named = tmp_path / "hostile" / "bad\nname\x1b[2J.mp4"
    bad_named.write_text("not a video at all\n")
    registry = Registry(home)
    ids = {name: registry.register(case.path)[0].video_id for name, case in corpus.items()}
    ids |= {f"good:{key}": registry.register(path)[0].video_id for key, path in good.items()}
    ids["bad-named"] = registry.register(str(bad_named))[0].video_id
    # Partition keys are valid ids, whatever the name; same slug with other content is another id; the
    # `..` path is the same file as "dots".
    assert all(is_valid_video_id(v) for v in ids.values())
    assert ids["good:same-slug-a"] != ids["good:same-slug-b"]
    assert ids["good:same-slug-a"].rsplit("-", 1)[0] == ids["good:same-slug-b"].rsplit("-", 1)[0] == "clip-a"
    assert ids["good:dotdot-path"] == ids["good:dots"]
    unique = list(dict.fromkeys(ids.values()))
    assert len(unique) == len(ids) - 1

    outside_before = {p for p in tmp_path.rglob("*") if home not in p.parents and p != home}
    defs = build_definitions(home=str(home))
    instance = dg.DagsterInstance.get()
    add_partitions(instance, unique)
    keys = expand_selection(defs, ["videos", "segments", "frames"])
    outcomes = materialize_many(defs, instance, {v: keys for v in unique}, Lake(home), batch_size=len(unique))
    by_id = {o.video_id: o for o in outcomes}

    failing = {name: case for name, case in corpus.items() if case.outcome == FAILS}
    processed = [ids[name] for name, case in corpus.items() if case.outcome == PROCESSED]
    processed += [ids[key] for key in ids if key.startswith("good:")]
    for video_id in processed:
        assert by_id[video_id].ok, by_id[video_id].error
        assert {"videos", "segments", "frames"} <= set(by_id[video_id].materialized)
    con = connect(home)
    failures: dict[str, dict[str, str]] = {}
    for video_id, asset, message in con.execute("select video_id, asset, message from failures").fetchall():
        failures.setdefault(video_id, {})[asset] = message
    assert set(failures) == {ids[name] for name in failing} | {ids["bad-named"]}
    for name, case in failing.items():
        # Found by the probe (`videos`), or only by the decode pass (`segments` and `frames`, one multi-asset).
        assets = {"segments", "frames"} if name in DECODE_FAILURES else {"videos"}
        assert not by_id[ids[name]].ok and set(failures[ids[name]]) == assets, failures[ids[name]]
        for message in failures[ids[name]].values():
            assert "\n" not in message and message.startswith(f"{case.path}: ")
            assert re.search(case.reason, message), message
    message = failures[ids["bad-named"]]["videos"]
    assert message.startswith(display_path(str(bad_named))) and "\n" not in message and "\x1b" not in message
    assert "bad\\nname\\x1b[2J.mp4: not a readable media file" in message

    # The lake says what each processed case means (README "Bad input").
    videos = {
        r[0]: r[1:]
        for r in con.execute(
            "select video_id, width, height, rotation, start_offset_s, timestamps_synthesized from videos"
        ).fetchall()
    }
    assert videos[ids["rotated"]][:3] == (240, 320, 90)
    assert videos[ids["nonzero-start"]][3] == pytest.approx(START_OFFSET_S)
    assert videos[ids["no-timestamps"]][4] is True
    sizes = con.execute("select distinct width, height from frames where video_id = ?", [ids["8k"]]).fetchall()
    assert sizes == [(1280, 720)]
    n_segments = dict(con.execute("select video_id, count(*) from segments group by all").fetchall())
    assert set(n_segments) == set(processed) and n_segments[ids["good:real-non-utf8"]] == 6  # bikes: 6 scenes
    con.close()

    # Nothing was written outside the home; every lake file sits under lake/<table>/video_id=<valid id>/.
    outside_after = {p for p in tmp_path.rglob("*") if home not in p.parents and p != home}
    assert outside_after == outside_before
    for path in (home / "lake").rglob("*"):
        if path.is_file():
            parts = path.relative_to(home / "lake").parts
            if parts[0] == "_integrity":  # checksum records mirror the files (storage/integrity.py)
                parts = parts[1:-1] + (parts[-1].removesuffix(".json"),)
            if parts[1] == "_compacted":  # compaction's buckets (storage/compaction.py): no video id in them
                assert len(parts) == 4 and (parts[2] == "_schema" or parts[2].startswith("bucket=")), parts
                continue
            assert len(parts) == 3, parts
            if parts[1] != "_schema":  # the zero-row file with a table's columns (storage/lake.py)
                assert parts[1].startswith("video_id=") and is_valid_video_id(parts[1][len("video_id=") :]), parts
    for path in home.rglob("*"):
        assert path.resolve().is_relative_to(home.resolve()), path


MEASURE = """
import sys
from codecvdc_assets.video.sinks import HashOnlySink
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import scan_video
from codecvdc_assets.video.segmentation import SegmentParams
scan = scan_video(probe(sys.argv[1], with_sha256=False), SegmentParams(), HashOnlySink())
# VmHWM (peak RSS of this process image): getrusage's ru_maxrss would carry the parent's peak over exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(scan.n_frames, peak_kb)
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_duration(tmp_path: Path) -> None:
    """Peak RSS of one segmentation pass: a 4x longer clip at the same resolution needs no more memory.

    A whole-video buffer would show: 1,000 frames of 640x360 are 345 MB decoded (110 MB even at the
    256 px analysis size), far above the 50 MB allowed for the difference.
    """
    short = write_clip(str(tmp_path / "short.mp4"), 10.0, fps=25, width=640, height=360, cuts_s=(4.0,), keyint=50)
    long = write_clip(str(tmp_path / "long.mp4"), 40.0, fps=25, width=640, height=360, cuts_s=(4.0, 20.0), keyint=50)
    peaks = {}
    for name, path in (("short", short), ("long", long)):
        proc = subprocess.run([sys.executable, "-c", MEASURE, path], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        n_frames, peak_kb = map(int, proc.stdout.split())
        peaks[name] = (n_frames, peak_kb / 1024)
    assert peaks["short"][0] == 250 and peaks["long"][0] == 1000
    growth_mb = peaks["long"][1] - peaks["short"][1]
    print(f"peak RSS: short {peaks['short'][1]:.0f} MB, 4x longer {peaks['long'][1]:.0f} MB (+{growth_mb:.1f} MB)")
    assert growth_mb < 50, peaks
