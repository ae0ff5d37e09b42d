"""Dagster plumbing for the CLI: the instance, partitions, per-video materialization, status."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from .partitions import videos_partitions
from .storage.atomic import remove_dead_spools
from .storage.dagster_sqlite import relax_instance_fsyncs
from .storage.failures import current_failure, failing_assets
from .storage.integrity import DAMAGE_ERROR
from .storage.lake import GLOBAL, Lake
from .storage.model_calls import recover_journals
from .storage.processes import identity_alive as _alive
from .storage.processes import process_identity

CODE_VERSION_TAG = "dagster/code_version"
PROCESS_TAG = "codecvdc/process"  # host:pid:start-ticks of the process executing a CLI run in-process
EXECUTORS = ("in_process", "multiprocess", "celery")
CLI_JOB = "codecvdc_cli_run"  # the job of multiprocess/celery CLI runs (the implicit asset job's name is reserved)


def get_instance() -> dg.DagsterInstance:
    relax_instance_fsyncs()
    return dg.DagsterInstance.get()


def recover_after_crash(instance: dg.DagsterInstance, lake: Lake) -> tuple[list[str], int]:
    """Clean up after CLI processes that were killed (SIGKILL, power loss): their runs still say STARTED
    in the instance, their model-call journals are not in the lake yet, and their temp files of half-written
    lake files, frames and cache entries are still in their spool folders. Marks those runs failed, turns
    the journals into `model_calls` rows and removes the dead processes' temp files (storage/atomic.py);
    returns (run ids marked failed, call records recovered).

    A dead STARTED run blocks nothing here (CLI runs execute in-process, not through the run queue), but
    the UI and run-status queries would show it running for ever."""
    dead = []
    live = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED)
    for run in instance.get_runs(dg.RunsFilter(statuses=list(live), tags={"codecvdc/launched_by": "cli"})):
        identity = run.tags.get(PROCESS_TAG)
        if identity and not _alive(identity):
            instance.report_run_failed(run, f"the codecvdc process that ran it ({identity}) died")
            dead.append(run.run_id)
    # The store's root (lake, frames) and the call cache's folder (its blob store is opened on its own).
    for root in (lake.home, lake.home / "cache" / "model_calls"):
        remove_dead_spools(root)
    return dead, recover_journals(lake)


def add_partitions(instance: dg.DagsterInstance, video_ids: Iterable[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(videos_partitions.name))
    new = [v for v in dict.fromkeys(video_ids) if v not in existing]
    if new:
        instance.add_dynamic_partitions(videos_partitions.name, new)
    return new


def asset_order(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Asset keys in dependency order."""
    graph = defs.resolve_asset_graph()
    return list(graph.toposorted_asset_keys)


def per_video_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return [k for k in asset_order(defs) if graph.get(k).partitions_def is not None]


def split_keys(
    defs: dg.Definitions, keys: list[dg.AssetKey]
) -> tuple[list[dg.AssetKey], list[dg.AssetKey], list[dg.AssetKey]]:
    """(dataset-level assets to run first, per-video assets, dataset-level assets to run after them)."""
    graph = defs.resolve_asset_graph()
    per_video = [k for k in keys if graph.get(k).partitions_def is not None]
    pre, post = [], []
    for key in keys:
        if key in per_video:
            continue
        ancestors = graph.get(key).parent_keys
        stack, seen, partitioned_above = list(ancestors), set(), False
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if graph.get(parent).partitions_def is not None:
                partitioned_above = True
                break
            stack.extend(graph.get(parent).parent_keys)
        (post if partitioned_above else pre).append(key)
    return pre, per_video, post


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


def global_status(defs: dg.Definitions, instance: dg.DagsterInstance, lake: Lake | None = None) -> dict[str, str]:
    """missing / fresh / stale for the dataset-level assets (stale: code version changed, or a parent
    asset was materialized, for any video, after it); with `lake`, damaged too: `verify --repair` marked
    its file after its latest materialization."""
    graph = defs.resolve_asset_graph()
    damaged = damage_marks(lake, GLOBAL) if lake is not None else {}
    out = {}
    for key in asset_order(defs):
        node = graph.get(key)
        if node.partitions_def is not None:
            continue
        record = latest_record(instance, key)
        if record is None:
            out[key.to_user_string()] = "missing"
            continue
        tags = (record.asset_materialization.tags if record.asset_materialization else None) or {}
        stale = tags.get(CODE_VERSION_TAG) != node.code_version
        for parent in node.parent_keys:
            latest = latest_record(instance, parent)
            if latest is None or latest.timestamp > record.timestamp:
                stale = True
        marked = damaged.get(key.to_user_string())
        if marked is not None and marked >= record.timestamp:
            out[key.to_user_string()] = "damaged"
            continue
        out[key.to_user_string()] = "stale" if stale else "fresh"
    return out


def damage_marks(lake: Lake, video_id: str) -> dict[str, float]:
    """{asset: when `verify --repair` marked it} for one partition folder (dataset-level: GLOBAL)."""
    from .storage.failures import current_damage

    return current_damage(lake, video_id)


def expand_selection(defs: dg.Definitions, names: list[str] | None) -> list[dg.AssetKey]:
    """Selected asset keys, widened to whole multi-assets (segments and frames share one decode)."""
    keys = asset_order(defs)
    if not names:
        return keys
    by_name = {k.to_user_string(): k for k in keys}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown asset(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    graph = defs.resolve_asset_graph()
    chosen: set[dg.AssetKey] = set()
    for name in names:
        node = graph.get(by_name[name])
        chosen.update(k for k in graph.get_execution_set_asset_and_check_keys(node.key) if k in by_name.values())
    return [k for k in keys if k in chosen]


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


RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# Step logs (errors with their stack traces too) stay in the instance's event log, where the UI shows them;
# the terminal gets the CLI's own lines: one per video, a failure in one line (the error contract).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


SMALL_BATCH_FACTOR = 4  # small files: a run takes at most this many times batch_size videos


def batch_plan(
    plan: dict[str, list[dg.AssetKey]],
    order: list[str],
    batch_size: int,
    isolate: set[str] | None = None,
    sizes: Mapping[str, int] | None = None,
    batch_bytes: int = 0,
) -> list[tuple[list[str], list[dg.AssetKey]]]:
    """Group videos into runs: same asset selection, contiguous in the partition order (a run covers a
    key range), at most `batch_size` each; videos in `isolate` (known failures) get runs of their own.

    With `batch_bytes`, a run of small files (`sizes`: bytes per video; unknown: not small) takes more
    videos while its files total at most `batch_bytes`, up to SMALL_BATCH_FACTOR x `batch_size`: every
    run costs Dagster a fixed amount (its run database, plan, steps), which dominates for tiny clips."""
    isolate = isolate or set()
    sizes = sizes or {}
    position = {key: i for i, key in enumerate(order)}
    batches: list[tuple[list[str], list[dg.AssetKey]]] = []
    total = 0  # bytes of the last batch's files
    for video_id in sorted(plan, key=lambda v: position.get(v, len(position))):
        keys = plan[video_id]
        size = sizes.get(video_id, batch_bytes + 1)
        if batches:
            videos, batch_keys = batches[-1]
            contiguous = video_id in position and position[video_id] == position.get(videos[-1], -2) + 1
            alone = video_id in isolate or videos[-1] in isolate
            room = len(videos) < batch_size or (
                len(videos) < SMALL_BATCH_FACTOR * batch_size and total + size <= batch_bytes
            )
            if batch_keys == keys and room and contiguous and not alone:
                videos.append(video_id)
                total += size
                continue
        batches.append(([video_id], keys))
        total = size
    return batches


@dataclass(frozen=True)
class Batching:
    """How `codecvdc run` groups videos into runs (the arguments batch_plan takes besides the plan)."""

    batch_size: int
    sizes: Mapping[str, int] = field(default_factory=dict)  # bytes per video, for runs of small files
    batch_bytes: int = 0  # 0: runs of batch_size videos, whatever their size


def run_batching(registry, automation: Mapping[str, Any], batch_size: int | None = None) -> Batching:
    """`batch_size` (an explicit `--batch-size`) as given; else the profile's automation.batch_size (25) and,
    with automation.batch_mib, bigger runs of small files sized from the local registry (a shared
    registry's videos: unknown, so not small)."""
    if batch_size:
        return Batching(batch_size)
    size = int(automation.get("batch_size", 25))
    batch_bytes = int(float(automation.get("batch_mib") or 0) * 2**20)
    if batch_bytes <= 0:
        return Batching(size)
    return Batching(size, {r.video_id: r.size_bytes for r in registry.all()}, batch_bytes)


def range_tags(video_ids: list[str]) -> dict[str, str]:
    return {} if len(video_ids) <= 1 else {RANGE_START: video_ids[0], RANGE_END: video_ids[-1]}


def cli_tags() -> dict[str, str]:
    return {"codecvdc/launched_by": "cli", PROCESS_TAG: process_identity()}


def _asset_job(profile_executor: bool) -> dg.JobDefinition:
    from .definitions import build_definitions

    relax_instance_fsyncs()
    defs = build_definitions()
    executor = defs.executor if profile_executor else dg.multi_or_in_process_executor
    job = dg.define_asset_job(CLI_JOB, selection=dg.AssetSelection.all(), executor_def=executor)
    whole = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, jobs=[job])
    return whole.resolve_job_def(CLI_JOB)


def _cli_job() -> dg.JobDefinition:
    """The asset job rebuilt in the multiprocess executor's step processes (CODECVDC_HOME and
    CODECVDC_PROFILE come with the environment)."""
    return _asset_job(profile_executor=False)


def _cli_profile_job() -> dg.JobDefinition:
    """The asset job with the profile's executor (dagster-celery's on the celery profile); Celery workers
    rebuild it from this function, with their own CODECVDC_HOME and the same CODECVDC_PROFILE."""
    return _asset_job(profile_executor=True)


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
        return _execute_job(_cli_profile_job, instance, QUIET, tags, video_ids, keys)
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
    return _execute_job(_cli_job, instance, config, tags, video_ids, keys)


def _execute_job(job_fn, instance: dg.DagsterInstance, run_config: dict, tags: dict, video_ids: list[str], keys):
    """A reconstructable job (its steps run outside this process) over `video_ids`."""
    if len(video_ids) == 1:
        tags = {**tags, "dagster/partition": video_ids[0]}
    with dg.execute_job(
        dg.reconstructable(job_fn),
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
    wanted = set(keys)
    materialized: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        if event.asset_key in wanted and event.partition:
            materialized.setdefault(event.partition, set()).add(event.asset_key.to_user_string())
    outcomes = []
    for video_id in video_ids:
        done = sorted(materialized.get(video_id, ()))
        error = _recorded_failure(lake, video_id, keys)
        failed_checks = [
            f"{c.asset_key.to_user_string()}/{c.check_name}: {c.description}"
            for c in checks
            if not c.passed and (len(video_ids) == 1 or video_id in _failing_videos(c))
        ]
        if failed_checks:  # a blocking check stops downstream assets; say which and why
            error = "; ".join(failed_checks)[:500] + (f" ({error})" if error else "")
        ok = error is None and len(done) == len(keys)
        own_failure = error is not None
        if not ok and error is None:
            error = _first_failure(result) or "not materialized: an upstream step failed for its batch"
        outcomes.append(VideoOutcome(video_id, ok, done, error, seconds, result.run_id, len(checks), own_failure))
    return outcomes


def _recorded_failure(lake: Lake, video_id: str, keys: list[dg.AssetKey]) -> str | None:
    try:
        return next((m for k in keys if (m := current_failure(lake, video_id, k.to_user_string()))), None)
    except Exception:  # the lake is unreachable (an S3 outage): the run's own failure event says why
        return None


def _failing_videos(evaluation) -> list[str]:
    value = (evaluation.metadata or {}).get("failing_videos")
    return list(getattr(value, "value", value) or [])


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
    batch_size: int = 25,
    on_dataset: Callable[[str, GlobalOutcome], None] | None = None,
    executor: str = "in_process",
    sizes: Mapping[str, int] | None = None,
    batch_bytes: int = 0,
) -> list[VideoOutcome]:
    """Dataset-level assets of the plan that per-video ones need run first, then runs of up to
    `batch_size` videos (more small ones: `sizes`, `batch_bytes`, see batch_plan), then the dataset-level
    assets that sum up the videos (e.g. the scores). Failures are reported per video, never raised.

    A failing video fails its batch's step, and Dagster then skips the downstream steps for the whole
    batch. Videos that did not fail themselves are re-queued (their unfinished assets only) in a new,
    smaller batch, so a bad video never stops the others. Each re-queue drops at least one failed video.
    """
    every = list(dict.fromkeys(k for keys in plan.values() for k in keys))
    pre, per_video, post = split_keys(defs, every)
    for keys in (pre,):
        if keys:
            outcome = materialize_global(defs, instance, keys, executor)
            if on_dataset:
                on_dataset("before", outcome)
    plan = {vid: [k for k in keys if k in per_video] for vid, keys in plan.items()}
    plan = {vid: keys for vid, keys in plan.items() if keys}
    order = instance.get_dynamic_partitions(videos_partitions.name)
    queue = batch_plan(plan, order, batch_size, sizes=sizes, batch_bytes=batch_bytes)
    outcomes: list[VideoOutcome] = []
    earlier: dict[str, list[str]] = {}  # assets a re-queued video finished in its first batch
    while queue:
        video_ids, keys = queue.pop(0)
        results = materialize_batch(defs, instance, video_ids, keys, lake, executor)
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
    if post:
        outcome = materialize_global(defs, instance, post, executor)
        if on_dataset:
            on_dataset("after", outcome)
    return outcomes


def partition_status(
    defs: dg.Definitions, instance: dg.DagsterInstance, lake: Lake, video_ids: list[str]
) -> dict[str, dict[str, str]]:
    """Per video and asset: missing, fresh, stale (its code version changed, an upstream asset of the
    same video was materialized after it, or an upstream asset is not fresh), failed (the latest
    attempt failed) or damaged (`verify --repair` found its lake file damaged or missing).

    Per asset one event-log query for the latest storage id of every partition and one per 1,000
    partitions for their code-version tags, plus one read of the failures table: not one query per
    video and asset (800K at 100K videos). Storage ids order events like their timestamps do.
    """
    graph = defs.resolve_asset_graph()
    keys = per_video_keys(defs)
    wanted = set(video_ids)
    # Dataset-level parents (e.g. the question bank): their latest materialization and status count.
    dataset = global_status(defs, instance, lake)
    dataset_ids: dict[dg.AssetKey, int | None] = {}
    for name in dataset:
        record = latest_record(instance, dg.AssetKey(name))
        dataset_ids[dg.AssetKey(name)] = record.storage_id if record else None
    event = dg.DagsterEventType.ASSET_MATERIALIZATION
    ids: dict[dg.AssetKey, Mapping[str, int]] = {}
    versions: dict[dg.AssetKey, dict[str, str | None]] = {}
    for key in keys:
        ids[key] = instance.get_latest_storage_id_by_partition(key, event, partitions=wanted)
        versions[key] = _code_versions(instance, key, ids[key])
    failing = failing_assets(lake)
    table: dict[str, dict[str, str]] = {}
    for video_id in video_ids:
        latest: dict[dg.AssetKey, int | None] = {**dataset_ids, **{k: ids[k].get(video_id) for k in keys}}
        row: dict[str, str] = {}
        for key in keys:
            name = key.to_user_string()
            storage_id = latest[key]
            if (video_id, name) in failing:
                row[name] = "damaged" if failing[(video_id, name)] == DAMAGE_ERROR else "failed"
            elif storage_id is None:
                row[name] = "missing"
            else:
                node = graph.get(key)
                stale = versions[key].get(video_id) != node.code_version
                for parent in node.parent_keys:
                    up = latest.get(parent)
                    # Upstream re-materialized after this one, or itself not fresh: stale (transitively).
                    if up is None or up > storage_id or {**dataset, **row}.get(parent.to_user_string()) != "fresh":
                        stale = True
                row[name] = "stale" if stale else "fresh"
        table[video_id] = row
    return table


def _code_versions(
    instance: dg.DagsterInstance, key: dg.AssetKey, storage_ids: Mapping[str, int], chunk: int = 1000
) -> dict[str, str | None]:
    """The code-version tag of the given materializations, fetched by storage id in chunks.

    (The event log indexes only data-version tags per partition, so the tag comes with the record.)"""
    out: dict[str, str | None] = {}
    wanted = sorted(storage_ids.values())
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=part), limit=len(part)
        ).records
        for record in records:
            materialization = record.asset_materialization
            if materialization is not None and materialization.partition is not None:
                out[materialization.partition] = (materialization.tags or {}).get(CODE_VERSION_TAG)
    return out


def stale_selection(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake: Lake,
    video_ids: list[str],
    within: list[dg.AssetKey] | None = None,
) -> dict[str, list[dg.AssetKey]]:
    """Per video, the assets to re-materialize: those not fresh (missing, stale, failed) and everything
    downstream of them, in dependency order. Fresh assets with fresh parents are left alone."""
    graph = defs.resolve_asset_graph()
    order = per_video_keys(defs)
    allowed = set(within or order)
    status = partition_status(defs, instance, lake, video_ids)
    out: dict[str, list[dg.AssetKey]] = {}
    for video_id in video_ids:
        chosen: set[dg.AssetKey] = set()
        for key in order:
            name = key.to_user_string()
            if status[video_id][name] != "fresh" or any(p in chosen for p in graph.get(key).parent_keys):
                chosen.add(key)
                chosen.update(k for k in graph.get_execution_set_asset_and_check_keys(key) if k in order)
        selected = [k for k in order if k in chosen and k in allowed]
        if selected:
            out[video_id] = selected
    return out


def stale_run_key(video_id: str, keys: list[dg.AssetKey], defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    """Identifies one need for a run: the same stale state never gets two runs, a new change gets one."""
    import hashlib

    graph = defs.resolve_asset_graph()
    parts = [video_id]
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[video_id]), limit=1
        ).records
        parts.append(f"{key.to_user_string()}:{graph.get(key).code_version}:{records[0].storage_id if records else 0}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def latest_record(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The latest materialization record of an asset (of one partition, or of any)."""
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0] if records else None
