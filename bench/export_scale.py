"""Export at scale: `codecvdc export OUT` (hf) of a synthetic lake with CodecVDC-100K's shape.

The lake is bench/synthetic_lake.py's, in the compacted layout (10 % of 118,257 videos by default,
`--full` for all). The export runs as its own process, which prints its kernel high-water mark (VmHWM)
at exit: the peak RSS of the whole export (DuckDB, pyarrow, the card). Target: <= 1 GB at full size
(stream, never load a whole table). Reported: wall time, rows per second (all configs), peak RSS, and
the export's bytes per residual (the residuals config alone, and all configs with the card).
BENCH_EXPORT_HOME=HOME reuses the lake of an earlier run (the full lake takes ~15 min to write here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .memory import HWM
from .synthetic_lake import FULL_VIDEOS, generate

SUITE = "7 export"
TARGET_MB = 1024
CHILD = "import sys\nfrom codecvdc_assets.cli import main\ncode = main(sys.argv[1:])" + HWM + "\nsys.exit(code)"


def main(full: bool = False, quick: bool = False) -> int:
    share = 1.0 if full else (0.01 if quick else 0.10)
    n_videos = round(FULL_VIDEOS * share)
    label = "full" if full else f"{share:.0%}"
    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    work = Path(tempfile.mkdtemp(prefix="codecvdc-exportbench-", dir=base))
    try:
        reuse = os.environ.get("BENCH_EXPORT_HOME")  # a home with this size's lake from an earlier run
        home = Path(reuse) if reuse else work / "home"
        t0 = time.perf_counter()
        if reuse:
            import duckdb

            glob = str(home / "lake" / "residuals" / "_compacted" / "*" / "*.parquet")
            n_res = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0][0]
            rows = {"residuals": n_res}
        else:
            rows = generate(home / "lake", n_videos, "compacted")
        print(
            f"export: synthetic lake ({label}), {n_videos:,} videos, {rows['residuals']:,} residuals, "
            f"{time.perf_counter() - t0:.0f} s to write",
            flush=True,
        )
        env = dict(os.environ, CODECVDC_HOME=str(home))
        env.pop("DAGSTER_HOME", None)
        env.pop("CODECVDC_PROFILE", None)
        out = work / "out"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, "export", str(out)], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"codecvdc export failed: {proc.stderr.strip().splitlines()[-1]}")
        peak_mb = int(proc.stdout.split("VmHWM")[-1].split()[0]) / 1024
        exported = sum(
            int(line.split(":")[1].split()[0].replace(",", ""))
            for line in proc.stdout.splitlines()
            if line.startswith("  ") and line.strip().endswith(" rows")
        )
        res_bytes = sum(f.stat().st_size for f in (out / "residuals").glob("*.parquet"))
        all_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        n_res = rows["residuals"]
        shards = len(list((out / "residuals").glob("*.parquet")))
        inner = float(proc.stdout.rsplit("; ", 1)[1].split("s")[0])  # the export's own time (no start-up)
        report.add(
            SUITE,
            f"`codecvdc export` hf, {n_videos:,} videos ({label}): wall time (the export alone)",
            f"{wall:.1f} s ({inner:.1f} s)",
        )
        report.add(
            SUITE,
            f"rows per second ({exported:,} rows, 5 configs), wall (export alone)",
            f"{exported / wall:,.0f} ({exported / inner:,.0f}) rows/s",
        )
        ok = peak_mb <= TARGET_MB
        report.add(
            SUITE,
            f"peak RSS of the export process ({label})",
            f"{peak_mb:,.0f} MB",
            "<= 1 GB at full size",
            f"{peak_mb / TARGET_MB:.2f}",
            ok if full else None,
        )
        report.add(
            SUITE,
            f"export bytes per residual (residuals config, {shards} shards over the splits)",
            f"{res_bytes / n_res:.1f} B",
        )
        report.add(SUITE, "export bytes per residual (all configs and the card)", f"{all_bytes / n_res:.1f} B")
        if exported < n_res:
            raise RuntimeError(f"the export holds {exported:,} rows, fewer than the {n_res:,} residuals")
        return 0 if ok or not full else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
