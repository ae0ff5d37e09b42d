"""Materializing runs from outside Dagster's daemon: in this process, a process per step, or on Celery workers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from codecvdc_assets.runs.batching import DEFAULT_BATCH, batch_plan, range_tags
from codecvdc_assets.runs.instance import VIDEOS_PARTITIONS, cli_tags
from codecvdc_assets.runs.selection import split_keys
from codecvdc_assets.runs.status import StalePlan
from codecvdc_assets.storage.failures import current_failure
from codecvdc_assets.storage.lake import Lake

EXECUTORS = ("in_process", "multiprocess", "celery")

CLI_JOB = "codecvdc_cli_run"  # the job of multiprocess/celery CLI runs (the implicit asset job's name is reserved)

# Step logs (errors with their stack traces too) stay in the instance's event log, where the UI shows them;
# the terminal gets the CLI's own lines: one per video, a failure in one line (the error contract).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class GlobalOutcome:
    ok: bool
    materialized: list[str]
    error: str | None
    run_id: str


def materialize_global(
    defs: dg.Definitions, instance: dg.DagsterInstance, keys: list[dg.AssetKey], executor: str = "in_process"
) -> GlobalOutcome:
    """One unpartitioned run for dataset-level assets (the question bank, the scores); on Celery workers
    with the celery executor, in this process otherwise (they are small)."""
    if executor == "celery":
        result = _execute(defs, instance, [], keys, executor)
    else:
        assets = [a for a in [*defs.assets, *(defs.asset_checks or [])] if isinstance(a, dg.AssetsDefinition)]
        result = dg.materialize(
            assets,
            instance=instance,
            selection=keys,
            resources=defs.resources,
            raise_on_error=False,
            tags=cli_tags(),
            run_config=QUIET,
        )
    done = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})
    return GlobalOutcome(result.success, done, None if result.success else _first_failure(result), result.run_id)


@dataclass
class VideoOutcome:
    video_id: str
    ok: bool
    materialized: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None
    checks: int = 0
    own_failure: bool = False  # this video failed (recorded failure or failed check), not just its batch
    interrupted: bool = False  # not finished because the user interrupted the command (SIGINT): not a failure
    # Non-blocking checks that failed (the caption quality gates): said, but the video's assets are written.
    warnings: list[str] = field(default_factory=list)


INTERRUPTED = "interrupted: not finished (`codecvdc run --stale` resumes it)"


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_ids: list[str],
    keys: list[dg.AssetKey],
    executor: str,
):
    """One run over `video_ids`; in this process (`dg.materialize`), with a process per step, or with the
    steps on Celery workers (this process submits them and waits: it only coordinates)."""
    tags = {**cli_tags(), **range_tags(video_ids)}
    if executor == "celery":
        return _execute_job("cli_profile_job", instance, QUIET, tags, video_ids, keys)
    if executor == "in_process":
        assets = [a for a in [*defs.assets, *(defs.asset_checks or [])] if isinstance(a, dg.AssetsDefinition)]
        return dg.materialize(
            assets,
            instance=instance,
            partition_key=video_ids[0] if len(video_ids) == 1 else None,
            selection=keys,
            resources=defs.resources,
            raise_on_error=False,
            tags=tags,
            # Step logs stay in the instance (the UI shows them); the terminal shows the progress bar.
            run_config=QUIET,
        )
    if executor != "multiprocess":
        raise ValueError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    # forkserver with the code location preloaded: a step process starts in well under a second instead
    # of importing Dagster and building the definitions again.
    multiprocess = {
        "max_concurrent": os.cpu_count() or 2,
        "start_method": {"forkserver": {"preload_modules": ["codecvdc_assets.definitions"]}},
    }
    config = {**QUIET, "execution": {"config": {"multiprocess": multiprocess}}}
    return _execute_job("cli_job", instance, config, tags, video_ids, keys)


def _execute_job(job_fn: str, instance: dg.DagsterInstance, run_config: dict, tags: dict, video_ids: list[str], keys):
    """A job that step processes and Celery workers rebuild (`job_fn` in codecvdc_assets.definitions) over
    `video_ids`."""
    if len(video_ids) == 1:
        tags = {**tags, "dagster/partition": video_ids[0]}
    with dg.execute_job(
        dg.build_reconstructable_job("codecvdc_assets.definitions", job_fn),
        instance=instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=False,
        asset_selection=keys,
    ) as result:
        return result  # its events stay readable after the context closes


def materialize_batch(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_ids: list[str],
    keys: list[dg.AssetKey],
    lake: Lake,
    executor: str = "in_process",
) -> list[VideoOutcome]:
    """One run over a contiguous range of videos; the outcome of each video comes from the run's own
    materialization events (not one instance query per video and asset)."""
    started = time.perf_counter()
    result = _execute(defs, instance, video_ids, keys, executor)
    checks = result.get_asset_check_evaluations()
    seconds = (time.perf_counter() - started) / len(video_ids)
    interrupted = was_interrupted(result)
    wanted = set(keys)
    materialized: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        if event.asset_key in wanted and event.partition:
            materialized.setdefault(event.partition, set()).add(event.asset_key.to_user_string())
    outcomes = []
    for video_id in video_ids:
        done = sorted(materialized.get(video_id, ()))
        error = _recorded_failure(lake, video_id, keys)
        failed = [c for c in checks if not c.passed and (len(video_ids) == 1 or video_id in _failing_videos(c))]
        failed_checks = [_check_line(c) for c in failed if c.blocking is not False]
        warnings = [_check_line(c) for c in failed if c.blocking is False]
        if failed_checks:  # a blocking check stops downstream assets; say which and why
            error = "; ".join(failed_checks)[:500] + (f" ({error})" if error else "")
        ok = error is None and len(done) == len(keys)
        own_failure = error is not None
        stopped = not ok and error is None and interrupted
        if stopped:
            error = INTERRUPTED
        elif not ok and error is None:
            error = _first_failure(result) or "not materialized: an upstream step failed for its batch"
        outcomes.append(
            VideoOutcome(video_id, ok, done, error, seconds, result.run_id, len(checks), own_failure, stopped, warnings)
        )
    return outcomes


def _check_line(evaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}/{evaluation.check_name}: {evaluation.description}"


def _recorded_failure(lake: Lake, video_id: str, keys: list[dg.AssetKey]) -> str | None:
    try:
        return next((m for k in keys if (m := current_failure(lake, video_id, k.to_user_string()))), None)
    except Exception:  # the lake is unreachable (an S3 outage): the run's own failure event says why
        return None


def _failing_videos(evaluation) -> list[str]:
    value = (evaluation.metadata or {}).get("failing_videos")
    return list(getattr(value, "value", value) or [])


def was_interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether a step of the run stopped on an interrupt (SIGINT/SIGTERM: Dagster raises
    DagsterExecutionInterruptedError in the step and fails the run, so the caller never sees the signal)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error is not None:
                if error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
                    return True
                error = error.cause
    return False


def _first_failure(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            line = event.step_failure_data.error.message.strip().splitlines()[0]
            return line.removeprefix(f"{dg.Failure.__module__}.{dg.Failure.__name__}: ")  # (our own message)
    return None


def materialize_many(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: dict[str, list[dg.AssetKey]],
    lake: Lake,
    on_done: Callable[[int, VideoOutcome], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_dataset: Callable[[str, GlobalOutcome], None] | None = None,
    executor: str = "in_process",
    sizes: Mapping[str, int] | None = None,
    batch_bytes: int = 0,
) -> list[VideoOutcome]:
    """Per video the assets to materialize (dataset-level ones among them run once, before or after the
    videos as the graph says): materialize_plans over one plan."""
    every = list(dict.fromkeys(k for keys in plan.values() for k in keys))
    pre, per_video, post = split_keys(defs, every)
    videos = {vid: [k for k in keys if k in per_video] for vid, keys in plan.items()}
    one = StalePlan(pre, {vid: keys for vid, keys in videos.items() if keys}, post)
    return materialize_plans(defs, instance, [one], lake, on_done, batch_size, on_dataset, executor, sizes, batch_bytes)


def materialize_plans(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plans: Iterable[StalePlan],
    lake: Lake,
    on_done: Callable[[int, VideoOutcome], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_dataset: Callable[[str, GlobalOutcome], None] | None = None,
    executor: str = "in_process",
    sizes: Mapping[str, int] | None = None,
    batch_bytes: int = 0,
) -> list[VideoOutcome]:
    """Each plan in turn (a sliced `run --stale` plans the next slice only after this one ran): its
    dataset-level assets that per-video ones need first, then runs of up to `batch_size` videos (more small
    ones: `sizes`, `batch_bytes`, see batch_plan), then its dataset-level assets that sum up the videos
    (e.g. the scores). Failures are reported per video, never raised; an interrupt stops at once, and the
    videos not finished are reported interrupted.

    A failing video fails its batch's step, and Dagster then skips the downstream steps for the whole
    batch. Videos that did not fail themselves are re-queued (their unfinished assets only) in a new,
    smaller batch, so a bad video never stops the others. Each re-queue drops at least one failed video.
    """
    outcomes: list[VideoOutcome] = []
    order: list[str] | None = None  # the pool's partition order, loaded once
    for plan in plans:
        if plan.pre:
            outcome = materialize_global(defs, instance, plan.pre, executor)
            if on_dataset:
                on_dataset("before", outcome)
        if plan.videos:
            order = order if order is not None else instance.get_dynamic_partitions(VIDEOS_PARTITIONS)
            queue = batch_plan(plan.videos, order, batch_size, sizes=sizes, batch_bytes=batch_bytes)
            if not _run_queue(
                defs, instance, queue, order, lake, outcomes, on_done, executor, batch_size, sizes, batch_bytes
            ):
                return outcomes  # interrupted
        if plan.post:
            outcome = materialize_global(defs, instance, plan.post, executor)
            if on_dataset:
                on_dataset("after", outcome)
    return outcomes


def _run_queue(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    queue: list[tuple[list[str], list[dg.AssetKey]]],
    order: list[str],
    lake: Lake,
    outcomes: list[VideoOutcome],
    on_done: Callable[[int, VideoOutcome], None] | None,
    executor: str,
    batch_size: int,
    sizes: Mapping[str, int] | None,
    batch_bytes: int,
) -> bool:
    """Runs the batches of `queue`, appending an outcome per video to `outcomes`; False when interrupted."""
    earlier: dict[str, list[str]] = {}  # assets a re-queued video finished in its first batch

    def stop(pending: list[tuple[list[str], list[dg.AssetKey]]]) -> bool:
        """An interrupt: the videos not started are reported interrupted, nothing more is run."""
        for video_ids, _keys in pending:
            for video_id in video_ids:
                outcomes.append(
                    VideoOutcome(video_id, False, sorted(earlier.get(video_id, [])), INTERRUPTED, interrupted=True)
                )
                if on_done:
                    on_done(len(outcomes), outcomes[-1])
        return False

    while queue:
        video_ids, keys = queue.pop(0)
        try:
            results = materialize_batch(defs, instance, video_ids, keys, lake, executor)
        except KeyboardInterrupt:  # between Dagster's steps (its own handler turns those into a failed step)
            return stop([(video_ids, keys), *queue])
        if any(o.interrupted for o in results):
            for o in results:
                o.materialized = sorted(set(o.materialized) | set(earlier.get(o.video_id, [])))
                outcomes.append(o)
                if on_done:
                    on_done(len(outcomes), o)
            return stop(queue)
        for o in results:
            o.materialized = sorted(set(o.materialized) | set(earlier.get(o.video_id, [])))
        blocked = {o.video_id: o for o in results if not o.ok and not o.own_failure}
        final = [o for o in results if o.video_id not in blocked]
        if blocked and final and any(not o.ok for o in final):
            rest = {vid: [k for k in keys if k.to_user_string() not in o.materialized] for vid, o in blocked.items()}
            earlier.update({vid: o.materialized for vid, o in blocked.items()})
            queue = batch_plan(rest, order, batch_size, sizes=sizes, batch_bytes=batch_bytes) + queue
        else:
            final = results
        for outcome in final:
            outcomes.append(outcome)
            if on_done:
                on_done(len(outcomes), outcome)
    return True
