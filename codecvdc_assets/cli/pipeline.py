"""`codecvdc add`, `run`, `worker`, `status`: register videos, materialize them, serve steps, report status."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
    expected_error,
    format_table,
    load_definitions,
    profile_executor,
    progress_bar,
)


def add_parsers(sub) -> None:
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


def register(home: Path, paths: Sequence[str]) -> list[tuple[str, str, bool]]:
    from codecvdc_assets.defs.resources import lake_resource
    from codecvdc_assets.runs.instance import add_partitions, get_instance
    from codecvdc_assets.settings import load_profile
    from codecvdc_assets.storage.catalog import ensure_catalog
    from codecvdc_assets.storage.registry import find_videos

    store = lake_resource(load_profile(), home)
    registry = store.registry()
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
    ensure_catalog(home, store.lake())
    return added


def all_video_ids() -> list[str]:
    from codecvdc_assets.defs.partitions import videos_partitions
    from codecvdc_assets.runs.instance import get_instance

    return sorted(get_instance().get_dynamic_partitions(videos_partitions.name))


def cmd_add(args: argparse.Namespace) -> int:
    home = cli_home()
    added = register(home, args.paths)
    for video_id, path, is_new in added:
        print(f"{'added' if is_new else 'known'}  {video_id}  {path}")
    print(f"{sum(n for _, _, n in added)} new, {len(added)} total in this call; home {home}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from codecvdc_assets.runs.batching import run_batching
    from codecvdc_assets.runs.execute import materialize_plans
    from codecvdc_assets.runs.instance import get_instance, recover_after_crash
    from codecvdc_assets.runs.selection import expand_selection, split_keys
    from codecvdc_assets.runs.status import StalePlan, stale_plan_slices
    from codecvdc_assets.settings import load_profile
    from codecvdc_assets.storage.catalog import ensure_catalog

    home = cli_home()
    defs = load_definitions(home)
    lake = defs.resources["lake"].lake()  # the profile's lake: $CODECVDC_HOME or S3
    known = all_video_ids()
    videos = args.video or known
    registered = set(known)  # membership per video: a set, not a scan of the pool's list
    missing = [v for v in videos if v not in registered]
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
    started = time.perf_counter()
    dataset_failures: list[str] = []
    order = [k.to_user_string() for k in keys]
    state = {"assets": 0, "planned": 0, "total_assets": 0, "more": False, "dataset": 0, "slices": 0}

    def on_dataset(when: str, outcome) -> None:
        state["dataset"] += 1
        names = ", ".join(outcome.materialized) or "(nothing materialized)"
        print(f"dataset-level ({when} the videos): {names}: " + ("ok" if outcome.ok else f"FAILED: {outcome.error}"))
        if not outcome.ok:
            dataset_failures.append(outcome.error or "failed")

    def announced(plans):
        """Says what each plan (a slice of a stale pool) materializes as it is planned."""
        for part in plans:
            state["planned"] += len(part.videos)
            state["total_assets"] += sum(len(k) for k in part.videos.values())
            state["more"] = part.checked < part.total
            state["slices"] += 1
            if part.videos:
                names = sorted({k.to_user_string() for v in part.videos.values() for k in v}, key=order.index)
                sliced = part.checked < part.total or state["slices"] > 1
                where = f" (planned {part.checked:,} of {part.total:,} videos so far)" if sliced else ""
                print(
                    f"materializing {', '.join(names)} for {len(part.videos)} video(s){where}; home {home}", flush=True
                )
            yield part

    if args.stale:  # planned a slice at a time: the first run starts after the first slice, not the pool
        plans = stale_plan_slices(defs, instance, lake, videos, keys)
    else:
        plans = [StalePlan(pre, {video_id: per_video for video_id in videos} if per_video else {}, post)]

    def on_done(n: int, outcome) -> None:
        state["assets"] += len(outcome.materialized)
        status = "ok" if outcome.ok else outcome.error if outcome.interrupted else f"FAILED: {outcome.error}"
        if outcome.warnings:  # a non-blocking check failed (caption quality): the assets are written
            status += f" (check failed: {'; '.join(outcome.warnings)[:400]})"
        more = "+" if state["more"] else ""  # more slices of the pool to plan
        print(
            f"{progress_bar(n, state['planned'])} videos {n}/{state['planned']}{more}"
            f"  assets {state['assets']}/{state['total_assets']}{more}"
            f"  {time.perf_counter() - started:6.1f}s  {outcome.video_id} {status}",
            flush=True,
        )

    # Runs of up to batch_size videos, or more small files (the profile's batch_mib), unless --batch-size says.
    batching = run_batching(defs.resources["lake"].registry(), load_profile().get("automation") or {}, args.batch_size)
    outcomes = materialize_plans(
        defs,
        instance,
        announced(plans),
        lake,
        on_done,
        batching.batch_size,
        on_dataset,
        args.executor or profile_executor(),
        batching.sizes,
        batching.batch_bytes,
    )
    if args.stale and not outcomes and not state["dataset"]:
        print(f"nothing to do: {len(videos)} video(s) and the dataset-level assets are fresh")
        return 0
    try:
        ensure_catalog(home, lake)
    except Exception as exc:  # the lake is unreachable now (an S3 outage): the summary still counts
        line = expected_error(exc)
        if line is None:
            raise
        print(f"codecvdc: warning: catalog not refreshed: {line}", file=sys.stderr)
    stopped = [o for o in outcomes if o.interrupted]
    failed = [o for o in outcomes if not o.ok and not o.interrupted]
    ok = len(outcomes) - len(failed) - len(stopped)
    print(
        f"{'interrupted' if stopped else 'done'}: {ok} video(s) ok, {len(failed)} failed"
        + (f", {len(stopped)} interrupted" if stopped else "")
        + f", {state['assets']} asset materializations in {time.perf_counter() - started:.1f}s"
    )
    if failed:
        print('failures are recorded in the `failures` view: codecvdc sql "select * from failures"')
    if stopped:
        print("`codecvdc run --stale` resumes the interrupted videos", flush=True)
        return 130
    return 1 if failed or dataset_failures else 0


def cmd_worker(args: argparse.Namespace) -> int:
    from codecvdc_assets.defs.resources import open_lake
    from codecvdc_assets.models.calls import recover_journals
    from codecvdc_assets.runs.workers import DEFAULT_QUEUE, worker_argv, worker_env, write_worker_config
    from codecvdc_assets.settings import load_profile, profile_name

    if not args.profile and "CODECVDC_PROFILE" not in os.environ:
        os.environ["CODECVDC_PROFILE"] = "celery"
    if args.concurrency is not None and args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    home = cli_home()
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
    from codecvdc_assets.runs.instance import get_instance
    from codecvdc_assets.runs.selection import per_video_keys
    from codecvdc_assets.runs.status import global_status, partition_status

    home = cli_home()
    defs = load_definitions(home)
    videos = args.video or all_video_ids()
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
