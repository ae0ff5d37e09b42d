"""Per video and asset: missing, fresh, stale, failed or damaged; what a stale run must re-materialize."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import dagster as dg

from codecvdc_assets.runs.instance import latest_record
from codecvdc_assets.runs.selection import asset_order, per_video_keys, split_keys
from codecvdc_assets.storage.failures import current_damage, failing_assets
from codecvdc_assets.storage.integrity import DAMAGE_ERROR
from codecvdc_assets.storage.lake import GLOBAL, Lake

CODE_VERSION_TAG = "dagster/code_version"


def global_status(defs: dg.Definitions, instance: dg.DagsterInstance, lake: Lake | None = None) -> dict[str, str]:
    """missing / fresh / stale for the dataset-level assets (stale: code version changed, or a parent
    asset was materialized, for any video, after it); with `lake`, damaged too: `verify --repair` marked
    its file after its latest materialization."""
    graph = defs.resolve_asset_graph()
    damaged = current_damage(lake, GLOBAL) if lake is not None else {}
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


def partition_status(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake: Lake,
    video_ids: list[str],
    keys: list[dg.AssetKey] | None = None,
) -> dict[str, dict[str, str]]:
    """Per video and asset: missing, fresh, stale (its code version changed, an upstream asset of the
    same video was materialized after it, or an upstream asset is not fresh), failed (the latest
    attempt failed) or damaged (`verify --repair` found its lake file damaged or missing).

    Per asset one event-log query for the latest storage id of every partition and one per 1,000
    partitions for their code-version tags, plus one read of the failures table: not one query per
    video and asset (800K at 100K videos). Storage ids order events like their timestamps do.
    `keys`: only these per-video assets (they must include their per-video parents); default: all.
    """
    graph = defs.resolve_asset_graph()
    keys = keys or per_video_keys(defs)
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
        ids[key] = latest_storage_ids(instance, key, event, wanted)
        versions[key] = _code_versions(instance, key, ids[key])
    failing = failing_assets(lake)
    # Per asset once, not per video: its name, code version and parents (name, per-video or dataset-level).
    nodes = [
        (
            key,
            key.to_user_string(),
            graph.get(key).code_version,
            [(p, p.to_user_string()) for p in graph.get(key).parent_keys],
        )
        for key in keys
    ]
    table: dict[str, dict[str, str]] = {}
    for video_id in video_ids:
        row: dict[str, str] = {}
        for key, name, code_version, parents in nodes:
            storage_id = ids[key].get(video_id)
            if (video_id, name) in failing:
                row[name] = "damaged" if failing[(video_id, name)] == DAMAGE_ERROR else "failed"
            elif storage_id is None:
                row[name] = "missing"
            else:
                stale = versions[key].get(video_id) != code_version
                for parent, parent_name in parents:
                    up = ids[parent].get(video_id) if parent in ids else dataset_ids.get(parent)
                    # Upstream re-materialized after this one, or itself not fresh: stale (transitively).
                    state = row.get(parent_name) or dataset.get(parent_name)
                    if up is None or up > storage_id or state != "fresh":
                        stale = True
                row[name] = "stale" if stale else "fresh"
        table[video_id] = row
    return table


LATEST_IN_CHUNK = 1000  # partitions per `IN` list
LATEST_ALL_OVER = 20_000  # asking about more partitions: one query over all the asset's partitions


def latest_storage_ids(
    instance: dg.DagsterInstance, key: dg.AssetKey, event: dg.DagsterEventType, video_ids: set[str]
) -> dict[str, int]:
    """The latest storage id of `event` per partition of `key`, for `video_ids`: `IN` lists of at most
    LATEST_IN_CHUNK keys (a 118K-literal list took seconds per asset to compile and run), or, for more than
    LATEST_ALL_OVER videos, one query for every partition of the asset, filtered here."""
    if len(video_ids) > LATEST_ALL_OVER:
        every = instance.get_latest_storage_id_by_partition(key, event)
        return {video_id: storage_id for video_id, storage_id in every.items() if video_id in video_ids}
    wanted = sorted(video_ids)
    out: dict[str, int] = {}
    for start in range(0, len(wanted), LATEST_IN_CHUNK):
        chunk = set(wanted[start : start + LATEST_IN_CHUNK])
        out.update(instance.get_latest_storage_id_by_partition(key, event, partitions=chunk))
    return out


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
    every = per_video_keys(defs)
    allowed = set(within or every)
    # Only the selected assets and what decides them (per-video ancestors, assets sharing their step):
    # `run --stale --select videos` reads the status of one asset, not of 14.
    needed, stack = set(), list(allowed)
    while stack:
        key = stack.pop()
        if key in needed or key not in every:
            continue
        needed.add(key)
        stack.extend(graph.get(key).parent_keys)
        stack.extend(graph.get_execution_set_asset_and_check_keys(key))
    order = [k for k in every if k in needed]
    status = partition_status(defs, instance, lake, video_ids, order)
    names = [k.to_user_string() for k in order]
    execution_sets = {k: [e for e in graph.get_execution_set_asset_and_check_keys(k) if e in order] for k in order}
    by_state: dict[tuple[str, ...], list[dg.AssetKey]] = {}  # videos in the same state need the same assets
    out: dict[str, list[dg.AssetKey]] = {}
    for video_id in video_ids:
        state = tuple(status[video_id][name] for name in names)
        selected = by_state.get(state)
        if selected is None:
            chosen: set[dg.AssetKey] = set()
            for key, key_state in zip(order, state, strict=True):
                if key_state != "fresh" or any(p in chosen for p in graph.get(key).parent_keys):
                    chosen.add(key)
                    chosen.update(execution_sets[key])
            selected = by_state[state] = [k for k in order if k in chosen and k in allowed]
        if selected:
            out[video_id] = list(selected)
    return out


@dataclass
class StalePlan:
    """What a stale run re-materializes: dataset-level assets with no per-video asset above them (run
    first), per-video assets per video, dataset-level assets that sum the videos up (run after)."""

    pre: list[dg.AssetKey]
    videos: dict[str, list[dg.AssetKey]]
    post: list[dg.AssetKey]
    checked: int = 0  # videos planned up to and including this slice (of a sliced plan)
    total: int = 0  # videos the whole plan looks at

    def empty(self) -> bool:
        return not (self.pre or self.videos or self.post)


def stale_plan(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake: Lake | None,
    video_ids: list[str],
    keys: list[dg.AssetKey] | None = None,
) -> StalePlan:
    """The not-fresh part of `keys` (default: every asset) for `video_ids`, planned at once: what the
    stale_assets sensor and the backfill schedule turn into run requests. A dataset-level asset after the
    videos runs when it is not fresh or when any video is re-materialized."""
    return next(stale_plan_slices(defs, instance, lake, video_ids, keys, first=max(1, len(video_ids))))


PLAN_FIRST = 1_000  # videos planned before `run --stale` starts its first run
PLAN_MOST = 16_000  # the largest slice (IN lists of LATEST_IN_CHUNK; under LATEST_ALL_OVER)


def stale_plan_slices(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake: Lake | None,
    video_ids: list[str],
    keys: list[dg.AssetKey] | None = None,
    first: int = PLAN_FIRST,
    most: int = PLAN_MOST,
) -> Iterator[StalePlan]:
    """stale_plan over consecutive slices of `video_ids` (the first `first` videos, then slices doubling up
    to `most`), each planned when the caller asks for it: `codecvdc run --stale` runs a slice's videos
    before it plans the next, so its first run waits for `first` videos' planning, not the pool's (17.9 s
    at 118K planned at once). The dataset-level assets to run first come with the first slice, those that
    sum the videos up with the last (they run when any slice had a video to re-materialize, or when not
    fresh). Planning a slice after the previous one ran sees that run's materializations."""
    pre, per_video, post = split_keys(defs, keys or asset_order(defs))
    dataset = global_status(defs, instance, lake)
    pre = [k for k in pre if dataset[k.to_user_string()] != "fresh"]
    any_video, start, size = False, 0, first
    while True:
        part = video_ids[start : start + size]
        videos = (
            stale_selection(defs, instance, lake, part, per_video) if part and per_video and lake is not None else {}
        )
        any_video = any_video or bool(videos)
        start += len(part)
        last = start >= len(video_ids)
        after = [k for k in post if any_video or dataset[k.to_user_string()] != "fresh"] if last else []
        yield StalePlan(pre, videos, after, start, len(video_ids))
        if last:
            return
        pre, size = [], min(2 * size, most)


def run_key(parts: list[str]) -> str:
    """A run key from the state a run answers to: the same state never gets two runs, a new one gets one."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def stale_run_key(video_id: str, keys: list[dg.AssetKey], defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    """Identifies one need for a run: the same stale state never gets two runs, a new change gets one."""
    return stale_run_keys([video_id], keys, defs, instance)[video_id]


def stale_run_keys(
    video_ids: list[str], keys: list[dg.AssetKey], defs: dg.Definitions, instance: dg.DagsterInstance
) -> dict[str, str]:
    """Per video, what identifies one need for a run (the same stale state never gets two runs, a new change
    gets one), for videos needing the same assets: one query per asset (and IN chunk), not one per video
    and asset (a sensor tick over 3,000 videos made 42,000)."""
    graph = defs.resolve_asset_graph()
    event = dg.DagsterEventType.ASSET_MATERIALIZATION
    latest = {key: latest_storage_ids(instance, key, event, set(video_ids)) for key in keys}
    out = {}
    for video_id in video_ids:
        parts = [video_id]
        for key in keys:
            storage_id = latest[key].get(video_id, 0)
            parts.append(f"{key.to_user_string()}:{graph.get(key).code_version}:{storage_id}")
        out[video_id] = run_key(parts)
    return out
