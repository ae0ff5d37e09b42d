"""Segmentation on the real clips of ../shared/videos against their ground truth (videos/README.md)."""

from __future__ import annotations

import pytest
from support.paths import shared

from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.scan import ScanResult, scan_video
from codecvdc_assets.video.segmentation import CONTENT_PRIMARY, IFRAME_PRIMARY, SegmentParams
from codecvdc_assets.video.sinks import HashOnlySink

_CACHE: dict[str, ScanResult] = {}


def segment(name: str) -> ScanResult:
    if name not in _CACHE:
        _CACHE[name] = scan_video(probe(shared(name), with_sha256=False), SegmentParams(), HashOnlySink())
    return _CACHE[name]


def boundaries(result: ScanResult) -> list[int]:
    return [s.start_frame for s in result.segments[1:]]


def assert_frames_close(found: list[int], expected: list[int], tolerance: int = 1) -> None:
    assert len(found) == len(expected), f"boundaries {found} != expected {expected}"
    for f, e in zip(found, expected, strict=True):
        assert abs(f - e) <= tolerance, f"boundary at frame {f}, expected {e} (+-{tolerance}): {found}"


def test_bikes_is_iframe_primary_with_all_five_cuts() -> None:
    result = segment("bikes.mp4")
    assert result.mode == IFRAME_PRIMARY
    assert result.gop.cv == pytest.approx(0.2165, abs=1e-3)
    assert_frames_close(boundaries(result), [30, 76, 137, 187, 242])
    assert all(s.boundary_source == "iframe+content" for s in result.segments[1:])
    # Every boundary was confirmed by the I-frame at the same time (bikes' I-frames are its cuts).
    for seg in result.segments[1:]:
        assert seg.iframe_s == pytest.approx(seg.start_s, abs=0.041)


def test_city_is_content_primary_with_one_cut_at_frame_116() -> None:
    result = segment("cityCC0.mpg")
    assert result.mode == CONTENT_PRIMARY
    assert "fixed GOP" in result.mode_reason
    assert result.gop.cv == pytest.approx(0.08, abs=0.01)
    assert_frames_close(boundaries(result), [116])
    # The stream starts at 0.54 s; times are relative to the first frame, so frame 116 is 4.64 s.
    assert result.segments[0].start_s == 0.0
    assert result.segments[1].start_s == pytest.approx(4.64, abs=0.04)
    assert result.segments[1].boundary_source == "content"


def test_testvideo_keeps_cuts_30_and_180_only() -> None:
    result = segment("testvideo.mp4")
    assert result.mode == IFRAME_PRIMARY
    assert_frames_close(boundaries(result), [30, 180])
    # The content cut at 394 (13.15 s) has no I-frame within the proximity window and the I-frame
    # at 16.016 s has no content cut near it: I-frame-primary mode keeps neither (README explains).
    assert 394 in result.cut_frames
    assert all(abs(s.start_s - 16.016) > 0.5 for s in result.segments)
    assert result.segments[-1].end_s == pytest.approx(24.024, abs=0.04)


def test_fades_is_all_intra_content_primary() -> None:
    result = segment("fades.mp4")
    assert result.mode == CONTENT_PRIMARY
    assert result.gop.degenerate is not None and result.gop.degenerate.startswith("all-intra")
    assert result.gop.n_iframes == 243


@pytest.mark.parametrize("name", ["counter.mp4", "bigbuckbunny.mp4"])
def test_single_shot_clips_are_one_segment(name: str) -> None:
    result = segment(name)
    assert len(result.segments) == 1
    assert result.segments[0].boundary_source == "start"
    assert result.mode == CONTENT_PRIMARY  # one I-frame: no GOP signal


def test_counter_timestamps_are_frame_accurate() -> None:
    # counter.mp4 stamps each frame with its PTS: 10 fps, so sample k is exactly at k seconds.
    result = segment("counter.mp4")
    samples = [f for f in result.frames if f.is_sample]
    assert [round(f.t_s, 6) for f in samples] == [0.0, 1.0, 2.0]
    assert [f.frame_idx for f in samples] == [0, 10, 20]


def test_long_generated_clip_is_split_by_max_duration(clips: dict[str, str]) -> None:
    info = probe(clips["long"], with_sha256=False)
    result = scan_video(info, SegmentParams(), HashOnlySink())
    assert info.duration_s == pytest.approx(130.0, abs=0.2)
    assert len(result.segments) == 3
    assert all(s.duration_s <= 60.0 + 1e-6 for s in result.segments)
    assert [s.boundary_source for s in result.segments] == ["start", "max_duration", "max_duration"]
    # The clip has a fixed 5 s GOP: splits land on I-frames (multiples of 5 s).
    for seg in result.segments[1:]:
        assert seg.iframe_s is not None and seg.start_s % 5.0 == pytest.approx(0.0, abs=0.01)


def test_generated_cuts_clip_is_exact(clips: dict[str, str]) -> None:
    info = probe(clips["cuts"], with_sha256=False)
    result = scan_video(info, SegmentParams(), HashOnlySink())
    assert result.mode == CONTENT_PRIMARY
    assert_frames_close(boundaries(result), [50, 125], tolerance=0)


@pytest.mark.parametrize("name", ["bikes.mp4", "testvideo.mp4", "fades.mp4", "cityCC0.mpg"])
def test_fast_content_detector_matches_pyscenedetect(name: str) -> None:
    """The faster scores (video/detector.py) are PySceneDetect's own numbers, frame by frame, and the
    cuts the flash filter reports from them are the same, a batch at a time (BatchScorer + CutFilter, as
    scan.py uses them; batches of 7 frames here, so every batch boundary falls between different kinds
    of frames)."""
    import av
    import numpy as np
    from av.video.reformatter import VideoReformatter
    from scenedetect import ContentDetector, FrameTimecode

    from codecvdc_assets.video.detector import BatchScorer, CutFilter

    theirs, scale = ContentDetector(), VideoReformatter()
    images, their_scores, their_cuts = [], [], []
    n = 0
    with av.open(shared(name)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            image = scale.reformat(frame, width=256, height=144, format="bgr24", interpolation="POINT").to_ndarray()
            cuts = theirs.process_frame(FrameTimecode(n, 25.0), image)
            images.append(image)
            their_scores.append(theirs._frame_score)
            their_cuts.extend(c.frame_num for c in cuts)
    assert n > 100
    scorer, cut_filter = BatchScorer(), CutFilter(27.0, 15, 25.0)
    batch_scores: list[float] = []
    for start in range(0, len(images), 7):
        batch = images[start : start + 7]
        batch_scores.extend(scorer.scores(np.concatenate(batch), len(batch)))
    assert batch_scores == their_scores
    assert [c for i, score in enumerate(batch_scores) for c in cut_filter.cuts(i, score)] == their_cuts


@pytest.mark.parametrize("mode", ["MERGE", "SUPPRESS"])
@pytest.mark.parametrize("length", [0, 1, 2, 15])
def test_cut_filter_skips_only_calls_that_change_nothing(mode: str, length: int) -> None:
    """CutFilter calls the library's FlashFilter only where it can act; on random score runs (sparse
    and dense cuts, flash bursts) its cuts are those of the filter called on every frame."""
    import random

    from scenedetect import FrameTimecode
    from scenedetect.detector import FlashFilter

    from codecvdc_assets.video.detector import CutFilter

    rng = random.Random(length * 7 + len(mode))
    n_cuts = 0
    for density in (0.01, 0.05, 0.2, 0.5, 0.9):
        scores = [rng.uniform(27.0, 60.0) if rng.random() < density else rng.uniform(0.0, 26.9) for _ in range(3000)]
        full = FlashFilter(mode=FlashFilter.Mode[mode], length=length)
        expected = [c.frame_num for i, s in enumerate(scores) for c in full.filter(FrameTimecode(i, 25.0), s >= 27.0)]
        skipping = CutFilter(27.0, length, 25.0, mode=FlashFilter.Mode[mode])
        assert [c for i, s in enumerate(scores) for c in skipping.cuts(i, s)] == expected, density
        n_cuts += len(expected)
    assert n_cuts > 20


def test_a_failed_frame_write_fails_the_scan() -> None:
    """Frame writes run in background threads (video/background_sink.py); a failure is not lost."""

    class FailingSink(HashOnlySink):
        calls = 0

        def put(self, data: bytes) -> str:
            FailingSink.calls += 1
            if FailingSink.calls == 3:
                raise OSError(28, "No space left on device")
            return super().put(data)

    with pytest.raises(OSError, match="No space left"):
        scan_video(probe(shared("bikes.mp4"), with_sha256=False), SegmentParams(), FailingSink())
