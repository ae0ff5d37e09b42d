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
    checks: int = 0


def materialize_video(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_id: str,
    keys: list[dg.AssetKey],
    lake: Lake,
) -> VideoOutcome:
    """One run for one video over the selected assets; failures are reported, never raised."""
    started = time.perf_counter()
    assets = [a for a in [*defs.assets, *(defs.asset_checks or [])] if isinstance(a, dg.AssetsDefinition)]
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
    checks = result.get_asset_check_evaluations()
    failed_checks = [
        f"{c.asset_key.to_user_string()}/{c.check_name}: {c.description}" for c in checks if not c.passed
    ]
    error = None
    if not result.success:
        for key in keys:
            error = current_failure(lake, video_id, key.to_user_string())
            if error:
                break
        error = error or _first_failure(result) or "run failed"
    if failed_checks:  # a blocking check stops downstream assets; say which and why
        error = "; ".join(failed_checks)[:500] + (f" ({error})" if error and error != "run failed" else "")
    ok = result.success and not failed_checks
    return VideoOutcome(video_id, ok, done, error, time.perf_counter() - started, result.run_id, len(checks))


def _first_failure(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return None


def materialize_many(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: dict[str, list[dg.AssetKey]],
    lake: Lake,
    on_done: Callable[[int, VideoOutcome], None] | None = None,
) -> list[VideoOutcome]:
    """One run per video with that video's asset selection; failures are reported, never raised."""
    outcomes = []
    for i, (video_id, keys) in enumerate(plan.items()):
        outcome = materialize_video(defs, instance, video_id, keys, lake)
        outcomes.append(outcome)
        if on_done:
            on_done(i + 1, outcome)
    return outcomes


def partition_status(
    defs: dg.Definitions, instance: dg.DagsterInstance, lake: Lake, video_ids: list[str]
) -> dict[str, dict[str, str]]:
    """Per video and asset: missing, fresh, stale (its code version changed, an upstream asset of the
    same video was materialized after it, or an upstream asset is not fresh) or failed (the latest
    attempt failed)."""
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
                    # Upstream re-materialized after this one, or itself not fresh: stale (transitively).
                    if (
                        up is None
                        or up.timestamp > record.timestamp
                        or row.get(parent.to_user_string()) != "fresh"
                    ):
                        stale = True
                row[name] = "stale" if stale else "fresh"
        table[video_id] = row
    return table


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
    order = asset_order(defs)
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


def stale_run_key(
    video_id: str, keys: list[dg.AssetKey], defs: dg.Definitions, instance: dg.DagsterInstance
) -> str:
    """Identifies one need for a run: the same stale state never gets two runs, a new change gets one."""
    import hashlib

    graph = defs.resolve_asset_graph()
    parts = [video_id]
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[video_id]), limit=1
        ).records
        parts.append(
            f"{key.to_user_string()}:{graph.get(key).code_version}:{records[0].storage_id if records else 0}"
        )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
