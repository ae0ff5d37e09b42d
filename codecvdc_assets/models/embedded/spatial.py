"""Positions and directions in the spatial vocabulary (models/vocabulary.py): zones, x%,y%, screen directions."""

from __future__ import annotations

from codecvdc_assets.models.vocabulary import CHANGE_TYPES, DIRECTIONS, ZONE_NAMES, ZONES  # noqa: F401 (the describer's words)


def zone_of(x: float, y: float) -> str:
    """Zone of a point given as fractions of width and height (0..1)."""
    col = min(2, max(0, int(x * 3)))
    row = min(2, max(0, int(y * 3)))
    return ZONES[row][col]


def position(x: float, y: float) -> str:
    return f"{zone_of(x, y)} (x {round(100 * x)}%, y {round(100 * y)}%)"


def direction_of(dx: float, dy: float) -> str:
    """Screen direction of a displacement (y grows downwards)."""
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"
