"""`codecvdc report` opened in headless Chromium (Debian's chromium, installed by `make test`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import shared

CLI = [sys.executable, "-m", "codecvdc_assets.cli"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package")
    return path


def test_report_renders_table_chart_and_timeline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, CODECVDC_HOME=str(home))
    env.pop("DAGSTER_HOME", None)
    # bikes.mp4 has three questions in the demo bank (matched by its name).
    for args in (["add", shared("bikes.mp4")], ["run"], ["report", "-o", str(tmp_path / "report.html")]):
        proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "report.html").as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "chromium")]
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *profile, "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="comparison"' in dom and dom.count('class="row"') == 4  # 3 dimensions + overall
    assert len(re.findall(r'<rect class="bar"', dom)) == 4 * 6  # rows x caption sources
    assert len(re.findall(r'<line class="ci"', dom)) == 4 * 6
    assert dom.count('class="segment"') == 6 and dom.count('class="anchor"') == 6  # bikes: six shots
    assert dom.count('class="residual"') == 9
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *profile, "--window-size=1200,1600", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=120,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1600, 1200)
    # The chart's bars are drawn: the source colours are on screen, not only text on white.
    blue = ((abs(image[..., 0].astype(int) - 0xB4) < 12) & (abs(image[..., 2].astype(int) - 0x1F) < 12)).sum()
    assert blue > 200, "no bar of the first source's colour was rendered"
