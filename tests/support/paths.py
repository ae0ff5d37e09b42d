"""Where things are: the checkout, and ../shared beside it (real clips, question pools, annotations)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT.parent / "shared"
SHARED_VIDEOS = SHARED / "videos"


def shared(name: str) -> str:
    path = SHARED_VIDEOS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/videos beside the checkout")
    return str(path)
