"""`codecvdc evaluate dense|long`: dense-captioning metrics and LongCaption-Bench scores (README "Caption
metrics"), on files a user brings or on the lake's caption sources."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from codecvdc_assets.cli.common import CliError, cli_home, format_table, load_definitions, read_jsonl


def add_evaluate_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="dense-captioning metrics and LongCaption-Bench scores")
    ev_sub = ev.add_subparsers(dest="evaluate_command", required=True, metavar="COMMAND")
    p = ev_sub.add_parser("dense", help="BLEU/METEOR/ROUGE-L/CIDEr and proposal P/R, as the official scripts")
    p.add_argument("--references", required=True, action="append", metavar="REF.json", help="repeatable")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--predictions", metavar="PRED.json", help='{"results": {video: [{sentence, timestamp}]}}')
    given.add_argument(
        "--from-lake",
        action="append",
        metavar="SOURCE",
        help="codeccap:evidence, codeccap:scene, per_second (repeatable)",
    )
    p.add_argument("--protocol", choices=["activitynet", "soccernet"], default="activitynet")
    p.add_argument("--tious", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9], help="activitynet thresholds")
    p.add_argument("--max-proposals", type=int, default=1000, help="activitynet: predictions kept per video")
    p.add_argument("--window", type=float, default=30.0, help="soccernet: the window W of the metrics @W (s)")
    p.add_argument("--tolerance", type=float, help="soccernet: spotting tolerance window (s, default W)")
    p.add_argument("--save-predictions", metavar="FILE", help="with --from-lake: write the predictions built")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (CIs over videos)")
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--json", action="store_true", help="one JSON object keyed by source")
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_evaluate_dense)
    p = ev_sub.add_parser("long", help="LongCaption-Bench: length S_l, quality S_q, relevance S_r")
    p.add_argument(
        "--references", required=True, metavar="REF", help="JSONL {video_id, reference[, duration]} or a dense REF.json"
    )
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--captions", metavar="CAPTIONS.jsonl", help="rows {video_id, caption[, source]}")
    given.add_argument("--from-lake", action="append", metavar="SOURCE", help="a VidCapQA source, or all (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", metavar="NAME", help="the profile whose text model judges")
    p.set_defaults(func=cmd_evaluate_long)


def cmd_evaluate_dense(args: argparse.Namespace) -> int:
    from codecvdc_assets.evaluation.dense.coco import CocoSession, JavaError
    from codecvdc_assets.evaluation.dense.inputs import (
        DenseInputError,
        load_predictions,
        load_references,
        predictions_json,
    )
    from codecvdc_assets.evaluation.dense.protocols import evaluate_activitynet, evaluate_soccernet
    from codecvdc_assets.evaluation.dense.results import official_text, summary_json

    single = args.protocol == "soccernet"
    if single and len(args.references) > 1:
        raise CliError("--protocol soccernet takes one --references file or folder")
    if args.resamples < 1000:
        raise CliError("--resamples must be at least 1000")
    try:
        references = [load_references(r, single=single)[0] for r in args.references]
        if args.predictions:
            runs = [("predictions", load_predictions(args.predictions, single=single))]
        else:
            runs = _lake_dense_predictions(args, references, single)
        out = {}
        with CocoSession() as session:
            for source, predictions in runs:
                if single:
                    result = evaluate_soccernet(references[0], predictions, session, args.window, args.tolerance)
                else:
                    result = evaluate_activitynet(references, predictions, session, args.tious, args.max_proposals)
                out[source] = (result, predictions)
    except DenseInputError as exc:
        raise CliError(str(exc)) from exc
    except JavaError as exc:
        raise CliError(f"evaluate dense: {exc}") from exc
    if args.save_predictions:
        saved = {s: predictions_json(p, single) for s, (_, p) in out.items()}
        Path(args.save_predictions).write_text(json.dumps(saved if len(saved) > 1 else next(iter(saved.values()))))
    if args.json:
        print(json.dumps({s: summary_json(r, s, args.seed, args.resamples) for s, (r, _) in out.items()}, indent=2))
        return 0
    for source, (result, _) in out.items():
        print(
            f"{source}: {result.protocol} protocol, {len(result.videos)} reference videos "
            f"({result.matched_videos} with predictions), {result.n_predictions} predictions; "
            + ", ".join(f"{k} {v}" for k, v in result.settings.items())
        )
        print(official_text(result))
    return 0


def _lake_dense_predictions(args: argparse.Namespace, references: list, single: bool) -> list:
    from codecvdc_assets.evaluation.dense.lake_predictions import DENSE_SOURCES, lake_predictions

    unknown = [s for s in args.from_lake if s not in DENSE_SOURCES]
    if unknown:
        raise CliError(f"--from-lake: unknown source(s) {', '.join(unknown)}; known: {', '.join(DENSE_SOURCES)}")
    lake = load_definitions(cli_home()).resources["lake"].lake()
    ids = sorted({v for refs in references for v in refs})
    runs = []
    for source in args.from_lake:
        predictions, matches = lake_predictions(source, lake.read_all, ids, single=single)
        if not matches:
            raise CliError(f"--from-lake {source}: none of the {len(ids)} reference videos is in the lake")
        runs.append((source, predictions))
    return runs


def cmd_evaluate_long(args: argparse.Namespace) -> int:
    from codecvdc_assets.captioning.prompts import load_prompt
    from codecvdc_assets.evaluation.dense.inputs import DenseInputError
    from codecvdc_assets.evaluation.lake_metrics import LONG_SOURCES, load_long_references, long_items_from_lake
    from codecvdc_assets.evaluation.longcaption_bench import Item, score_items, summarize
    from codecvdc_assets.models.calls import write_model_calls

    if args.resamples < 1000:
        raise CliError("--resamples must be at least 1000")
    home = cli_home()
    defs = load_definitions(home)
    lake = defs.resources["lake"].lake()
    try:
        references = load_long_references(args.references)
    except DenseInputError as exc:
        raise CliError(str(exc)) from exc
    if args.captions:
        by_id = {r["video_id"]: r for r in references}
        rows = read_jsonl(args.captions, ["video_id", "caption"])
        missing = sorted(set(rows["video_id"].astype(str)) - set(by_id))
        if missing:
            raise CliError(f"{args.captions}: {len(missing)} video(s) not in the references, e.g. {missing[0]}")
        items = [
            Item(
                str(r.get("source") or "captions"),
                str(r["video_id"]),
                str(r["caption"]),
                by_id[str(r["video_id"])]["reference"],
                by_id[str(r["video_id"])]["duration"],
            )
            for r in rows.to_dict("records")
        ]
    else:
        sources = [] if "all" in args.from_lake else args.from_lake
        unknown = [s for s in sources if s not in LONG_SOURCES]
        if unknown:
            raise CliError(f"--from-lake: unknown source(s) {', '.join(unknown)}; known: {', '.join(LONG_SOURCES)}")
        items = long_items_from_lake(lake, references, sources)
        if not items:
            raise CliError(f"--from-lake: no reference video has {', '.join(sources)} in the lake")
    client = defs.resources["text_model"].client(defs.resources["lake"].cache_dir())
    prompts = {t: load_prompt(t) for t in ("lc_quality", "lc_relevance")}
    try:
        judged = score_items(items, client, prompts)
    finally:
        write_model_calls(lake, client.take_records())
    table = summarize(judged, args.seed, args.resamples)
    failures = [r for r in judged if r["judge_error"]]
    if failures:
        print(
            f"codecvdc: warning: {len(failures)} judge call(s) failed, first: {failures[0]['judge_error']}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps({"rows": _finite(table), "items": _finite(judged)}, indent=2, default=str))
        return 0
    shown = [
        [r["source"], r["subset"], r["metric"], f"{r['value']:.2f}", f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]", r["n"]]
        for r in table
    ]
    print(format_table(["source", "subset", "metric", "mean", "95% CI", "n"], shown))
    return 0


def _finite(rows: list[dict]) -> list[dict]:
    """NaN (a figure with no scored video) as null, so the output is strict JSON."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
