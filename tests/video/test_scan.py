"""1 fps frame sampling from the single decode pass, into the content-addressed frame store."""

from __future__ import annotations

import math
import os
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from support.paths import shared

from codecvdc_assets.storage.frame_store import FrameStore
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import scan_video
from codecvdc_assets.video.segmentation import SegmentParams

REAL = ["bikes.mp4", "testvideo.mp4", "cityCC0.mpg", "fades.mp4", "counter.mp4", "bigbuckbunny.mp4"]


@pytest.mark.parametrize("name", REAL)
def test_grid_count_order_segments_and_jpegs(name: str, tmp_path) -> None:
    store = FrameStore(str(tmp_path / "frames"))
    info = probe(shared(name), with_sha256=False)
    result = scan_video(info, SegmentParams(), store)
    samples = [f for f in result.frames if f.is_sample]
    assert abs(len(samples) - info.duration_s * 1.0) <= 1, (len(samples), info.duration_s)
    # One sample per second of the grid, from the first timestamp.
    for k, frame in enumerate(samples):
        assert k <= frame.t_s + 1e-6 < k + 1
    t = [f.t_s for f in result.frames]
    assert t == sorted(t) and len(set(t)) == len(t)
    for frame in result.frames:
        seg = result.segments[frame.segment_idx]
        assert seg.start_s - 1e-9 <= frame.t_s < seg.end_s
        image = cv2.imdecode(np.frombuffer(store.read(frame.sha256), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[:2] == (frame.height, frame.width)
    # Every segment has exactly one anchor: its first frame.
    anchors = [f for f in result.frames if f.is_anchor]
    assert [(f.segment_idx, f.frame_idx) for f in anchors] == [(s.segment_idx, s.start_frame) for s in result.segments]


def test_same_content_same_hash(tmp_path, clips) -> None:
    store = FrameStore(str(tmp_path / "frames"))
    info = probe(shared("bikes.mp4"), with_sha256=False)
    first = [f.sha256 for f in scan_video(info, SegmentParams(), store).frames]
    second = [f.sha256 for f in scan_video(info, SegmentParams(), store).frames]
    assert first == second
    # A still, losslessly coded clip: identical frames are one stored JPEG.
    still_store = FrameStore(str(tmp_path / "still"))
    still = scan_video(probe(clips["static"], with_sha256=False), SegmentParams(), still_store)
    assert len(still.frames) == 4 and len({f.sha256 for f in still.frames}) == 1
    stored = [name for _, _, names in os.walk(still_store.root) for name in names]
    assert stored == [f"{still.frames[0].sha256}.jpg"]


def test_variable_frame_rate_and_offset_start_use_timestamps(tmp_path) -> None:
    """Frames written with irregular PTS starting at 7.5 s: times come from PTS, not counts."""
    path = str(tmp_path / "vfr.mkv")
    pts_ms = [7500, 7540, 7600, 8100, 8200, 9700, 9750, 10600, 10620, 11000]
    with av.open(path, "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    info = probe(path, with_sha256=False)
    assert info.start_s == pytest.approx(7.5)
    result = scan_video(info, SegmentParams(), FrameStore(str(tmp_path / "f")))
    samples = [f for f in result.frames if f.is_sample]
    # Relative times 0, .04, .1, .6, .7, 2.2, 2.25, 3.1, 3.12, 3.5: grid points 1 s and 2 s both fall in
    # the 0.7 -> 2.2 s gap and yield one frame (no duplicates), then 3 s -> 3.1.
    expected = [0.0, 2.2, 3.1]
    assert [round(f.t_s, 3) for f in samples] == expected
    assert all(math.isfinite(f.t_s) for f in result.frames)
