"""Dagster plumbing for the CLI: the instance, partitions, per-video materialization, status."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dagster as dg

from .partitions import videos_partitions
from .storage.failures import current_failure
from .storage.lake import Lake

CODE_VERSION_TAG = "dagster/code_version"


def get_instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get()


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
        chosen.update(
            k for k in graph.get_execution_set_asset_and_check_keys(node.key) if k in by_name.values()
        )
    return [k for k in keys if k in chosen]


@dataclass
class VideoOutcome:
    video_id: str
    ok: bool
    materialized: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None


def materialize_video(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_id: str,
    keys: list[dg.AssetKey],
    lake: Lake,
) -> VideoOutcome:
    """One run for one video over the selected assets; failures are reported, never raised."""
    started = time.perf_counter()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        instance=instance,
        partition_key=video_id,
        selection=keys,
        resources=defs.resources,
        raise_on_error=False,
        tags={"codecvdc/launched_by": "cli"},
        # Step logs stay in the instance (the UI shows them); the terminal shows the progress bar.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    done = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})
    error = None
    if not result.success:
        for key in keys:
            error = current_failure(lake, video_id, key.to_user_string())
            if error:
                break
        error = error or _first_failure(result) or "run failed"
    return VideoOutcome(video_id, result.success, done, error, time.perf_counter() - started, result.run_id)


def _first_failure(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return None


def materialize_many(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_ids: list[str],
    keys: list[dg.AssetKey],
    lake: Lake,
    on_done: Callable[[int, VideoOutcome], None] | None = None,
) -> list[VideoOutcome]:
    outcomes = []
    for i, video_id in enumerate(video_ids):
        outcome = materialize_video(defs, instance, video_id, keys, lake)
        outcomes.append(outcome)
        if on_done:
            on_done(i + 1, outcome)
    return outcomes


def partition_status(
    defs: dg.Definitions, instance: dg.DagsterInstance, lake: Lake, video_ids: list[str]
) -> dict[str, dict[str, str]]:
    """Per video and asset: missing, fresh, stale (code version changed, or an upstream asset of the
    same video was materialized after it) or failed (the latest attempt failed)."""
    graph = defs.resolve_asset_graph()
    keys = asset_order(defs)
    table: dict[str, dict[str, str]] = {}
    for video_id in video_ids:
        latest: dict[dg.AssetKey, dg.EventLogRecord | None] = {}
        for key in keys:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[video_id]), limit=1
            ).records
            latest[key] = records[0] if records else None
        row = {}
        for key in keys:
            name = key.to_user_string()
            record = latest[key]
            failure = current_failure(lake, video_id, name)
            if failure is not None:
                row[name] = "failed"
            elif record is None:
                row[name] = "missing"
            else:
                node = graph.get(key)
                materialization = record.asset_materialization
                tags = (materialization.tags if materialization else None) or {}
                stale = tags.get(CODE_VERSION_TAG) != node.code_version
                for parent in node.parent_keys:
                    up = latest.get(parent)
                    if up is None or up.timestamp > record.timestamp:
                        stale = True
                row[name] = "stale" if stale else "fresh"
        table[video_id] = row
    return table
