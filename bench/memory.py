"""Memory: peak RSS of segmenting a generated 10-minute 1080p clip (target <= 500 MB).

Two child processes, each measured by its kernel high-water mark (ru_maxrss of the waited child):
`codecvdc segment` (segmentation + 1 fps sampling, frames hashed only) and the `segments`/`frames`
asset's pass (scan_video writing the sampled JPEGs to a frame store).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import report

SUITE = "6 memory"
TARGET_MB = 500
OUT = Path(__file__).resolve().parent / "out"

FRAMES_PASS = """
import sys, tempfile
from codecvdc_assets.storage.frame_store import FrameStore
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import scan_video
from codecvdc_assets.video.segmentation import SegmentParams
with tempfile.TemporaryDirectory() as d:
    scan = scan_video(probe(sys.argv[1], with_sha256=False), SegmentParams(), FrameStore(d), spool_root=d)
    print(len(scan.samples) if hasattr(scan, "samples") else "ok")
"""


def long_clip(duration_s: float, fps: int) -> str:
    """A 1080p clip with a cut every 20 s (x264 ultrafast), made once and kept in bench/out/."""
    from codecvdc_assets.video.synthetic import write_clip

    OUT.mkdir(exist_ok=True)
    path = OUT / f"long_1080p_{int(duration_s)}s_{fps}fps.mp4"
    if not path.exists():
        tmp = path.with_name(".tmp-" + path.name)
        cuts = [float(t) for t in range(20, int(duration_s), 20)]
        write_clip(str(tmp), duration_s, fps=fps, width=1920, height=1080, cuts_s=cuts)
        tmp.rename(path)
    return str(path)


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS of one child process (wait4's rusage: that child alone, in KiB on Linux)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024


def main(quick: bool = False) -> int:
    duration = 120.0 if quick else 600.0
    fps = 25
    clip = long_clip(duration, fps)
    codecvdc = str(Path(sys.executable).with_name("codecvdc"))
    ok = True
    with tempfile.TemporaryDirectory() as home:
        env_home = {"CODECVDC_HOME": home}
        os.environ.update(env_home)
        runs = {
            "`codecvdc segment`": [codecvdc, "segment", clip, "--json"],
            "segments+frames pass (JPEGs written)": [sys.executable, "-c", FRAMES_PASS, clip],
        }
        for label, cmd in runs.items():
            mb = peak_rss_mb(cmd)
            met = mb <= TARGET_MB
            ok &= met
            report.add(
                SUITE,
                f"peak RSS, {label}, {duration / 60:.0f} min 1080p {fps} fps",
                f"{mb:.0f} MB",
                f"<= {TARGET_MB} MB",
                f"{mb / TARGET_MB:.2f}",
                met,
            )
    return 0 if ok else 1
