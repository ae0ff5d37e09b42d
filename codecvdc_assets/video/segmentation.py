"""Scene-aligned segmentation (CodecCap section 3.2), as pure functions over scan results.

Inputs are what one decode pass produced (frame times, content-detector cuts and scores) and what the
packet scan produced (I-frame times). Nothing here decodes video, so every rule is unit-testable.

Rules, in order:
1. GOP regularity: CV of the gaps between I-frames. ``CV >= tau_gop`` -> I-frame-primary; lower ->
   content-primary. Degenerate GOP signals (one I-frame, fewer than three gaps, all-intra) go
   content-primary, because they say nothing about where the encoder saw scene changes.
2. I-frame-primary: an I-frame is a boundary only if a content cut lies within ``proximity_s`` of it.
   The boundary is placed on that content cut's frame (where the picture actually changes, so the
   segment's first frame shows the new scene) and the confirming I-frame time is recorded in
   ``iframe_s``. Content cuts with no I-frame nearby and I-frames with no cut nearby are dropped.
   Content-primary: every content cut is a boundary.
3. Segments shorter than ``min_duration_s`` (flashes) are merged into the previous segment (the first
   one into the next).
4. Segments longer than ``max_duration_s`` are split, balanced, preferring an I-frame near the ideal
   split point and otherwise the lowest-change frame among the frames with a stored image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

IFRAME_PRIMARY = "iframe-primary"
CONTENT_PRIMARY = "content-primary"


@dataclass(frozen=True)
class SegmentParams:
    """Every knob of segmentation and sampling; defaults calibrated on ../shared/videos (see README)."""

    tau_gop: float = 0.15
    proximity_s: float = 0.5
    min_duration_s: float = 0.2
    max_duration_s: float = 60.0
    all_intra_ratio: float = 0.9
    content_threshold: float = 27.0
    detector_min_scene_len: int = 15  # frames, PySceneDetect's default flash-filter length
    analysis_width: int = 256
    sample_fps: float = 1.0
    frame_max_side: int = 1280
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        problems = []
        if self.sample_fps <= 0:
            problems.append("sample_fps must be > 0")
        if self.min_duration_s < 0:
            problems.append("min_duration_s must be >= 0")
        if self.max_duration_s < max(2.0 / self.sample_fps if self.sample_fps > 0 else 0, 2 * self.min_duration_s):
            problems.append("max_duration_s must be >= 2/sample_fps and >= 2*min_duration_s")
        if self.proximity_s < 0 or self.tau_gop < 0:
            problems.append("proximity_s and tau_gop must be >= 0")
        if not 16 <= self.analysis_width <= 4096:
            problems.append("analysis_width must be in [16, 4096]")
        if not 1 <= self.jpeg_quality <= 100:
            problems.append("jpeg_quality must be in [1, 100]")
        if problems:
            raise ValueError("invalid segmentation parameters: " + "; ".join(problems))

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class GopStats:
    n_iframes: int
    n_gaps: int
    mean_gap_s: float | None
    cv: float | None
    keyframe_ratio: float
    degenerate: str | None  # why the GOP carries no signal, or None


@dataclass(frozen=True)
class Segment:
    segment_idx: int
    start_frame: int
    end_frame: int  # exclusive
    start_s: float
    end_s: float
    boundary_source: str  # start | content | iframe+content | max_duration
    iframe_s: float | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def gop_stats(iframe_s: Sequence[float], n_frames: int, params: SegmentParams) -> GopStats:
    times = np.unique(np.asarray(iframe_s, dtype=float))
    gaps = np.diff(times)
    ratio = len(times) / n_frames if n_frames else 1.0
    cv = mean = None
    if len(gaps):
        mean = float(gaps.mean())
        cv = float(gaps.std() / mean) if mean > 0 else 0.0
    degenerate = None
    if ratio >= params.all_intra_ratio and len(times) > 1:
        degenerate = f"all-intra ({len(times)} of {n_frames} frames are keyframes)"
    elif len(times) <= 1:
        degenerate = "single I-frame"
    elif len(gaps) < 3:
        degenerate = f"only {len(gaps)} I-frame gaps (< 3)"
    return GopStats(len(times), len(gaps), mean, cv, ratio, degenerate)


def choose_mode(stats: GopStats, params: SegmentParams) -> tuple[str, str]:
    """The segmentation mode and a one-line reason for it."""
    if stats.degenerate:
        return CONTENT_PRIMARY, f"no GOP signal: {stats.degenerate}"
    assert stats.cv is not None
    if stats.cv >= params.tau_gop:
        return IFRAME_PRIMARY, f"irregular GOP (CV {stats.cv:.3f} >= tau_gop {params.tau_gop})"
    return CONTENT_PRIMARY, f"fixed GOP (CV {stats.cv:.3f} < tau_gop {params.tau_gop})"


def plan_segments(
    frame_s: np.ndarray,
    end_s: float,
    iframe_s: Sequence[float],
    cut_frames: Sequence[int],
    scores: np.ndarray,
    splittable: Sequence[int],
    mode: str,
    params: SegmentParams,
) -> list[Segment]:
    """Boundaries from cuts and I-frames, then min/max duration rules. `frame_s` strictly increases."""
    n = len(frame_s)
    if n == 0:
        return []
    bounds: dict[int, tuple[str, float | None]] = {0: ("start", None)}
    cuts = sorted({c for c in cut_frames if 0 < c < n})
    if mode == CONTENT_PRIMARY:
        for c in cuts:
            bounds[c] = ("content", None)
    else:
        cut_t = frame_s[cuts] if cuts else np.empty(0)
        for t_i in iframe_s:
            if not cuts:
                break
            j = int(np.argmin(np.abs(cut_t - t_i)))
            if abs(cut_t[j] - t_i) <= params.proximity_s and cuts[j] not in bounds:
                bounds[cuts[j]] = ("iframe+content", float(t_i))

    starts = _merge_short(sorted(bounds), frame_s, end_s, params.min_duration_s)
    starts = _split_long(starts, bounds, frame_s, end_s, iframe_s, scores, splittable, params)

    segments = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        source, t_iframe = bounds[start]
        seg_end = float(frame_s[stop]) if stop < n else float(end_s)
        segments.append(Segment(i, start, stop, float(frame_s[start]), seg_end, source, t_iframe))
    return segments


def _seg_end(starts: list[int], i: int, frame_s: np.ndarray, end_s: float) -> float:
    return float(frame_s[starts[i + 1]]) if i + 1 < len(starts) else end_s


def _merge_short(starts: list[int], frame_s: np.ndarray, end_s: float, min_s: float) -> list[int]:
    starts = list(starts)
    i = 0
    while len(starts) > 1 and i < len(starts):
        if _seg_end(starts, i, frame_s, end_s) - frame_s[starts[i]] >= min_s:
            i += 1
            continue
        # A flash: drop its own start (merge into the previous) or, for the first segment, the next start.
        del starts[i if i > 0 else 1]
        i = max(i - 1, 0)
    return starts


def _split_long(
    starts: list[int],
    bounds: dict[int, tuple[str, float | None]],
    frame_s: np.ndarray,
    end_s: float,
    iframe_s: Sequence[float],
    scores: np.ndarray,
    splittable: Sequence[int],
    params: SegmentParams,
) -> list[int]:
    max_s = params.max_duration_s
    cand = np.asarray(sorted(set(splittable)), dtype=int)
    at_iframe = set(nearest_frames(frame_s, iframe_s))
    out: list[int] = []
    for i, start in enumerate(starts):
        out.append(start)
        stop_t = _seg_end(starts, i, frame_s, end_s)
        cur = start
        while stop_t - frame_s[cur] > max_s:
            remaining = stop_t - frame_s[cur]
            target = frame_s[cur] + remaining / math.ceil(remaining / max_s)
            lo = max(frame_s[cur] + params.min_duration_s, target - max_s / 4)
            hi = min(frame_s[cur] + max_s, target + max_s / 4, stop_t - params.min_duration_s)
            t = frame_s[cand] if len(cand) else np.empty(0)
            inside = [int(c) for c in cand[(t >= lo) & (t <= hi)] if c > cur]
            if not inside:
                break
            iframes_inside = [c for c in inside if c in at_iframe]
            if iframes_inside:  # prefer an I-frame: the codec already starts a clean picture there
                pick = min(iframes_inside, key=lambda c: abs(frame_s[c] - target))
            else:  # else the lowest-change frame, then the one closest to the balanced target
                pick = min(inside, key=lambda c: (round(float(scores[c]), 3), abs(frame_s[c] - target)))
            bounds[pick] = ("max_duration", float(frame_s[pick]) if pick in at_iframe else None)
            out.append(pick)
            cur = pick
    return out


def nearest_frames(frame_s: np.ndarray, times: Sequence[float]) -> list[int]:
    """Index of the frame whose timestamp is nearest to each time."""
    if not len(frame_s):
        return []
    idx = np.clip(np.searchsorted(frame_s, np.asarray(times, dtype=float)), 1, len(frame_s) - 1)
    left = frame_s[idx - 1]
    right = frame_s[idx]
    pick = np.where(np.abs(np.asarray(times) - left) <= np.abs(right - np.asarray(times)), idx - 1, idx)
    return [int(x) for x in pick] if len(frame_s) > 1 else [0] * len(times)


class GridSampler:
    """Picks one frame every 1/fps seconds from the first timestamp: the first frame at or after k/fps.

    Variable frame rate and gaps are handled by timestamps, never frame counts; a gap longer than the
    sampling period yields one frame, not duplicates.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._next = 0.0

    def take(self, t: float) -> bool:
        if t + 1e-6 < self._next:
            return False
        self._next = (math.floor((t + 1e-6) * self.fps) + 1) / self.fps
        return True
