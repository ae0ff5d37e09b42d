"""Probe a video file with PyAV: stream facts and I-frame timestamps from packet flags (demux only).

Only the first frame is decoded (for the display matrix), so the I-frame scan runs at demux speed
(thousands of times real time). Every timestamp is in seconds relative to the first presentation
timestamp of the video stream, so streams that start at a non-zero time (MPEG-PS, cut HLS segments)
line up with decoded frames. Input that cannot be processed raises VideoError with one line naming
the file and the reason: not a media file, a still image, no video stream, no frames, truncated.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction

import av

from codecvdc_assets.video.errors import VideoError, ffmpeg_reason
from codecvdc_assets.video.ids import file_sha256

# A file counts as truncated when its video ends this much before the duration its container declares.
TRUNCATED_SHARE = 0.98
TRUNCATED_SLACK_S = 0.1
FIRST_FRAME_PACKETS = 64  # packets fed to the decoder at most to get the first frame (display matrix)


@dataclass(frozen=True)
class VideoProbe:
    path: str
    size_bytes: int
    container: str
    codec: str
    width: int  # as displayed (after the display matrix's rotation)
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
    rotation: int = 0  # display rotation, counter-clockwise degrees: 0, 90, 180 or 270
    timestamps_synthesized: bool = False  # the stream has none (raw elementary stream): frame index / fps

    @property
    def n_keyframes(self) -> int:
        return len(self.keyframe_s)

    @property
    def coded_size(self) -> tuple[int, int]:
        """Width and height of the decoded pictures (before rotation)."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


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
        raise VideoError(path, mp4_layout_problem(path) or f"not a readable media file ({ffmpeg_reason(exc)})") from exc
    except OSError as exc:
        raise VideoError(path, f"cannot be read ({exc.strerror or exc})") from exc


def video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        codec = container.streams.video[0].codec_context.name if container.streams.video else "image"
        raise VideoError(path, f"a still image ({codec}), not a video")
    streams = [
        s
        for s in container.streams.video
        if s.codec_context is not None and not s.disposition & av.stream.Disposition.attached_pic
    ]
    if streams:
        return streams[0]
    if not container.streams:
        raise VideoError(path, "no video frames (zero duration: the container holds no stream with data)")
    audio = [s.codec_context.name for s in container.streams.audio if s.codec_context is not None]
    if audio and len(audio) == len(container.streams) - len(container.streams.video):
        cover = ", with cover art" if container.streams.video else ""
        raise VideoError(path, f"no video stream (audio only: {', '.join(audio)}{cover})")
    kinds = sorted({s.type for s in container.streams})
    raise VideoError(path, f"no video stream (contains: {', '.join(kinds)})")


def probe(path: str | os.PathLike[str], with_sha256: bool = True) -> VideoProbe:
    """Probe `path`; raises VideoError for anything that is not a usable video."""
    path = os.fspath(path)
    with open_container(path) as container:
        stream = video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        pts_values: list[int] = []
        key_pts: list[int] = []
        end_pts: int | None = None
        other_end_s = 0.0  # where the other streams end (absolute seconds): a cut file cuts them too
        rotation: int | None = None
        fed = 0
        stamped = 0
        # Other streams matter only where the container, not the video stream, declares the duration
        # (Matroska): there a video track shorter than its audio must not look cut.
        everything = not stream.duration and bool(container.duration) and len(container.streams) > 1
        try:
            for packet in container.demux() if everything else container.demux(stream):
                if packet.stream.index != stream.index:
                    if packet.pts is not None and packet.time_base is not None:
                        other_end_s = max(other_end_s, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                    continue
                if packet.size == 0:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    if stamped:  # an untimed packet in a timed stream: left out of the timing
                        continue
                    ts = len(pts_values)  # no container timestamps (raw elementary stream): one period each
                else:
                    stamped += 1
                pts_values.append(ts)
                if packet.is_keyframe:
                    key_pts.append(ts)
                stop = ts + (packet.duration or 0)
                end_pts = stop if end_pts is None else max(end_pts, stop)
                if rotation is None and fed < FIRST_FRAME_PACKETS:
                    fed += 1
                    rotation = _rotation_of_first_frame(packet)
        except av.FFmpegError as exc:
            at = f" after {len(pts_values)} video packets" if pts_values else ""
            raise VideoError(path, f"unreadable container data{at} ({ffmpeg_reason(exc)})") from exc
        if not pts_values:
            raise VideoError(path, "no video frames (zero duration: the video stream has no packets)")
        if not key_pts:
            raise VideoError(path, "video stream has no keyframe (cannot be decoded from the start)")
        synthesized = stamped == 0
        if synthesized:
            if fps <= 0:
                fps = 25.0  # FFmpeg's own assumption for raw streams without timing information
            tb = Fraction(rate) ** -1 if rate else Fraction(1, 25)
            end_pts = len(pts_values)
        else:
            tb = stream.time_base or Fraction(1, 90000)
        start = min(pts_values)
        if fps <= 0:
            fps = _fps_from_pts(pts_values, tb)
        frame_dur = 1.0 / fps if fps > 0 else 0.0
        assert end_pts is not None
        last_s = float((max(pts_values) - start) * tb)
        duration = max(float((end_pts - start) * tb), last_s + frame_dur)
        if duration <= 0:
            raise VideoError(path, "no video frames (zero duration)")
        declared = int(stream.frames or 0)
        _check_complete(path, container, stream, tb, start, duration, other_end_s, len(pts_values), declared)
        audio = container.streams.audio[0] if container.streams.audio else None
        rotation = rotation or 0
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoProbe(
            path=path,
            size_bytes=os.path.getsize(path),
            container=container.format.name,
            codec=stream.codec_context.name,
            width=width,
            height=height,
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
            rotation=rotation,
            timestamps_synthesized=synthesized,
        )


def _check_complete(
    path: str,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    tb: Fraction,
    start: int,
    duration_s: float,
    other_end_s: float,
    n_packets: int,
    declared_frames: int,
) -> None:
    """Raise when the file holds clearly less video than its container declares (a cut download or copy).

    The video stream's own declared duration is used when there is one (MP4); otherwise the container's
    (Matroska), compared with where any stream ends, so a video track shorter than its audio is not a cut.
    """
    present = duration_s
    if stream.duration:
        declared = float(stream.duration * stream.time_base)
    elif container.duration:
        declared = container.duration / av.time_base
        # The container's duration may or may not count the start offset: take the larger reading.
        present = max(duration_s + float(start * tb), duration_s, other_end_s)
    else:
        return
    if declared_frames > 0 and n_packets < TRUNCATED_SHARE * declared_frames - 1:
        present = min(present, declared * n_packets / declared_frames)
    if declared > 0 and present < TRUNCATED_SHARE * declared - TRUNCATED_SLACK_S:
        frames = f", {n_packets} of {declared_frames} frames" if declared_frames else ""
        raise VideoError(
            path,
            f"truncated at {_percent(present / declared)} % (container says {declared:.2f} s, "
            f"the video ends at {duration_s:.2f} s{frames})",
        )


def _rotation_of_first_frame(packet: av.Packet) -> int | None:
    """The display rotation of the first decoded frame (counter-clockwise, a multiple of 90), or None yet."""
    try:
        frames = packet.decode()
    except av.FFmpegError:
        return None
    for frame in frames:
        return round((frame.rotation or 0) / 90) * 90 % 360
    return None


def mp4_layout_problem(path: str) -> str | None:
    """Why an MP4/MOV that FFmpeg cannot open is broken, from its top-level boxes; None if not an MP4."""
    size = os.path.getsize(path)
    boxes: list[tuple[str, int, int]] = []  # (type, offset, declared size)
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= size and len(boxes) < 64:
            fh.seek(offset)
            head = fh.read(16)
            box_size, kind = struct.unpack(">I4s", head[:8])
            if box_size == 1 and len(head) == 16:
                box_size = struct.unpack(">Q", head[8:16])[0]
            elif box_size == 0:
                box_size = size - offset
            name = kind.decode("latin-1")
            if box_size < 8 or not name.isalnum():
                break
            boxes.append((name, offset, box_size))
            offset += box_size
    if not boxes or boxes[0][0] not in {"ftyp", "moov", "mdat", "free", "wide", "skip"}:
        return None
    if any(name == "moov" for name, _, _ in boxes):
        return None
    name, offset, box_size = boxes[-1]
    if offset + box_size > size:
        inside = f"; the file ends inside its '{name}' box ({size - offset:,} of {box_size:,} bytes)"
    else:
        inside = ""
    return f"truncated or incomplete MP4: no 'moov' index box{inside}"


def _percent(share: float) -> str:
    return f"{100 * share:.1f}" if share < 0.1 else f"{100 * share:.0f}"


def _fps_from_pts(pts_values: list[int], tb: Fraction) -> float:
    ordered = sorted(set(pts_values))
    if len(ordered) < 2:
        return 0.0
    span = float((ordered[-1] - ordered[0]) * tb)
    return (len(ordered) - 1) / span if span > 0 else 0.0
