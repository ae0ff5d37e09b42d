"""The normalized spatial vocabulary (DESIGN.md section 4) that prompts, answer schemas and the embedded
describer share: a 9-zone grid, screen directions, change types."""

from __future__ import annotations

from codecvdc_assets.schemas import CHANGE_TYPES  # noqa: F401 (the change types a residual's table allows)

ZONES = (
    ("upper-left", "upper-center", "upper-right"),
    ("center-left", "center", "center-right"),
    ("lower-left", "lower-center", "lower-right"),
)
ZONE_NAMES = [z for row in ZONES for z in row]
DIRECTIONS = ["left", "right", "up", "down", "toward camera", "away from camera", "none"]
