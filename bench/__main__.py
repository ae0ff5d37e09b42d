"""`python -m bench [SUITE ...] [--full] [--quick] [--no-write]`: run the benchmark suite (default: all),
print one table of measured values, targets and ratios, and write it to bench/results.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import (
    dense_eval,
    distributed,
    export_scale,
    long,
    memory,
    models,
    orchestration,
    pool,
    quality,
    report,
    segmentation,
    sql_scale,
    tokens,
)

SUITES = {
    "segmentation": lambda a: segmentation.main(),
    "models": lambda a: models.main(),
    "orchestration": lambda a: orchestration.main(quick=a.quick),
    "tokens": lambda a: tokens.main(quick=a.quick),
    "sql": lambda a: sql_scale.main(full=a.full, quick=a.quick),
    "memory": lambda a: memory.main(quick=a.quick),
    "export": lambda a: export_scale.main(full=a.full, quick=a.quick),
    "dense": lambda a: dense_eval.main(quick=a.quick),
    "distributed": lambda a: distributed.main(quick=a.quick),
    "pool": lambda a: pool.main(quick=a.quick),
    "quality": lambda a: quality.main(quick=a.quick),
    "long": lambda a: long.main(quick=a.quick),
}
RESULTS = Path(__file__).resolve().parent / "results.md"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of: {', '.join(SUITES)} (default: all)")
    parser.add_argument(
        "--full", action="store_true", help="SQL and export at the full CodecVDC-100K size (118,257 videos)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one repetition (a smoke run)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = parser.parse_args(argv)
    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(SUITES)}")
    for name in names:
        print(f"== {name}", flush=True)
        try:
            SUITES[name](args)
        except Exception as exc:  # one broken suite must not hide the others' figures
            report.add(name, "suite failed", f"{type(exc).__name__}: {str(exc)[:200]}", ok=False)
    print()
    report.print_table(report.ROWS)
    if not args.no_write:
        report.write_results(args.results, report.ROWS, argv)
        print(f"\nwritten to {args.results}")
    return 1 if any(r.ok is False for r in report.ROWS) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
