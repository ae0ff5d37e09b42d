"""Long videos (issue 21): the whole default chain (`codecvdc add` + `codecvdc run`, embedded profile, every
strategy) on generated clips of 1, 10, 30, 60 and 120 minutes at 160x90 and one of 10 minutes at 1280x720
(10 fps, a cut every 5-60 s), each in a fresh home.

Per clip: wall time per video minute; model calls and prompt/completion tokens per video minute per asset;
the largest request against its model's budget (prompt + max_tokens over context_tokens); the chapter and
section levels; peak RSS (the largest process of the run: `codecvdc run` and anything it started).
Targets: tokens per video minute at 120 min <= 1.2x those at 10 min (linear growth), peak RSS <= 500 MB at
2 hours, no request over budget (and none refused). `--quick`: 1, 10 and 30 minutes only;
BENCH_LONG_CLIPS=120x160,10x1280 runs the named clips only (minutes x width).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report

SUITE = "long"
OUT = Path(tempfile.gettempdir()) / "codecvdc-bench-long"
CLIPS = [(1, 160, 90), (10, 160, 90), (30, 160, 90), (60, 160, 90), (120, 160, 90), (10, 1280, 720)]
QUICK = [(1, 160, 90), (10, 160, 90), (30, 160, 90)]
RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def clip(minutes: int, width: int, height: int) -> Path:
    from codecvdc_assets.video.synthetic import write_long_clip

    path = OUT / f"long_{minutes}min_{width}x{height}.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        write_long_clip(str(tmp), minutes * 60.0, width=width, height=height, seed=minutes)
        tmp.rename(path)
    return path


def run_clip(path: Path, home: Path) -> dict:
    """`codecvdc add` + `codecvdc run` in a fresh home: wall seconds, peak RSS (MB) and the catalog's figures."""
    from codecvdc_assets.settings import load_profile
    from codecvdc_assets.storage.catalog import connect

    codecvdc = str(Path(sys.executable).with_name("codecvdc"))
    env = {**os.environ, "CODECVDC_HOME": str(home)}
    for name in ("DAGSTER_HOME", "CODECVDC_PROFILE"):
        env.pop(name, None)
    subprocess.run([codecvdc, "add", str(path)], env=env, check=True, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, codecvdc, "run"], env=env, capture_output=True)
    wall = time.perf_counter() - t0
    rss_mb = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
    profile = load_profile("embedded")
    budgets = {
        profile[section]["model"]: (int(profile[section]["max_tokens"]), int(profile[section]["context_tokens"]))
        for section in ("vision_model", "text_model")
    }
    con = connect(home)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        minutes = q("SELECT sum(duration_s) / 60 FROM videos")[0][0]
        per_asset = q(
            "SELECT asset, count(*), sum(prompt_tokens), sum(completion_tokens) FROM model_calls "
            "WHERE NOT cache_hit GROUP BY 1 ORDER BY 1"
        )
        largest = q("SELECT model, asset, max(prompt_tokens) FROM model_calls GROUP BY 1, 2")
        bad = q("SELECT count(*) FROM model_calls WHERE status <> 'ok'")[0][0]
        failures = q("SELECT count(*) FROM failures")[0][0]
        chapters = q("SELECT coalesce(max(level), 0), count(*) FROM chapter_narratives")[0]
        sections = q("SELECT coalesce(max(level), 0), count(*) FROM longcap_sections")[0]
    finally:
        con.close()
    worst = max(
        ((p + budgets[model][0]) / budgets[model][1], asset, p) for model, asset, p in largest if model in budgets
    )
    return {
        "ok": proc.returncode == 0 and failures == 0,
        "wall": wall,
        "rss_mb": rss_mb,
        "minutes": minutes,
        "per_asset": {a: (n / minutes, p / minutes, c / minutes) for a, n, p, c in per_asset},
        "tokens_per_min": sum(p + c for _, _, p, c in per_asset) / minutes,
        "calls_per_min": sum(n for _, n, _, _ in per_asset) / minutes,
        "worst": worst,
        "not_ok_calls": bad,
        "chapters": chapters,
        "sections": sections,
    }


def main(quick: bool = False) -> int:
    results = {}
    clips = QUICK if quick else CLIPS
    if os.environ.get("BENCH_LONG_CLIPS"):
        wanted = {tuple(int(x) for x in c.split("x")) for c in os.environ["BENCH_LONG_CLIPS"].split(",")}
        clips = [c for c in CLIPS if (c[0], c[1]) in wanted]
    for minutes, width, height in clips:
        label = f"{minutes} min {width}x{height}"
        path = clip(minutes, width, height)
        with tempfile.TemporaryDirectory(prefix="bench-long-", dir=OUT) as tmp:
            r = run_clip(path, Path(tmp) / "home")
        results[(minutes, width)] = r
        share, asset, prompt = r["worst"]
        print(
            f"{label}: {'ok' if r['ok'] else 'FAILED'}, {r['wall'] / r['minutes']:.1f} s wall per video minute, "
            f"{r['calls_per_min']:.0f} calls and {r['tokens_per_min']:.0f} tokens per minute, "
            f"largest request {asset} {prompt} prompt tokens ({share:.0%} of its window), "
            f"peak RSS {r['rss_mb']:.0f} MB, chapter levels {r['chapters'][0]}, section levels {r['sections'][0]}",
            flush=True,
        )
        report.add(SUITE, f"{label}: whole chain", "ok" if r["ok"] else "failed", "no failure", ok=r["ok"])
        report.add(SUITE, f"{label}: wall time per video minute", f"{r['wall'] / r['minutes']:.1f} s")
        report.add(
            SUITE,
            f"{label}: model calls / tokens (prompt + completion) per video minute",
            f"{r['calls_per_min']:.0f} / {r['tokens_per_min']:.0f}",
        )
        report.add(
            SUITE,
            f"{label}: largest request vs its window",
            f"{asset}: {prompt} prompt tokens + max_tokens = {share:.0%}",
            "<= 100 %, none refused",
            ok=share <= 1.0 and r["not_ok_calls"] == 0,
        )
        report.add(
            SUITE,
            f"{label}: intermediate levels (chapters / LongCaption sections)",
            f"{r['chapters'][0]} ({r['chapters'][1]} rows) / {r['sections'][0]} ({r['sections'][1]} rows)",
        )
        rss_target = minutes >= 120 and width == 160
        report.add(
            SUITE,
            f"{label}: peak RSS (largest process)",
            f"{r['rss_mb']:.0f} MB",
            "<= 500 MB" if rss_target else "",
            ok=(r["rss_mb"] <= 500) if rss_target else None,
        )
        for asset, (n, p, c) in sorted(r["per_asset"].items()):
            per_minute = f"{n:.1f} calls, {p:.0f} prompt + {c:.0f} completion tokens per minute"
            report.note(SUITE, f"{label}, {asset}: {per_minute}")
    base = results.get((10, 160))
    for (minutes, width), r in results.items():
        if base and width == 160 and minutes > 10:
            ratio = r["tokens_per_min"] / base["tokens_per_min"]
            wall_ratio = (r["wall"] / r["minutes"]) / (base["wall"] / base["minutes"])
            target = minutes == 120
            report.add(
                SUITE,
                f"tokens per video minute, {minutes} min vs 10 min (wall time per minute: {wall_ratio:.2f}x)",
                f"{r['tokens_per_min']:.0f} vs {base['tokens_per_min']:.0f}",
                "<= 1.2x" if target else "",
                f"{ratio:.2f}x",
                ok=(ratio <= 1.2) if target else None,
            )
    return 0
