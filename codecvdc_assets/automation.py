"""Incremental re-materialization (DESIGN.md section 8): the requests behind a sensor and a schedule.

Choice: a sensor over our own status (orchestration.partition_status) rather than declarative
automation conditions, because it works the same from the CLI (`codecvdc run --stale`), needs no
per-asset condition tuning, and emits runs with exactly the stale assets and their downstream ones,
batching contiguous videos that need the same assets into one run (a partition-key range). Dynamic
partitions rule out build_schedule_from_partitioned_job, so both emit their own RunRequests.
"""

import hashlib

import dagster as dg

from .maintenance import lake_compaction
from .orchestration import (
    PROCESS_TAG,
    RANGE_END,
    RANGE_START,
    batch_plan,
    global_status,
    latest_record,
    range_tags,
    split_keys,
    stale_run_key,
    stale_selection,
)
from .orchestration import _alive as process_alive
from .partitions import videos_partitions
from .resources import LakeResource
from .storage.failures import current_failures

PARTITION_TAG = "dagster/partition"
UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def stale_run_requests(
    context, defs: dg.Definitions, lake: LakeResource, video_ids: list[str], batch_size: int = 25
) -> list[dg.RunRequest]:
    """One request per batch of contiguous videos that need the same assets re-materialized; when no
    video needs anything, one request for the stale dataset-level assets (the bank, the scores). A stale
    bank goes first, alone: the per-video answers read it.

    Videos with a run still queued or in progress are left for a later tick (their assets are stale until
    that run ends, and a second run would redo the same work); dataset-level assets wait until no run is in
    flight at all."""
    order = context.instance.get_dynamic_partitions(videos_partitions.name)
    busy, dataset_busy = in_flight(context.instance, order)
    if dataset_busy:
        return []
    video_ids = [v for v in video_ids if v not in busy]
    dataset = global_status(defs, context.instance)
    first = [k for k in per_video_free_dataset_keys(defs) if dataset[k.to_user_string()] != "fresh"]
    if first:
        return [] if busy else [_dataset_request(defs, context, first)]
    plan = stale_selection(defs, context.instance, lake.lake(), video_ids)
    if not plan:
        rest = [dg.AssetKey(n) for n, state in dataset.items() if state != "fresh"]
        return [_dataset_request(defs, context, rest)] if rest and not busy else []
    # Videos whose last attempt failed run alone: a bad file must not hold back a batch again.
    failed = {v for v in plan if current_failures(lake.lake(), v)}
    requests = []
    for videos, keys in batch_plan(plan, order, batch_size, isolate=failed):
        state = "-".join(stale_run_key(v, keys, defs, context.instance) for v in videos)
        requests.append(
            dg.RunRequest(
                run_key=hashlib.sha256(state.encode()).hexdigest()[:24],
                partition_key=videos[0] if len(videos) == 1 else None,
                asset_selection=keys,
                tags={"codecvdc/reason": "stale", "codecvdc/videos": str(len(videos)), **range_tags(videos)},
            )
        )
    return requests


def in_flight(instance: dg.DagsterInstance, order: list[str]) -> tuple[set[str], bool]:
    """(videos some unfinished run covers, whether an unfinished run has no partition: dataset-level).
    A CLI run whose process died still says STARTED until the next `codecvdc run` cleans it up: ignored."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(UNFINISHED)))
    runs = [r for r in runs if PROCESS_TAG not in r.tags or process_alive(r.tags[PROCESS_TAG])]
    index = {key: i for i, key in enumerate(order)}
    videos: set[str] = set()
    dataset = False
    for run in runs:
        tags = run.tags
        start, end = tags.get(RANGE_START), tags.get(RANGE_END)
        if tags.get(PARTITION_TAG):
            videos.add(tags[PARTITION_TAG])
        elif start in index and end in index:
            videos.update(order[index[start] : index[end] + 1])
        elif run.job_name != lake_compaction.name:  # compaction touches no asset
            dataset = True
    return videos, dataset


def per_video_free_dataset_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Dataset-level assets with no per-video asset upstream (they must run before the videos)."""
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.toposorted_asset_keys if graph.get(k).partitions_def is None]
    return split_keys(defs, keys)[0]


def _dataset_request(defs: dg.Definitions, context, keys: list[dg.AssetKey]) -> dg.RunRequest:
    graph = defs.resolve_asset_graph()
    parts = []
    for key in keys:
        node = graph.get(key)
        latest = [latest_record(context.instance, p) for p in node.parent_keys]
        parts.append(
            f"{key.to_user_string()}:{node.code_version}:" + ",".join(str(r.storage_id if r else 0) for r in latest)
        )
    return dg.RunRequest(
        run_key=hashlib.sha256("|".join(parts).encode()).hexdigest()[:24],
        asset_selection=keys,
        tags={"codecvdc/reason": "stale dataset-level assets"},
    )
