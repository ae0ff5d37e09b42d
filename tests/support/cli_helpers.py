"""Helpers for tests that drive `codecvdc` as separate processes over a home (crash and parallel tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from support.paths import PROJECT

CLI = [sys.executable, "-m", "codecvdc_assets.cli"]
# The per-video caption chain (frames come with segments); the VidCapQA assets are not needed here.
CHAIN = [
    "videos",
    "segments",
    "anchors",
    "residuals",
    "evidence",
    "scene_narratives",
    "chapter_narratives",
    "video_narratives",
]
SELECT_CHAIN = [arg for name in CHAIN for arg in ("--select", name)]
TABLES = ["videos", "segments", "frames", "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]
RUN_SPECIFIC = {"path", "uri"}  # where the file or JPEG sits: differs between homes, not content


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, CODECVDC_HOME=str(home), **extra)
    env.pop("DAGSTER_HOME", None)
    env.pop("CODECVDC_PROFILE", None)
    return env


def cli(args: list[str], home: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *args], env=env_for(home, **extra), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"codecvdc {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def start(args: list[str], home: Path, log: Path, **extra: str) -> subprocess.Popen:
    """`codecvdc ARGS` in its own process group (so the whole group can be killed); output to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [*CLI, *args], env=env_for(home, **extra), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def add(home: Path, paths: list[str]) -> list[str]:
    """Register files in order; returns their video ids."""
    out = cli(["add", *paths], home).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith(("added", "known"))]


def lake_table(home: Path, table: str) -> pd.DataFrame:
    """Every video's rows of a lake table, run-specific columns dropped, in a canonical order."""
    files = sorted((home / "lake" / table).glob("video_id=*/data.parquet"))
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame = frame.drop(columns=[c for c in frame.columns if c in RUN_SPECIFIC])
    keys = [c for c in ("video_id", "segment_idx", "frame_idx", "pair_idx", "event_idx") if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def model_calls(home: Path) -> pd.DataFrame:
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    try:
        return con.execute("select * from model_calls").fetchdf()
    finally:
        con.close()


def cache_keys(home: Path) -> set[str]:
    return {p.stem for p in (home / "cache" / "model_calls").glob("*/*.json")}


def views() -> list[str]:
    return sorted(p.stem for p in (PROJECT / "sql" / "views").glob("*.sql"))
