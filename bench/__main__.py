"""`python -m bench [NAME ...]`: run the benchmark suite (default: all)."""

from __future__ import annotations

import sys

from . import models, segmentation

SUITES = {"segmentation": segmentation.main, "models": models.main}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        failed += SUITES[name]() != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
