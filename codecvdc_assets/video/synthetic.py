"""Generated test clips with known content (for the demo, tests and benchmarks).

Each shot has its own background colour and a fixed noise texture; a square moves left to right.
Hard cuts happen exactly at the given times, so the ground truth is known to the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

_PALETTE = [(40, 60, 160), (170, 60, 40), (40, 140, 60), (150, 150, 40), (120, 40, 140), (30, 130, 150)]


def write_clip(
    path: str,
    duration_s: float,
    fps: int = 25,
    width: int = 320,
    height: int = 240,
    cuts_s: Sequence[float] = (),
    codec: str = "libx264",
    keyint: int | None = None,
    square: bool = True,
    seed: int = 0,
) -> str:
    """Encode a clip; `keyint` fixes the GOP length (None leaves the encoder's scene-cut I-frames)."""
    rng = np.random.default_rng(seed)
    n_frames = max(1, round(duration_s * fps))
    cut_frames = sorted(round(t * fps) for t in cuts_s)
    textures = [rng.integers(0, 40, (height, width, 1), dtype=np.uint8) for _ in range(len(cut_frames) + 1)]
    with av.open(path, mode="w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps, 1))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            opts = {"preset": "ultrafast", "tune": "zerolatency"} if keyint else {"preset": "ultrafast"}
            if keyint:
                opts.update({"g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0"})
                stream.options = opts | {"x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0"}
            else:
                stream.options = opts
        elif keyint:
            stream.gop_size = keyint
        for i in range(n_frames):
            shot = sum(1 for c in cut_frames if i >= c)
            colour = np.array(_PALETTE[shot % len(_PALETTE)], dtype=np.uint8)
            image = np.clip(textures[shot].astype(np.int16) + colour, 0, 255).astype(np.uint8)
            if square:
                side = max(4, height // 6)
                x = int((width - side) * (i / max(n_frames - 1, 1)))
                y = (height - side) // 2
                image[y : y + side, x : x + side] = (230, 230, 230)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut_times(duration_s: float, min_shot_s: float, max_shot_s: float, seed: int = 0) -> list[float]:
    """Hard cuts with shots of min_shot_s..max_shot_s seconds (seeded), none in the last min_shot_s."""
    rng = np.random.default_rng(seed)
    cuts, t = [], 0.0
    while (t := t + float(rng.uniform(min_shot_s, max_shot_s))) < duration_s - min_shot_s:
        cuts.append(round(t, 2))
    return cuts


def write_long_clip(
    path: str,
    duration_s: float,
    width: int = 160,
    height: int = 90,
    fps: int = 10,
    min_shot_s: float = 5.0,
    max_shot_s: float = 60.0,
    seed: int = 0,
) -> list[float]:
    """A long clip (minutes to hours) made in seconds: low resolution and frame rate, a cut every
    min_shot_s..max_shot_s seconds; returns the cut times."""
    cuts = cut_times(duration_s, min_shot_s, max_shot_s, seed)
    write_clip(path, duration_s, fps=fps, width=width, height=height, cuts_s=cuts, seed=seed)
    return cuts
