"""`codecvdc report` opened in headless Chromium (Debian's chromium, installed by `make test`)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.paths import PROJECT, shared

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


# An outside captioner whose caption is hostile markup: the report must show it as text.
HOSTILE = "<script>document.body.setAttribute('data-pwned', '1')</script><b>bold</b> bikes & riders"


def test_report_renders_table_chart_and_timeline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    for name in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / name, project / name)
    (project / "outside.jsonl").write_text(json.dumps({"video_id": "bikes", "caption": HOSTILE}) + "\n")
    profile = project / "resources" / "embedded.yaml"
    profile.write_text(
        profile.read_text().replace(
            "  direct_frames: 8 ", "  external_captions: [{source: outside, path: outside.jsonl}]\n  direct_frames: 8 "
        )
    )
    env = dict(os.environ, CODECVDC_HOME=str(home), CODECVDC_PROJECT_DIR=str(project))
    env.pop("DAGSTER_HOME", None)
    # bikes.mp4 has three questions in the demo bank (matched by its name).
    for args in (["add", shared("bikes.mp4")], ["run"], ["report", "-o", str(tmp_path / "report.html")]):
        proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "report.html").as_uri()
    profile_dir = ["--user-data-dir=" + str(tmp_path / "chromium")]
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *profile_dir, "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="comparison"' in dom and dom.count('class="row"') == 4  # 3 dimensions + overall
    # rows x caption sources: CodecCap's 4 levels, direct, per-second, LongCaption-Agent, the outside one
    assert len(re.findall(r'<rect class="bar"', dom)) == 4 * 8
    assert len(re.findall(r'<line class="ci"', dom)) == 4 * 8
    assert dom.count('class="segment"') == 6 and dom.count('class="anchor"') == 6  # bikes: six shots
    assert dom.count('class="residual"') == 9
    check_strategy_panel(tmp_path, dom, profile_dir)
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *profile_dir, "--window-size=1200,1600", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=120,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1600, 1200)
    # The chart's bars are drawn: the source colours are on screen, not only text on white.
    blue = ((abs(image[..., 0].astype(int) - 0xB4) < 12) & (abs(image[..., 2].astype(int) - 0x1F) < 12)).sum()
    assert blue > 200, "no bar of the first source's colour was rendered"


def check_strategy_panel(tmp_path: Path, dom: str, profile_dir: list[str]) -> None:
    """The per-video panel: thumbnails that decode (in Chromium and here), bounded in size; every
    strategy's caption; the hostile caption shown as text, its script never run; evidence verdicts."""
    assert 'id="video-panel"' in dom and 'id="pairs"' in dom
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]  # the script did not run
    assert "&lt;script&gt;document.body.setAttribute" in dom and "&lt;b&gt;bold&lt;/b&gt; bikes &amp; riders" in dom
    sources = re.findall(r'class="vp-caption" data-source="([^"]+)"', dom)
    assert set(sources) >= {"codeccap:all", "codeccap:video", "direct:caption", "per_second:caption",
                            "longcaption:video", "outside:caption"}  # fmt: skip
    assert re.search(r'data-source="outside:caption"><b>outside:caption</b><br><small>VidCapQA \d+% of 3', dom)
    assert dom.count('class="vp-evidence"') >= 1 and ("accepted</span>" in dom or "rejected</span>" in dom)
    assert dom.count('class="vp-residual"') == 9  # bikes: the same residuals as the timeline
    uris = re.findall(r'class="vp-thumb" alt="anchor \d+" src="data:image/jpeg;base64,([^"]+)"', dom)
    assert len(uris) == 6  # one per shot
    for uri in uris:
        data = base64.b64decode(uri)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and max(image.shape[:2]) <= 160 and len(data) <= 24_000
    # In the browser: a copy of the report with a probe that counts decoded images after load.
    probe = tmp_path / "probe.html"
    html = (tmp_path / "report.html").read_text()
    script = (
        "<script>window.addEventListener('load',()=>{const t=[...document.querySelectorAll('img.vp-thumb')];"
        "document.body.dataset.decoded=t.filter(i=>i.complete&&i.naturalWidth>0).length;});</script>"
    )
    probe.write_text(html.replace("</body>", script + "</body>"))
    probed = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *profile_dir, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-decoded="6"' in probed
