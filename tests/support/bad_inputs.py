"""A corpus of broken and unusual video inputs, generated with PyAV, numpy and byte edits (no ffmpeg binary).

Each case says what the video front end must do with it: `processed` (with a check of what "correct"
means for that input, in tests/test_bad_inputs.py) or `fails` (one line naming the file and matching
`reason`). README "Bad input" is the same table in prose.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from codecvdc_assets.video.synthetic import write_clip

PROCESSED = "processed"
FAILS = "fails"
TRUNCATED = r"truncated at [\d.]+ % \(container says 10\.00 s, the video ends at [\d.]+ s"
NOT_MEDIA = r"not a readable media file \(Invalid data found when processing input\)"

# Where the truncated copies are cut, as a share of the file's bytes.
CUT_POINTS = (0.01, 0.10, 0.50, 0.90)

# The variable-frame-rate clip's frame times (ms): 30 fps, then 5 fps, then a 2.5 s freeze, then 12 fps.
VFR_MS = (
    [round(i * 1000 / 30) for i in range(60)]
    + [2000 + i * 200 for i in range(10)]
    + [6500 + round(i * 1000 / 12) for i in range(30)]
)
START_OFFSET_S = 5.0  # the non-zero-start clip's first timestamp
ROTATION = 90  # the rotated clip's display matrix (counter-clockwise degrees, as VideoFrame.rotation)


# Every case and its outcome (build_corpus makes exactly these).
NAMES: dict[str, str] = {
    "text": FAILS,
    "png": FAILS,
    "random-bytes": FAILS,
    "zero-bytes": FAILS,
    **{f"truncated-{share:.0%}": FAILS for share in CUT_POINTS},
    **{f"truncated-faststart-{share:.0%}": FAILS for share in CUT_POINTS[1:]},
    "truncated-mkv-50%": FAILS,
    "audio-only": FAILS,
    "audio-with-cover-art": FAILS,
    "zero-duration": FAILS,
    "no-timestamps": PROCESSED,
    "corrupt-packet": PROCESSED,
    "corrupt-most": FAILS,
    "one-frame": PROCESSED,
    "8k": PROCESSED,
    "rotated": PROCESSED,
    "vfr": PROCESSED,
    "nonzero-start": PROCESSED,
    "all-intra": PROCESSED,
}
# Failing cases that only the decode pass finds (the probe's demux sees nothing wrong).
DECODE_FAILURES = frozenset({"corrupt-most"})


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    outcome: str  # PROCESSED | FAILS
    reason: str = ""  # FAILS: a regex the one-line message must match (after the file name)


def build_corpus(folder: Path) -> list[Case]:
    """Write every case into `folder` (fresh files, a few seconds on two cores)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, ext: str, outcome: str, reason: str, make: Callable[[str], object]) -> None:
        path = str(folder / f"{name}{ext}")
        make(path)
        cases.append(Case(name, path, outcome, reason))

    add(
        "text",
        ".mp4",
        FAILS,
        NOT_MEDIA,
        lambda p: Path(p).write_text("just some notes\n" * 200),
    )
    add("png", ".mp4", FAILS, r"a still image \(png\), not a video", _png)
    add(
        "random-bytes",
        ".mp4",
        FAILS,
        NOT_MEDIA,
        _random_bytes,
    )
    add("zero-bytes", ".mp4", FAILS, r"empty file \(0 bytes\)", lambda p: Path(p).write_bytes(b""))

    # Truncations of a real encoded clip (10 s, hard cuts), index (moov) at the end as most encoders write it:
    # any cut loses the index.
    whole = write_clip(str(folder / "_whole.mp4"), 10.0, fps=25, width=320, height=240, cuts_s=(3.0, 7.0))
    data = Path(whole).read_bytes()
    for share in CUT_POINTS:
        add(f"truncated-{share:.0%}", ".mp4", FAILS, r"truncated or incomplete MP4", _cut(data, share))
    # The same clip with the index at the front (web "faststart"): the index survives, the frames do not.
    faststart = _remux(whole, str(folder / "_faststart.mp4"), {"movflags": "faststart"})
    data = Path(faststart).read_bytes()
    for share in CUT_POINTS[1:]:
        add(f"truncated-faststart-{share:.0%}", ".mp4", FAILS, TRUNCATED, _cut(data, share))
    # Matroska declares its duration in the header: a cut at half is seen the same way.
    mkv = _remux(whole, str(folder / "_whole.mkv"), {})
    add("truncated-mkv-50%", ".mkv", FAILS, TRUNCATED, _cut(Path(mkv).read_bytes(), 0.5))

    add("audio-only", ".mp4", FAILS, r"no video stream \(audio only: aac\)", _audio_only)
    cover = r"no video stream \(audio only: aac, with cover art\)"
    add("audio-with-cover-art", ".mp4", FAILS, cover, lambda p: _audio_only(p, cover=True))
    add("zero-duration", ".mp4", FAILS, r"no video frames \(zero duration", _zero_duration)
    add("no-timestamps", ".h264", PROCESSED, "", _raw_h264)
    add("corrupt-packet", ".mp4", PROCESSED, "", _corrupt_packet)
    undecodable = r"undecodable: 15 of 75 frames \(\d+ packets rejected by the decoder, first: Invalid data"
    add("corrupt-most", ".mp4", FAILS, undecodable, _corrupt_most)
    add("one-frame", ".mp4", PROCESSED, "", lambda p: write_clip(p, 0.04, fps=25, width=160, height=120))
    add("8k", ".mp4", PROCESSED, "", _eight_k)
    add("rotated", ".mp4", PROCESSED, "", _rotated)
    add("vfr", ".mp4", PROCESSED, "", _vfr)
    add("nonzero-start", ".mkv", PROCESSED, "", _nonzero_start)
    add("all-intra", ".mp4", PROCESSED, "", lambda p: write_clip(p, 3.0, fps=25, width=160, height=120, keyint=1))
    for scratch in ("_whole.mp4", "_faststart.mp4", "_whole.mkv"):
        (folder / scratch).unlink()
    assert {c.name: c.outcome for c in cases} == NAMES
    return cases


def _cut(data: bytes, share: float) -> Callable[[str], object]:
    return lambda p: Path(p).write_bytes(data[: max(1, int(len(data) * share))])


def _remux(src: str, dst: str, options: dict[str, str]) -> str:
    with av.open(src) as source, av.open(dst, "w", options=options) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def _png(path: str) -> None:
    """A real PNG (FFmpeg opens it as a one-frame image pipe) with a video extension."""
    height, width = 48, 64
    rows = b"".join(b"\x00" + bytes([(y * 5) % 256, 80, 160] * width) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def _random_bytes(path: str) -> None:
    Path(path).write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())


def _frames(n: int, width: int, height: int) -> list[av.VideoFrame]:
    """Small moving-square frames (rgb24)."""
    out = []
    for i in range(n):
        image = np.full((height, width, 3), (40, 60, 160), dtype=np.uint8)
        side = max(4, height // 6)
        x = int((width - side) * i / max(n - 1, 1))
        image[(height - side) // 2 : (height + side) // 2, x : x + side] = 230
        out.append(av.VideoFrame.from_ndarray(image, format="rgb24"))
    return out


def _h264(out: av.container.OutputContainer, width: int, height: int, rate: int = 25, **options: str):
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", **options}
    return stream


def _encode(out: av.container.OutputContainer, stream, frames: list[av.VideoFrame]) -> None:
    for frame in frames:
        out.mux(stream.encode(frame))
    out.mux(stream.encode())


def _audio_only(path: str, cover: bool = False) -> None:
    """Two seconds of AAC; with `cover`, plus an album picture (a one-frame MJPEG "attached picture" stream)."""
    with av.open(path, "w") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        if cover:
            picture = out.add_stream("mjpeg", rate=1)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuvj420p"
            picture.disposition = av.stream.Disposition.attached_pic
            _encode(out, picture, [_frames(1, 64, 48)[0].reformat(format="yuvj420p")])
        t = np.arange(44100 * 2) / 44100
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _zero_duration(path: str) -> None:
    """A valid MP4 header whose video track never got a frame (a recording stopped at once)."""
    out = av.open(path, "w")
    stream = out.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    out.start_encoding()  # writes the header; no packet follows
    out.close()


def _raw_h264(path: str) -> None:
    """An Annex-B elementary stream: no container, so no timestamps at all (FFmpeg assumes 25 fps)."""
    with av.open(path, "w", format="h264") as out:
        _encode(out, _h264(out, 160, 120), _frames(50, 160, 120))


def _corrupt_packet(path: str) -> None:
    """A 6 s clip whose middle keyframe's payload is overwritten with garbage (sizes and index intact)."""
    write_clip(path, 6.0, fps=25, width=320, height=240, cuts_s=(2.0, 4.0), keyint=25)
    with av.open(path) as container:
        packets = [(p.pos, p.size, p.is_keyframe) for p in container.demux(video=0) if p.size]
    key = [(pos, size) for pos, size, is_key in packets if is_key]
    pos, size = key[len(key) // 2]
    data = bytearray(Path(path).read_bytes())
    # Keep the 4-byte length prefix of the first NAL unit, destroy the rest of the frame.
    data[pos + 8 : pos + size] = np.random.default_rng(3).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))


def _corrupt_most(path: str) -> None:
    """An all-intra 3 s clip whose frames after the first 15 are garbage (length prefixes kept)."""
    write_clip(path, 3.0, fps=25, width=160, height=120, keyint=1)
    with av.open(path) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(Path(path).read_bytes())
    rng = np.random.default_rng(5)
    for pos, size in packets[15:]:
        data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))


def _eight_k(path: str) -> None:
    """Three 7680x4320 frames (built in yuv420p: 50 MB a frame, not 100 MB of rgb24)."""
    width, height = 7680, 4320
    with av.open(path, "w") as out:
        stream = _h264(out, width, height)
        for i in range(3):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma = np.tile(np.linspace(16, 235, width, dtype=np.uint8), (height, 1))
            luma[1800:2520, 600 + 2000 * i : 1320 + 2000 * i] = 250
            frame.planes[0].update(luma)
            frame.planes[1].update(np.full((height // 2, width // 2), 100, np.uint8))
            frame.planes[2].update(np.full((height // 2, width // 2), 160, np.uint8))
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def rotated_picture(width: int = 320, height: int = 240) -> np.ndarray:
    """The rotated clip's stored picture: top half white, bottom half black (rgb24)."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[: height // 2] = 255
    return image


def _rotated(path: str) -> None:
    """Stored 320x240 with a display matrix: players show it 240x320, rotated 90 degrees counter-clockwise."""
    with av.open(path, "w") as out:
        stream = _h264(out, 320, 240)
        stream.set_display_rotation(ROTATION)
        picture = av.VideoFrame.from_ndarray(rotated_picture(), format="rgb24")
        _encode(out, stream, [picture] * 50)


def _vfr(path: str) -> None:
    """Irregular frame times (VFR_MS), as phones record; time base 1 ms."""
    with av.open(path, "w") as out:
        stream = _h264(out, 160, 120, rate=30)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for frame, ms in zip(_frames(len(VFR_MS), 160, 120), VFR_MS, strict=True):
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _nonzero_start(path: str) -> None:
    """A 3 s clip whose first timestamp is START_OFFSET_S (a cut-out piece of a longer recording)."""
    with av.open(path, "w") as out:
        stream = _h264(out, 160, 120)
        stream.codec_context.time_base = Fraction(1, 25)
        for i, frame in enumerate(_frames(75, 160, 120)):
            frame.pts, frame.time_base = round(START_OFFSET_S * 25) + i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
