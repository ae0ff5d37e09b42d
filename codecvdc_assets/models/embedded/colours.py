"""Colour names from HSV, vectorized."""

from __future__ import annotations

import cv2
import numpy as np

NAMES = [
    "black",
    "gray",
    "white",
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "brown",
]
# OpenCV hue is 0..179 (degrees / 2): upper bounds of the chromatic bins.
_HUE_BINS = [
    (8, "red"),
    (20, "orange"),
    (33, "yellow"),
    (82, "green"),
    (100, "cyan"),
    (130, "blue"),
    (145, "purple"),
    (170, "pink"),
    (180, "red"),
]


def name_map(bgr: np.ndarray) -> np.ndarray:
    """Index into NAMES for every pixel."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    out = np.full(h.shape, NAMES.index("gray"), np.int8)
    chroma = (s >= 60) & (v >= 50)
    lower = 0
    for upper, name in _HUE_BINS:
        out[chroma & (h >= lower) & (h < upper)] = NAMES.index(name)
        lower = upper
    brown = chroma & (out == NAMES.index("orange")) & (v < 150)
    out[brown] = NAMES.index("brown")
    out[~chroma & (v >= 190)] = NAMES.index("white")
    out[~chroma & (v < 50)] = NAMES.index("black")
    return out


def dominant(names: np.ndarray, top: int = 2) -> list[tuple[str, float]]:
    """The `top` most frequent colour names with their shares."""
    counts = np.bincount(names.ravel().astype(np.int64), minlength=len(NAMES))
    total = max(int(counts.sum()), 1)
    order = np.argsort(-counts)[:top]
    return [(NAMES[i], counts[i] / total) for i in order if counts[i] > 0]


def mean_colour_name(bgr_pixels: np.ndarray) -> str:
    """Colour name of the mean of some pixels (N x 3)."""
    if bgr_pixels.size == 0:
        return "gray"
    mean = bgr_pixels.reshape(-1, 3).mean(axis=0).astype(np.uint8).reshape(1, 1, 3)
    return NAMES[int(name_map(mean)[0, 0])]
