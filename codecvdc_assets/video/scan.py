"""One decode pass per video: content cuts (PySceneDetect) + 1 fps frame sampling + boundary images.

PyAV decodes with threads (frames larger than 320x240); in the decode thread each frame is scaled once
by swscale to a small BGR analysis image for PySceneDetect's ContentDetector (the same ~256 px width
its own auto-downscale uses, so its default threshold keeps its meaning), and frames cross to the
analysis thread in batches (one queue handoff per ~1 megapixel, not per frame: at 160x90 the handoff
cost as much as decoding), where a batch is scored at once and its scores go through the library's
flash filter (video/detector.py).
Frames on the sampling grid, frames where the detector fires and I-frames (possible split points) are
encoded to JPEG. Grid frames go straight to the content-addressed frame store (written by a few
threads, see background_sink.py); the others wait in a spool folder until segmentation says which ones
start a segment, so memory stays bounded whatever the video length.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from scenedetect.detector import FlashFilter

from codecvdc_assets.video.background_sink import BackgroundSink
from codecvdc_assets.video.detector import BatchScorer, CutFilter
from codecvdc_assets.video.errors import VideoError, ffmpeg_reason
from codecvdc_assets.video.prefetch import prefetch
from codecvdc_assets.video.probe import VideoProbe, open_container, video_stream
from codecvdc_assets.video.segmentation import (
    CONTENT_PRIMARY,
    GopStats,
    GridSampler,
    Segment,
    SegmentParams,
    choose_mode,
    gop_stats,
    plan_segments,
)
from codecvdc_assets.video.sinks import FrameSink

# Batches decoded ahead of analysis, each up to BATCH_PIXELS or BATCH_FRAMES (bounded: 4 x 1080p
# yuv420p frames is 12 MB, as many 160x90 ones as the frame limit allows).
DECODE_AHEAD = 4
BATCH_PIXELS = 1 << 20
BATCH_FRAMES = 64
# Frames up to this size decode in one thread: at 160x90 FFmpeg's frame threads cost ~2x the CPU of a
# single-threaded decode (~54 vs ~27 us a frame) and the other core has the analysis to do.
SMALL_FRAME_PIXELS = 320 * 240
# A video whose decoder rejects packets is still processed while at least this share of its frames decodes.
MIN_DECODED_SHARE = 0.5
# cv2.rotate codes that turn a decoded picture upright, by display rotation (counter-clockwise degrees).
_UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


@dataclass(frozen=True)
class FrameImage:
    frame_idx: int
    t_s: float
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class SampledFrame:
    segment_idx: int
    frame_idx: int
    t_s: float
    sha256: str
    width: int
    height: int
    is_sample: bool  # on the 1/sample_fps grid
    is_anchor: bool  # first frame of its segment (the keyframe anchor)


@dataclass
class ScanResult:
    mode: str
    mode_reason: str
    gop: GopStats
    n_frames: int
    end_s: float
    segments: list[Segment]
    frames: list[SampledFrame]
    cut_frames: list[int] = field(default_factory=list)
    decode_errors: int = 0  # packets the decoder rejected (skipped; the video is still processed)
    first_decode_error: str | None = None


ProgressFn = Callable[[float], None]


def scan_video(
    info: VideoProbe,
    params: SegmentParams,
    sink: FrameSink,
    spool_root: str | None = None,
    progress: ProgressFn | None = None,
) -> ScanResult:
    """Decode `info.path` once; return the segments and the sampled frames (already in `sink`)."""
    path = info.path
    stats = gop_stats(info.keyframe_s, max(info.n_packets, 1), params)
    mode, reason = choose_mode(stats, params)
    # All-intra streams have no usable I-frame split points; skip their images.
    keep_iframes = stats.degenerate is None or not stats.degenerate.startswith("all-intra")
    iframe_pts = info.keyframe_pts if keep_iframes else frozenset()

    det_fps = info.fps if info.fps > 0 else 25.0
    # PySceneDetect's ContentDetector, scored a batch at a time (video/detector.py).
    scorer = BatchScorer()
    detector = CutFilter(
        params.content_threshold,
        params.detector_min_scene_len,
        det_fps,
        mode=FlashFilter.Mode.MERGE,  # PySceneDetect's default: rapid cut sequences are one flash
    )
    # MERGE reports a cut up to `event_buffer_length` frames late, and a reported cut is always a frame
    # whose score reached the threshold: keep only those frames of that window, scaled down to the JPEG
    # size when larger, so memory is bounded whatever the source resolution.
    window = detector.event_buffer_length + 2
    recent: deque[tuple[int, float, av.VideoFrame]] = deque()
    threshold = params.content_threshold
    sampler = GridSampler(params.sample_fps)
    # Analysis and JPEG scaling work on the decoded (coded) picture; JPEGs are then turned upright.
    coded_w, coded_h = info.coded_size
    aw, ah = _scaled(coded_w, coded_h, params.analysis_width)
    jw, jh = _fit(coded_w, coded_h, params.frame_max_side)
    shrink_recent = coded_w * coded_h > jw * jh
    upright = _UPRIGHT.get(info.rotation)
    out_w, out_h = (jh, jw) if upright is not None and info.rotation != 180 else (jw, jh)
    errors = _DecodeErrors()
    # t = (pts - start) * time_base as an int ratio: the same correctly rounded float as float(Fraction).
    tb_num, tb_den = info.time_base.numerator, info.time_base.denominator
    start_pts = info.start_pts

    times: list[float] = []
    scores: list[float] = []
    cuts: list[int] = []
    grid: dict[int, FrameImage] = {}
    spooled: dict[int, tuple[str, float]] = {}  # frame idx -> (spool path, t) for boundary candidates
    spool = tempfile.mkdtemp(prefix="scan-", dir=spool_root)
    store = BackgroundSink(sink)  # durable writes overlap the decode; closed (all written) before we return

    # One reformatter per target keeps swscale's context cached (a new one per frame costs ~1 ms).
    to_jpeg, to_recent = VideoReformatter(), VideoReformatter()

    def encode(frame: av.VideoFrame) -> bytes:
        # Scale (if needed) in YUV, then OpenCV's SIMD I420->BGR: ~5x cheaper than swscale to bgr24.
        yuv = to_jpeg.reformat(frame, width=jw, height=jh, format="yuv420p")
        bgr = cv2.cvtColor(yuv.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
        if upright is not None:
            bgr = cv2.rotate(bgr, upright)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
        if not ok:
            raise VideoError(path, f"JPEG encoding failed at {frame.time} s")
        return buf.tobytes()

    def to_spool(idx: int, t: float, frame: av.VideoFrame) -> None:
        if idx in grid or idx in spooled:
            return
        target = os.path.join(spool, f"{idx}.jpg")
        with open(target, "wb") as fh:
            fh.write(encode(frame))
        spooled[idx] = (target, t)

    last_t = -1.0
    iframe_spacing = params.max_duration_s / 8
    next_iframe_t = 0.0
    try:
        with open_container(path) as container:
            stream = video_stream(container, path)
            if coded_w * coded_h > SMALL_FRAME_PIXELS:
                stream.thread_type = "AUTO"
            batches = _analysis_batches(_decode(container, stream, errors), aw, ah, scorer)
            decoded = prefetch(batches, ahead=DECODE_AHEAD)
            try:
                for batch, batch_scores in decoded:
                    scores.extend(batch_scores)
                    for frame, score in zip(batch, batch_scores, strict=True):
                        idx = len(times)
                        pts = frame.pts
                        if info.timestamps_synthesized:  # raw stream: one frame period each
                            t = idx / det_fps
                        elif pts is None:  # one untimed frame in a timed stream: a period after the last
                            t = last_t + 1 / det_fps if idx else 0.0
                        else:
                            t = (pts - start_pts) * tb_num / tb_den
                        if t <= last_t:  # broken or duplicated timestamps: keep time strictly increasing
                            t = last_t + 1e-6
                        last_t = t
                        times.append(t)
                        fired = detector.cuts(idx, score)
                        if sampler.take(t):
                            grid[idx] = FrameImage(idx, t, store.put(encode(frame)), out_w, out_h)
                        elif _is_iframe(frame, iframe_pts, info.timestamps_synthesized) and t >= next_iframe_t:
                            # I-frames only matter as max-duration split points: a few per split window do.
                            to_spool(idx, t, frame)
                            next_iframe_t = t + iframe_spacing
                        while recent and recent[0][0] <= idx - window:
                            recent.popleft()
                        if score >= threshold:
                            kept = to_recent.reformat(frame, width=jw, height=jh) if shrink_recent else frame
                            recent.append((idx, t, kept))
                        for cut in fired:
                            cuts.append(cut)
                            for r_idx, r_t, r_frame in recent:
                                if r_idx == cut:
                                    to_spool(r_idx, r_t, r_frame)
                        if progress and idx % 250 == 0 and info.duration_s > 0:
                            progress(min(t / info.duration_s, 1.0))
            except av.FFmpegError as exc:
                raise VideoError(
                    path, f"unreadable container data after {len(times)} frames ({ffmpeg_reason(exc)})"
                ) from exc
            finally:
                decoded.close()  # stops the decode thread before the container closes
                recent.clear()
        if not times:
            raise VideoError(path, f"no decodable video frames{errors.summary(info.n_packets)}")
        if errors.count and len(times) < MIN_DECODED_SHARE * info.n_packets:
            raise VideoError(path, f"undecodable: {len(times)} of {info.n_packets} frames{errors.summary(0)}")
        frame_s = np.asarray(times)
        frame_dur = 1.0 / det_fps
        end_s = max(float(frame_s[-1]) + frame_dur, min(info.duration_s, float(frame_s[-1]) + 2 * frame_dur))
        if info.duration_s > 2.0 and frame_s[-1] < 0.9 * info.duration_s - 1.0:
            raise VideoError(
                path, f"truncated: decoded {frame_s[-1]:.2f} s of {info.duration_s:.2f} s declared duration"
            )
        segments = plan_segments(
            frame_s,
            end_s,
            info.keyframe_s if keep_iframes else [],
            cuts,
            np.asarray(scores),
            sorted(set(grid) | set(spooled)),
            mode if stats.n_iframes else CONTENT_PRIMARY,
            params,
        )
        frames = _collect_frames(segments, grid, spooled, store, out_w, out_h)
        store.close()
    finally:
        with contextlib.suppress(Exception):  # after a failure: its error is the one to report
            store.close()
        shutil.rmtree(spool, ignore_errors=True)
    if progress:
        progress(1.0)
    return ScanResult(mode, reason, stats, len(times), end_s, segments, frames, cuts, errors.count, errors.first)


class _DecodeErrors:
    """Packets the decoder rejected: counted, the first reason kept."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def add(self, exc: BaseException) -> None:
        self.count += 1
        self.first = self.first or ffmpeg_reason(exc)

    def summary(self, n_packets: int) -> str:
        if not self.count:
            return ""
        of = f" of {n_packets}" if n_packets else ""
        return f" ({self.count}{of} packets rejected by the decoder, first: {self.first})"


def _decode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, errors: _DecodeErrors
) -> Iterator[av.VideoFrame]:
    """Decoded frames of `stream`; a packet the decoder rejects (corrupt data) is skipped and counted."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:  # demux errors (a broken container) are raised by the loop itself
            errors.add(exc)
            continue
        yield from frames


def _analysis_batches(
    frames: Iterator[av.VideoFrame], width: int, height: int, scorer: BatchScorer
) -> Iterator[tuple[list[av.VideoFrame], list[float]]]:
    """Frames in batches of about BATCH_PIXELS source pixels, with their content scores. Runs in the
    decode thread: each frame is scaled to a BGR analysis image (POINT sampling = PySceneDetect's own
    downscale) and a batch's images are stacked and scored at once (BatchScorer), so the analysis
    thread only walks the batch. swscale's slice threads are off (threads=1): on images this small
    their handoff costs more than the scaling. (Scoring here rather than in the analysis thread
    measured ~20 % less CPU at 160x90: fewer GIL handoffs between the two threads.)"""
    to_small = VideoReformatter()
    batch: list[av.VideoFrame] = []
    images: list[np.ndarray] = []
    pixels = 0
    for frame in frames:
        small = to_small.reformat(frame, width=width, height=height, format="bgr24", interpolation="POINT", threads=1)
        batch.append(frame)
        images.append(small.to_ndarray())
        pixels += frame.width * frame.height
        if pixels >= BATCH_PIXELS or len(batch) >= BATCH_FRAMES:
            yield batch, scorer.scores(np.concatenate(images), len(batch))
            batch, images, pixels = [], [], 0
    if batch:
        yield batch, scorer.scores(np.concatenate(images), len(batch))


def _is_iframe(frame: av.VideoFrame, iframe_pts: frozenset[int], synthesized: bool) -> bool:
    if synthesized or frame.pts is None:  # no timestamps to match the packet scan: trust the decoder's flag
        return bool(iframe_pts) and frame.key_frame
    return frame.pts in iframe_pts


def _collect_frames(
    segments: list[Segment],
    grid: dict[int, FrameImage],
    spooled: dict[int, tuple[str, float]],
    sink: FrameSink,
    width: int,
    height: int,
) -> list[SampledFrame]:
    rows: list[SampledFrame] = []
    grid_idx = sorted(grid)
    for seg in segments:
        start = seg.start_frame
        if start in grid:
            anchor = grid[start]
        elif start in spooled:
            spool_path, t = spooled[start]
            anchor = FrameImage(start, t, sink.put_file(spool_path), width, height)
        else:  # cannot happen for planned boundaries; fall back to the segment's first grid frame
            inside = [i for i in grid_idx if seg.start_frame <= i < seg.end_frame]
            if not inside:
                continue
            anchor = grid[inside[0]]
        rows.append(_row(seg.segment_idx, anchor, is_sample=anchor.frame_idx in grid, is_anchor=True))
        for i in grid_idx:
            if seg.start_frame <= i < seg.end_frame and i != anchor.frame_idx:
                rows.append(_row(seg.segment_idx, grid[i], is_sample=True, is_anchor=False))
    return rows


def _row(segment_idx: int, img: FrameImage, is_sample: bool, is_anchor: bool) -> SampledFrame:
    return SampledFrame(segment_idx, img.frame_idx, img.t_s, img.sha256, img.width, img.height, is_sample, is_anchor)


def _scaled(width: int, height: int, target_width: int) -> tuple[int, int]:
    if width <= target_width:
        return _even(width), _even(height)
    return _even(target_width), _even(max(2, round(height * target_width / width)))


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height, 1))
    return _even(round(width * scale)), _even(round(height * scale))


def _even(x: int) -> int:
    return max(2, int(x) // 2 * 2)
