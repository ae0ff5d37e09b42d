"""Memory: peak RSS of segmenting a generated 10-minute 1080p clip (target <= 500 MB).

Two child processes, each measured by its kernel high-water mark (VmHWM, printed by the child):
`codecvdc segment` (segmentation + 1 fps sampling, frames hashed only) and the `segments`/`frames`
asset's pass (scan_video writing the sampled JPEGs to a frame store).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av

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


def long_clip(duration_s: float, fps: int, piece_s: float = 120.0) -> str:
    """A 1080p clip of `duration_s`: a generated `piece_s` clip (cuts every 20 s, x264 ultrafast) remuxed
    back to back with shifted timestamps (encoding 10 minutes of 1080p here takes longer than the
    benchmark). Made once, kept in bench/out/."""
    from codecvdc_assets.video.synthetic import write_clip

    OUT.mkdir(exist_ok=True)
    piece = OUT / f"long_1080p_{int(piece_s)}s_{fps}fps.mp4"
    if not piece.exists():
        tmp = piece.with_name(".tmp-" + piece.name)
        write_clip(
            str(tmp), piece_s, fps=fps, width=1920, height=1080, cuts_s=[float(t) for t in range(20, int(piece_s), 20)]
        )
        tmp.rename(piece)
    if duration_s <= piece_s:
        return str(piece)
    path = OUT / f"long_1080p_{int(duration_s)}s_{fps}fps.mp4"
    if not path.exists():
        tmp = path.with_name(".tmp-" + path.name)
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = None
            offset = 0
            for _ in range(round(duration_s / piece_s)):
                with av.open(str(piece)) as src:
                    in_stream = src.streams.video[0]
                    if stream is None:
                        stream = out.add_stream_from_template(in_stream)
                    last = 0
                    for packet in src.demux(in_stream):
                        if packet.dts is None:
                            continue
                        last = max(last, packet.pts + (packet.duration or 0))
                        packet.pts += offset
                        packet.dts += offset
                        packet.stream = stream
                        out.mux(packet)
                    offset += last
        tmp.rename(path)
    return str(path)


# Printed by every measured child at exit: its own VmHWM. (A forked child's ru_maxrss starts from the
# parent's peak, and this benchmark's process has run DuckDB over the synthetic lake by then.)
HWM = "\nprint('VmHWM', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
SEGMENT = """
import sys
from codecvdc_assets.cli import main
rc = main(["segment", sys.argv[1], "--json"])
"""


def peak_rss_mb(code: str, clip: str) -> float:
    """Peak RSS (VmHWM, MB) of a fresh Python process running `code` on `clip`."""
    proc = subprocess.run([sys.executable, "-c", code + HWM, clip], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed: {proc.stderr[-500:]}")
    kib = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("VmHWM"))
    return int(kib) / 1024


def main(quick: bool = False) -> int:
    duration = 120.0 if quick else 600.0
    fps = 25
    clip = long_clip(duration, fps)
    ok = True
    with tempfile.TemporaryDirectory() as home:
        env_home = {"CODECVDC_HOME": home}
        os.environ.update(env_home)
        runs = {
            "`codecvdc segment`": SEGMENT,
            "segments+frames pass (JPEGs written)": FRAMES_PASS,
        }
        for label, code in runs.items():
            mb = peak_rss_mb(code, clip)
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
