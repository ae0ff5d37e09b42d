"""`codecvdc`: the command line (DESIGN.md section 10), one module per command group and `common.py`.

Every command works on $CODECVDC_HOME (default ./.codecvdc): the Dagster home, the lake, the frame
store and the catalog. Errors are one line on stderr naming the input and the reason; exit code 2.
May import every other package; nothing imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from codecvdc_assets.cli import demo, evaluate, export, lake, pipeline, quality, report, segment, servers, vidcapqa
from codecvdc_assets.cli.common import EXIT_ERROR, CliError, absolute_profile_path, expected_error


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster's preview/beta notices (e.g. partitioned asset checks) are for developers, not for every
    # command's stderr, where an error must be the one line.
    warnings.filterwarnings("ignore", message=r".*(is currently in (preview|beta)|is in (preview|beta))")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "profile", None):
        os.environ["CODECVDC_PROFILE"] = args.profile
    absolute_profile_path()
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"codecvdc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # an expected fault that no command caught: still one line, never a traceback
        line = expected_error(exc)
        if line is None:
            raise
        print(f"codecvdc: error: {args.command}: {line}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("codecvdc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codecvdc",
        description="CodecCap dense video captioning on Dagster; works on $CODECVDC_HOME (./.codecvdc).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pipeline.add_parsers(sub)  # add, run, worker, status
    segment.add_parser(sub)
    lake.add_parsers(sub)  # sql, compact, verify
    demo.add_parser(sub)
    servers.add_serve_parser(sub)
    vidcapqa.add_parser(sub)
    evaluate.add_evaluate_parser(sub)
    report.add_parser(sub)
    export.add_parser(sub)
    quality.add_parser(sub)
    servers.add_ui_parser(sub)
    return parser
