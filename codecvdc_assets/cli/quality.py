"""`codecvdc quality FILE.jsonl [--json]`: the caption quality gates on captions made anywhere."""

from __future__ import annotations

import argparse
import json

from codecvdc_assets.cli.common import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("quality", help="caption quality gates on a JSONL file of captions made anywhere")
    p.add_argument(
        "file", metavar="FILE.jsonl", help='rows {"id", "caption"}, optional "prompt", "finish_reason", "video"'
    )
    p.add_argument("--json", action="store_true", help='print [{"id", "flags": [...], "measured": [...]}]')
    p.add_argument("--profile", metavar="NAME", help="the profile whose quality: thresholds apply")
    p.set_defaults(func=cmd_quality)


def cmd_quality(args: argparse.Namespace) -> int:
    from codecvdc_assets.quality.files import QualityInputError, check_caption_file, format_results
    from codecvdc_assets.quality.settings import QualitySettings
    from codecvdc_assets.settings import load_profile

    try:
        settings = QualitySettings.from_profile(load_profile())
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CliError(f"profile: {exc}") from exc
    try:
        results = check_caption_file(args.file, settings)
    except QualityInputError as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else format_results(results))
    return 0
