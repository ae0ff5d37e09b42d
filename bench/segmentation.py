"""Segmentation + 1 fps sampling vs PySceneDetect's ContentDetector alone vs a bare threaded decode.

Targets (issue #2): ours <= 1.0x PySceneDetect, <= 1.5x bare decode; I-frame scan >= 500x real time.
Each measurement is the median of REPEATS runs, interleaved so machine noise hits all three alike.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from codecvdc_assets.storage.frame_store import FrameStore
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import scan_video
from codecvdc_assets.video.segmentation import SegmentParams

from . import report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "videos"
OUT = Path(__file__).resolve().parent / "out"
SUITE = "1 segmentation"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONCAT_SOURCES = ["bikes.mp4", "testvideo.mp4", "cityCC0.mpg", "fades.mp4", "counter.mp4", "bigbuckbunny.mp4"]


def concatenated_clip(copies: int = 2) -> str:
    """All shared clips, scaled to 1280x720, concatenated `copies` times (made once, cached)."""
    OUT.mkdir(exist_ok=True)
    target = OUT / f"concat_x{copies}.mp4"
    if target.exists():
        return str(target)
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        pts = 0
        for _ in range(copies):
            for name in CONCAT_SOURCES:
                with av.open(str(SHARED / name)) as src:
                    for frame in src.decode(video=0):
                        image = frame.reformat(width=1280, height=720, format="yuv420p")
                        image.pts, image.time_base = pts, Fraction(1, 25)
                        pts += 1
                        for packet in stream.encode(image):
                            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(target)
    return str(target)


def run_ours(path: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        info = probe(path, with_sha256=False)
        scan_video(info, SegmentParams(), FrameStore(folder), spool_root=folder)


def run_pyscenedetect(path: str) -> None:
    from scenedetect import ContentDetector, detect

    detect(path, ContentDetector())


def run_decode(path: str) -> None:
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def run_iframe_scan(path: str) -> None:
    probe(path, with_sha256=False)


def timed(fn: Callable[[str], None], path: str) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def measure(path: str) -> dict[str, float]:
    runs: dict[str, list[float]] = {"ours": [], "pyscenedetect": [], "decode": [], "iframe_scan": []}
    fns = {
        "ours": run_ours,
        "pyscenedetect": run_pyscenedetect,
        "decode": run_decode,
        "iframe_scan": run_iframe_scan,
    }
    for fn in fns.values():  # warm-up: page cache, imports
        fn(path)
    for _ in range(REPEATS):
        for name, fn in fns.items():
            runs[name].append(timed(fn, path))
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> int:
    import logging

    logging.getLogger("pyscenedetect").setLevel(logging.ERROR)
    if not SHARED.is_dir():
        print(f"segmentation benchmark needs {SHARED}")
        return 1
    clips = [str(SHARED / "testvideo.mp4"), concatenated_clip()]
    print(f"segmentation benchmark: median of {REPEATS} interleaved runs, {os.cpu_count()} cores")
    header = (
        f"{'clip':<18}{'dur s':>7}{'ours s':>8}{'scened s':>9}{'decode s':>9}"
        f"{'ours/scened':>12}{'ours/decode':>12}{'iscan xRT':>11}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for path in clips:
        duration = probe(path, with_sha256=False).duration_s
        m = measure(path)
        vs_sd = m["ours"] / m["pyscenedetect"]
        vs_decode = m["ours"] / m["decode"]
        realtime = duration / m["iframe_scan"]
        ok &= vs_sd <= 1.0 and vs_decode <= 1.5 and realtime >= 500
        name = f"{Path(path).name} ({duration:.0f} s)"
        report.add(
            SUITE,
            f"{name}: ours / PySceneDetect",
            f"{m['ours']:.2f} s / {m['pyscenedetect']:.2f} s",
            "<= 1.0x",
            f"{vs_sd:.2f}x",
            vs_sd <= 1.0,
        )
        report.add(
            SUITE,
            f"{name}: ours / bare threaded decode",
            f"{m['ours']:.2f} s / {m['decode']:.2f} s",
            "<= 1.5x",
            f"{vs_decode:.2f}x",
            vs_decode <= 1.5,
        )
        report.add(SUITE, f"{name}: I-frame scan", f"{realtime:,.0f}x real time", ">= 500x", "", realtime >= 500)
        print(
            f"{Path(path).name:<18}{duration:>7.1f}{m['ours']:>8.2f}{m['pyscenedetect']:>9.2f}{m['decode']:>9.2f}"
            f"{vs_sd:>11.2f}x{vs_decode:>11.2f}x{realtime:>10.0f}x"
        )
    print("targets: ours/scened <= 1.00x, ours/decode <= 1.50x, I-frame scan >= 500x real time")
    print("result:", "all targets met" if ok else "a target was missed (see the table)")
    return 0
