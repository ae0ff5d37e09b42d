"""`codecvdc vidcapqa import|score|answer|build`: question banks, scoring, answering, construction."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
    format_table,
    read_jsonl,
)


def add_parser(sub) -> None:
    qa = sub.add_parser("vidcapqa", help="VidCapQA: import question pools, score answers, build a benchmark")
    qa_sub = qa.add_subparsers(dest="vidcapqa_command", required=True, metavar="COMMAND")
    p = qa_sub.add_parser("import", help="convert a public question pool to the bank format")
    p.add_argument("layout", choices=["tempcompass"], help="the pool's layout")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="BANK", help="bank file (.jsonl or .parquet)")
    p.set_defaults(func=cmd_vidcapqa_import)
    p = qa_sub.add_parser("score", help="score answers made anywhere against a bank")
    p.add_argument("--bank", required=True, metavar="BANK")
    p.add_argument("--answers", required=True, metavar="ANSWERS.jsonl", help="rows {question_id, source, answer}")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (>= 1000)")
    p.add_argument("--json", action="store_true", help="one JSON object keyed by source")
    p.set_defaults(func=cmd_vidcapqa_score)
    p = qa_sub.add_parser("answer", help="answer a bank from any captioner's captions with the profile's text model")
    p.add_argument("--bank", required=True, metavar="BANK")
    p.add_argument(
        "--captions",
        required=True,
        metavar="CAPTIONS.jsonl",
        help="rows {video_id, caption} or {video_id, source, caption}",
    )
    p.add_argument(
        "--source", metavar="NAME", help="the captioner's name (default: each row's source, else the file stem)"
    )
    p.add_argument("--profile", metavar="NAME", help="deployment profile whose text model answers (default: embedded)")
    p.add_argument("-o", "--output", required=True, metavar="ANSWERS.jsonl")
    p.set_defaults(func=cmd_vidcapqa_answer)
    p = qa_sub.add_parser("build", help="run the construction steps from given model answers")
    p.add_argument("--pool", required=True, metavar="BANK")
    p.add_argument("--answers", required=True, metavar="VOTES.jsonl", help="rows {step, model, question_id, answer}")
    p.add_argument("--target", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="the sampled bank; decisions go to OUT's stem + .decisions.jsonl",
    )
    p.set_defaults(func=cmd_vidcapqa_build)


def _bank(path: str):
    from codecvdc_assets.evaluation.bank import load_bank

    try:
        return load_bank(path)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # pandera SchemaErrors: say what is wrong with which rows
        raise CliError(f"{path}: not a valid question bank: {str(exc).splitlines()[0][:300]}") from exc


def cmd_vidcapqa_import(args: argparse.Namespace) -> int:
    from codecvdc_assets.evaluation.bank import write_bank
    from codecvdc_assets.evaluation.importers import IMPORTERS, ImportError_

    try:
        bank = IMPORTERS[args.layout](args.file)
    except FileNotFoundError as exc:
        raise CliError(f"{args.file}: no such file") from exc
    except (ImportError_, json.JSONDecodeError, KeyError, AttributeError) as exc:
        raise CliError(f"{args.file}: not a {args.layout} pool ({exc})") from exc
    write_bank(bank, args.output)
    unlabeled = int(bank["dimension"].isna().sum())
    print(
        f"{len(bank)} questions from {bank['video_id'].nunique()} videos -> {args.output}"
        + (f" ({unlabeled} without a dimension, for re-labeling)" if unlabeled else "")
    )
    print(bank["dimension"].fillna("(none)").value_counts().to_string())
    return 0


def cmd_vidcapqa_score(args: argparse.Namespace) -> int:
    from codecvdc_assets.evaluation.scoring import judge, score

    if args.resamples < 1000:
        raise CliError("--resamples must be at least 1000")
    bank = _bank(args.bank)
    answers = read_jsonl(args.answers, ["question_id", "source", "answer"])
    try:
        scores = score(judge(answers, bank), seed=args.seed, resamples=args.resamples)
    except ValueError as exc:
        raise CliError(f"{args.answers}: {exc}") from exc
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    rows = [
        [
            src,
            e["n"],
            f"{e['accuracy']:.3f}",
            f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]",
            f"{e['no_evidence_rate']:.3f}",
        ]
        for src, e in scores.items()
    ]
    print(format_table(["source", "n", "accuracy", "95% CI", "no-evidence"], rows))
    return 0


def cmd_vidcapqa_answer(args: argparse.Namespace) -> int:
    from codecvdc_assets.captioning.prompts import load_prompt
    from codecvdc_assets.definitions import build_resources
    from codecvdc_assets.evaluation.external import CaptionsError, answer_bank, load_captions
    from codecvdc_assets.models.types import ModelCallError
    from codecvdc_assets.settings import load_profile

    bank = _bank(args.bank)
    try:
        captions = load_captions(args.captions, args.source)
    except CaptionsError as exc:
        raise CliError(str(exc)) from exc
    home = cli_home()
    resources = build_resources(load_profile(None), str(home))
    client = resources["text_model"].client(resources["lake"].cache_dir())
    try:
        answers = answer_bank(bank, captions, client, load_prompt("qa_answer"), "cli")
    except ModelCallError as exc:
        raise CliError(f"{args.captions}: {exc}") from exc
    keep = ["question_id", "video_id", "source", "answer", "correct", "dimension", "difficulty", "rationale"]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in answers[keep].to_dict("records")))
    paid = [r for r in client.records if not r.cache_hit]
    unmatched = sorted(set(captions["video_id"]) - set(answers["video_id"]))
    print(
        f"{len(answers)} answers to {answers['question_id'].nunique()} questions from {len(captions)} captions "
        f"-> {out} ({len(paid)} model calls, {len(client.records) - len(paid)} cached, "
        f"{sum(r.completion_tokens for r in paid)} completion tokens)"
    )
    if unmatched:
        print(f"{len(unmatched)} captioned video(s) have no question in the bank, e.g. {unmatched[:3]}")
    return 0


def cmd_vidcapqa_build(args: argparse.Namespace) -> int:
    from codecvdc_assets.evaluation.bank import write_bank
    from codecvdc_assets.evaluation.bank_construction import build

    pool = _bank(args.pool)
    answers = read_jsonl(args.answers, ["step", "model", "question_id", "answer"])
    try:
        built = build(pool, answers, target=args.target, seed=args.seed)
    except ValueError as exc:
        raise CliError(f"{args.answers}: {exc}") from exc
    out = Path(args.output)
    write_bank(built.bank, out)
    decisions = out.with_name(out.stem + ".decisions.jsonl")
    decisions.write_text("".join(json.dumps(r) + "\n" for r in built.decisions.to_dict("records")))
    print(f"pool {len(pool)} -> after filters {len(built.pool)} -> sampled {len(built.bank)} -> {out}")
    print(f"per-question decisions -> {decisions}")
    if len(built.bank):
        table = built.bank.groupby(["dimension", "difficulty"]).size().unstack(fill_value=0)
        print(table.to_string())
    return 0
