"""Token efficiency, embedded backend: completion tokens per video minute for CodecCap (anchors +
residuals), direct captioning and per-second captioning on the shared clips; the share of `none` residuals.

The assets run through `codecvdc run` in a fresh CODECVDC_HOME (no cached calls); tokens come from
the `model_calls` view (the embedded backend counts words and punctuation).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import report

SUITE = "4 tokens"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "videos"
SOURCES = {
    "CodecCap (anchors + residuals)": ("anchors", "residuals"),
    "direct captioning": ("direct_captions",),
    "per-second captioning": ("per_second_captions",),
}


def main(quick: bool = False) -> int:
    from codecvdc_assets.storage.catalog import connect

    codecvdc = str(Path(sys.executable).with_name("codecvdc"))
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CODECVDC_HOME": home}
        env.pop("DAGSTER_HOME", None)
        subprocess.run([codecvdc, "add", str(SHARED)], env=env, check=True, stdout=subprocess.DEVNULL)
        select = ["videos", "segments", "anchors", "residuals", "direct_captions", "per_second_captions"]
        cmd = [codecvdc, "run", *[a for s in select for a in ("--select", s)]]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        con = connect(home)
        try:
            minutes = con.execute("SELECT sum(duration_s) / 60 FROM videos").fetchone()[0]
            n_videos = con.execute("SELECT count(*) FROM videos").fetchone()[0]
            tokens = dict(
                con.execute(
                    "SELECT asset, sum(completion_tokens) FROM model_calls WHERE NOT cache_hit GROUP BY asset"
                ).fetchall()
            )
            none_share = con.execute("SELECT avg((change_type = 'none')::INT) FROM residuals").fetchone()[0]
        finally:
            con.close()
    per_min = {label: sum(tokens.get(a, 0) for a in assets) / minutes for label, assets in SOURCES.items()}
    codeccap = per_min["CodecCap (anchors + residuals)"]
    for label, value in per_min.items():
        ratio = "" if value == codeccap else f"CodecCap / this = {codeccap / value:.2f}"
        report.add(SUITE, f"completion tokens per video minute, {label}", f"{value:,.0f}", "", ratio)
    report.add(SUITE, "share of `none` residuals", f"{none_share:.1%}")
    report.note(
        SUITE,
        f"{n_videos} shared clips, {minutes:.2f} video minutes. The embedded describer is a classical "
        "floor, not a VLM: its anchors list every zone, so CodecCap's tokens are dominated by anchors; "
        "the paper's token saving needs a VLM that follows the delta-only prompt.",
    )
    return 0
