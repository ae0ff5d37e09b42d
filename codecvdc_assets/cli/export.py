"""`codecvdc export`: a release of the captions (Hugging Face layout, WebDataset, ms-swift JSONL)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
    load_definitions,
    progress_bar,
)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a release of the captions: hf datasets, webdataset or ms-swift JSONL")
    p.add_argument("out", metavar="OUT", help="a new or empty folder, or a previous export to update")
    p.add_argument("--format", default="hf", metavar="FORMAT", help="hf (default), webdataset or swift")
    p.add_argument(
        "--levels", default="anchors,residuals,scenes,videos", help="caption levels, comma-separated (default: all)"
    )
    p.add_argument("--video", action="append", metavar="ID", help="only this video (repeatable; default: all)")
    p.add_argument("--splits", default="train=0.98,val=0.01,test=0.01", help="split shares, summing to 1")
    p.add_argument("--include-frames", action="store_true", help="anchor JPEGs (webdataset) / window frames (swift)")
    p.add_argument("--min-duration", type=float, metavar="S", help="only videos at least S seconds long")
    p.add_argument("--max-duration", type=float, metavar="S", help="only videos at most S seconds long")
    p.add_argument(
        "--include-flagged",
        action="store_true",
        help="keep captions the quality gates flagged (left out by default; the card counts them)",
    )
    p.add_argument(
        "--shard-mb",
        type=float,
        default=128.0,
        metavar="MB",
        help="target size of a shard's rows in memory (default 128; files are ~10x smaller)",
    )
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from codecvdc_assets.captioning.prompts import load_prompt
    from codecvdc_assets.export import ExportError, ExportOptions, export
    from codecvdc_assets.export.options import parse_levels, parse_splits
    from codecvdc_assets.export.outdir import check_out
    from codecvdc_assets.export.provenance import provenance
    from codecvdc_assets.storage.catalog import connect

    try:  # every option and the folder are checked before anything is built or written
        options = ExportOptions(
            formats=(args.format,),
            levels=parse_levels(args.levels),
            splits=parse_splits(args.splits),
            videos=tuple(args.video or ()),
            include_frames=args.include_frames,
            min_duration_s=args.min_duration,
            max_duration_s=args.max_duration,
            shard_mb=args.shard_mb,
            include_flagged=args.include_flagged,
        )
        check_out(Path(args.out).absolute())
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    home = cli_home()
    defs = load_definitions(home)
    graph = defs.resolve_asset_graph()
    versions = {k.to_user_string(): graph.get(k).code_version or "" for k in graph.toposorted_asset_keys}
    lake_res, captioning = defs.resources["lake"], defs.resources["captioning"]
    gates = defs.resources["quality"].settings()
    store = lake_res.frame_store()
    started = time.perf_counter()
    last = {"t": 0.0}

    def progress(what: str, done: int, total: int, rows: int) -> None:
        now = time.perf_counter()
        if (done and done == total) or now - last["t"] >= 2.0:
            last["t"] = now
            print(
                f"{progress_bar(done, total)} {what}: {done}/{total} shards written, {rows:,} rows,"
                f" {now - started:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    con = connect(home, lake=lake_res.lake())
    try:
        result = export(
            con,
            args.out,
            options,
            provenance(versions),
            store.path,
            store.read,
            load_prompt("residual"),
            (captioning.window_size, captioning.window_overlap),
            progress,
            gates,
        )
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    finally:
        con.close()
    splits = ", ".join(f"{s} {n}" for s, n in result.splits.items())
    print(f"exported {result.videos} video(s) ({splits}) as {args.format} -> {result.out}")
    for name, n in result.rows.items():
        print(f"  {name}: {n:,} rows")
    for reason, n in result.excluded.items():
        print(f"  left out: {n} video(s): {reason}")
    for config, per_flag in result.flagged.items():
        flags = ", ".join(f"{f} {n}" for f, n in per_flag.items() if f != "rows")
        kept = "kept" if options.include_flagged or not gates.export_exclude_flagged else "left out"
        print(f"  {kept}: {per_flag['rows']:,} flagged {config} row(s) ({flags})")
    print(
        f"{result.files} files, {len(result.changed)} written, {len(result.removed)} removed, "
        f"unchanged kept as they were; {result.seconds:.1f}s"
    )
    return 0
