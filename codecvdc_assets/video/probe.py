"""Probe a video file with PyAV: stream facts and I-frame timestamps from packet flags (demux only).

No frame is decoded here, so the I-frame scan runs at demux speed (hundreds of times real time).
Every timestamp is in seconds relative to the first presentation timestamp of the video stream, so
streams that start at a non-zero time (MPEG-PS, cut HLS segments) line up with decoded frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av

from .errors import VideoError
from .ids import file_sha256


@dataclass(frozen=True)
class VideoProbe:
    path: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    start_s: float  # first presentation timestamp of the video stream (absolute seconds)
    start_pts: int  # the same in stream time_base units
    n_packets: int
    keyframe_s: list[float] = field(repr=False)  # I-frame times, relative to start_s
    keyframe_pts: frozenset[int] = field(repr=False)  # the same, as stream pts (to match decoded frames)
    time_base: Fraction = Fraction(1, 1)
    has_audio: bool = False
    audio_codec: str | None = None
    declared_frames: int = 0  # frame count from the container index (0 when unknown)
    sha256: str | None = None

    @property
    def n_keyframes(self) -> int:
        return len(self.keyframe_s)


def open_container(path: str) -> av.container.InputContainer:
    """Open a media file, turning every failure into a VideoError that names the file."""
    if not os.path.exists(path):
        raise VideoError(path, "file not found")
    if os.path.isdir(path):
        raise VideoError(path, "is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        return av.open(path, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(path, f"not a readable media file ({_reason(exc)})") from exc


def video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    streams = [s for s in container.streams.video if s.codec_context is not None]
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise VideoError(path, f"no video stream (contains: {', '.join(kinds)})")
    return streams[0]


def probe(path: str, with_sha256: bool = True) -> VideoProbe:
    """Probe `path`; raises VideoError for anything that is not a usable video."""
    path = os.fspath(path)
    with open_container(path) as container:
        stream = video_stream(container, path)
        tb = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        pts_values: list[int] = []
        key_pts: list[int] = []
        end_pts: int | None = None
        try:
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None or packet.size == 0:
                    continue
                pts_values.append(ts)
                if packet.is_keyframe:
                    key_pts.append(ts)
                stop = ts + (packet.duration or 0)
                end_pts = stop if end_pts is None else max(end_pts, stop)
        except av.FFmpegError as exc:
            raise VideoError(path, f"unreadable packet data ({_reason(exc)})") from exc
        if not pts_values:
            raise VideoError(path, "video stream has no packets with timestamps")
        if not key_pts:
            raise VideoError(path, "video stream has no keyframe (cannot be decoded from the start)")
        start = min(pts_values)
        if fps <= 0:
            fps = _fps_from_pts(pts_values, tb)
        frame_dur = 1.0 / fps if fps > 0 else 0.0
        assert end_pts is not None
        duration = max(float((end_pts - start) * tb), float((max(pts_values) - start) * tb) + frame_dur)
        declared = int(stream.frames or 0)
        if declared > 0 and len(pts_values) < 0.98 * declared - 1:
            raise VideoError(path, f"truncated: {len(pts_values)} of {declared} video packets present in the file")
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoProbe(
            path=path,
            size_bytes=os.path.getsize(path),
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=fps,
            duration_s=duration,
            start_s=float(start * tb),
            start_pts=start,
            n_packets=len(pts_values),
            keyframe_s=sorted(float((p - start) * tb) for p in set(key_pts)),
            keyframe_pts=frozenset(key_pts),
            time_base=tb,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            declared_frames=declared,
            sha256=file_sha256(path) if with_sha256 else None,
        )


def _fps_from_pts(pts_values: list[int], tb: Fraction) -> float:
    ordered = sorted(set(pts_values))
    if len(ordered) < 2:
        return 0.0
    span = float((ordered[-1] - ordered[0]) * tb)
    return (len(ordered) - 1) / span if span > 0 else 0.0


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if "Errno" in str(exc) and text else text.strip()
