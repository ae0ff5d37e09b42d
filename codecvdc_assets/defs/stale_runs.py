"""Incremental re-materialization (DESIGN.md section 8): the requests behind a sensor and a schedule.

Choice: a sensor over our own status (runs.status.partition_status) rather than declarative
automation conditions, because it works the same from the CLI (`codecvdc run --stale`), needs no
per-asset condition tuning, and emits runs with exactly the stale assets and their downstream ones,
batching contiguous videos that need the same assets into one run (a partition-key range). Dynamic
partitions rule out build_schedule_from_partitioned_job, so both emit their own RunRequests.
"""

import dagster as dg

from codecvdc_assets.defs.compaction import lake_compaction
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource
from codecvdc_assets.runs.batching import DEFAULT_BATCH, RANGE_END, RANGE_START, batch_plan, range_tags
from codecvdc_assets.runs.instance import PROCESS_TAG, latest_record
from codecvdc_assets.runs.status import run_key, stale_plan, stale_run_keys
from codecvdc_assets.storage.failures import failing_assets
from codecvdc_assets.storage.processes import identity_alive as process_alive

PARTITION_TAG = "dagster/partition"
UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def stale_run_requests(
    context, defs: dg.Definitions, lake: LakeResource, video_ids: list[str], batch_size: int = DEFAULT_BATCH
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
    plan = stale_plan(defs, context.instance, lake.lake(), video_ids)
    if plan.pre:
        return [] if busy else [_dataset_request(defs, context, plan.pre)]
    if not plan.videos:
        return [_dataset_request(defs, context, plan.post)] if plan.post and not busy else []
    # Videos whose last attempt failed run alone: a bad file must not hold back a batch again.
    failed = {v for v, _asset in failing_assets(lake.lake())} & set(plan.videos)
    batches = batch_plan(plan.videos, order, batch_size, isolate=failed)
    run_keys: dict[str, str] = {}
    for keys in {tuple(keys) for _videos, keys in batches}:  # one batched look-up per asset selection
        wanting = [v for videos, k in batches if tuple(k) == keys for v in videos]
        run_keys.update(stale_run_keys(wanting, list(keys), defs, context.instance))
    requests = []
    for videos, keys in batches:
        requests.append(
            dg.RunRequest(
                run_key=run_key(["-".join(run_keys[v] for v in videos)]),
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
        run_key=run_key(parts),
        asset_selection=keys,
        tags={"codecvdc/reason": "stale dataset-level assets"},
    )
