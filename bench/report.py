"""The results table every suite adds to, and `bench/results.md` (machine, date, commit)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    suite: str
    measure: str
    value: str
    target: str = ""
    ratio: str = ""
    ok: bool | None = None  # None: no target (a figure reported for information)


ROWS: list[Row] = []
NOTES: dict[str, list[str]] = {}
STARTED = (dt.datetime.now(dt.UTC), os.getloadavg())  # when the run began, and the machine's load then


def add(suite: str, measure: str, value: str, target: str = "", ratio: str = "", ok: bool | None = None) -> Row:
    row = Row(suite, measure, value, target, ratio, ok)
    ROWS.append(row)
    return row


def note(suite: str, text: str) -> None:
    NOTES.setdefault(suite, []).append(text)


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "MISS")


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
        ram = f"{mem_kb / 1024**2:.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "ram": ram,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def table(rows: list[Row]) -> str:
    lines = ["| suite | measure | value | target | ratio | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.suite} | {r.measure} | {r.value} | {r.target} | {r.ratio} | {verdict(r.ok)} |")
    return "\n".join(lines)


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("suite", "measure", "value", "target", "ratio")]
    for r in rows:
        cells = [
            getattr(r, f).ljust(w)
            for f, w in zip(("suite", "measure", "value", "target", "ratio"), widths, strict=True)
        ]
        print("  ".join(cells), verdict(r.ok))


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def write_results(path: Path, rows: list[Row], argv: list[str]) -> None:
    info = machine()
    misses = [r for r in rows if r.ok is False]
    parts = [
        "# Benchmark results (`make bench`)",
        "",
        f"- date: {STARTED[0].strftime('%Y-%m-%d %H:%M')} to {info['date']}",
        f"- load average (1, 5, 15 min) at the start: {_load(STARTED[1])}; at the end: {_load(os.getloadavg())}",
        f"- commit: `{info['commit']}` (the results file is committed after the run)",
        f"- machine: {info['cpu']}, {info['ram']} RAM, {info['os']}, Python {info['python']}",
        f"- command: `python -m bench {' '.join(argv)}`".replace("  ", " "),
        "- timings are medians of interleaved repetitions on a shared, noisy machine; compare the ratios",
        "",
        table(rows),
        "",
        f"{len([r for r in rows if r.ok])} targets met, {len(misses)} missed.",
    ]
    for suite, texts in NOTES.items():
        parts += ["", f"## {suite}", ""] + [f"- {t}" for t in texts]
    path.write_text("\n".join(parts) + "\n")
