"""The segmentation rules as pure functions, on crafted inputs."""

from __future__ import annotations

import numpy as np
import pytest

from codecvdc_assets.video.segmentation import (
    CONTENT_PRIMARY,
    IFRAME_PRIMARY,
    GridSampler,
    SegmentParams,
    choose_mode,
    gop_stats,
    nearest_frames,
    plan_segments,
)

P = SegmentParams()
FPS = 25


def times(n: int, fps: int = FPS) -> np.ndarray:
    return np.arange(n) / fps


def plan(n, iframes, cuts, mode, params=P, scores=None, splittable=None):
    frame_s = times(n)
    return plan_segments(
        frame_s,
        n / FPS,
        iframes,
        cuts,
        np.zeros(n) if scores is None else scores,
        list(range(0, n, FPS)) if splittable is None else splittable,
        mode,
        params,
    )


def test_gop_modes_and_degenerate_streams() -> None:
    regular = gop_stats([0, 2, 4, 6, 8, 10], 300, P)
    assert regular.cv == pytest.approx(0.0) and choose_mode(regular, P)[0] == CONTENT_PRIMARY
    irregular = gop_stats([0, 1, 4, 4.5, 9], 300, P)
    assert irregular.cv > P.tau_gop and choose_mode(irregular, P)[0] == IFRAME_PRIMARY
    assert gop_stats([0.0], 100, P).degenerate == "single I-frame"
    assert "I-frame gaps" in gop_stats([0, 3, 9], 300, P).degenerate  # two gaps, CV would be high
    intra = gop_stats(list(np.arange(95) / 25), 100, P)
    assert intra.degenerate.startswith("all-intra") and choose_mode(intra, P)[0] == CONTENT_PRIMARY


def test_iframe_primary_keeps_only_confirmed_cuts() -> None:
    # I-frames at 0, 2.0, 4.0 (periodic refresh), 6.02; cuts at frames 100 (4.0 s), 150 (6.0 s), 200 (8 s).
    segments = plan(250, [0, 2.0, 4.0, 6.02], [100, 150, 200], IFRAME_PRIMARY)
    assert [s.start_frame for s in segments] == [0, 100, 150]
    assert [s.boundary_source for s in segments] == ["start", "iframe+content", "iframe+content"]
    assert segments[2].iframe_s == pytest.approx(6.02)  # the confirming I-frame, 1 frame after the cut
    # Outside the proximity window the I-frame does not confirm the cut.
    tight = SegmentParams(proximity_s=0.01)
    assert [s.start_frame for s in plan(250, [0, 6.02], [150], IFRAME_PRIMARY, tight)] == [0]


def test_content_primary_takes_every_cut() -> None:
    segments = plan(250, [0, 2, 4, 6, 8], [30, 120], CONTENT_PRIMARY)
    assert [(s.start_frame, s.boundary_source) for s in segments] == [
        (0, "start"),
        (30, "content"),
        (120, "content"),
    ]
    assert segments[-1].end_frame == 250 and segments[-1].end_s == pytest.approx(10.0)


def test_flashes_are_merged_into_the_previous_segment() -> None:
    # A 3-frame flash at 100..103 (0.12 s < 0.2 s) disappears; the start of the flash is dropped.
    segments = plan(250, [], [100, 103], CONTENT_PRIMARY)
    assert [s.start_frame for s in segments] == [0, 103]
    # A flash right at the start merges into the next segment.
    assert [s.start_frame for s in plan(250, [], [2, 120], CONTENT_PRIMARY)] == [0, 120]


def test_max_duration_split_prefers_iframes_then_low_change() -> None:
    params = SegmentParams(max_duration_s=4.0)
    n = 10 * FPS  # 10 s, no cut: three pieces of about 3.3 s
    scores = np.full(n, 5.0)
    scores[90] = 0.1  # a quiet frame at 3.6 s
    splittable = list(range(0, n, FPS)) + [90, 160]
    segments = plan(n, [0, 6.4], [], CONTENT_PRIMARY, params, scores, splittable)
    assert all(s.duration_s <= 4.0 + 1e-9 for s in segments)
    starts = [s.start_frame for s in segments]
    assert starts[1] == 90  # lowest change inside the window around 3.33 s
    assert 160 in starts  # the I-frame at 6.4 s is preferred for the next split
    assert segments[starts.index(160)].iframe_s == pytest.approx(6.4)
    assert {s.boundary_source for s in segments[1:]} == {"max_duration"}


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="sample_fps"):
        SegmentParams(sample_fps=0)
    with pytest.raises(ValueError, match="max_duration_s"):
        SegmentParams(max_duration_s=1.0)


def test_grid_sampler_handles_variable_frame_rate() -> None:
    sampler = GridSampler(1.0)
    # Irregular timestamps with a 3 s gap: one frame per grid point at or after it, never duplicates.
    ts = [0.0, 0.4, 0.97, 1.02, 1.5, 4.6, 4.9, 5.0, 5.9]
    assert [t for t in ts if sampler.take(t)] == [0.0, 1.02, 4.6, 5.0]
    assert nearest_frames(np.array([0.0, 0.04, 0.08]), [0.05, 0.079, -1]) == [1, 2, 0]
