"""The Dagster instance as the CLI and the sensors use it: the partitions, crash recovery, records."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from codecvdc_assets.models.calls import recover_journals
from codecvdc_assets.runs.sqlite_wal import relax_instance_fsyncs
from codecvdc_assets.storage.atomic import remove_dead_spools
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.processes import identity_alive, process_identity

VIDEOS_PARTITIONS = "videos"  # the dynamic partitions definition: one partition per video (defs/partitions.py)


PROCESS_TAG = "codecvdc/process"  # host:pid:start-ticks of the process executing a CLI run in-process


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
        if identity and not identity_alive(identity):
            instance.report_run_failed(run, f"the codecvdc process that ran it ({identity}) died")
            dead.append(run.run_id)
    # The store's root (lake, frames) and the call cache's folder (its blob store is opened on its own).
    for root in (lake.home, lake.home / "cache" / "model_calls"):
        remove_dead_spools(root)
    return dead, recover_journals(lake)


def add_partitions(instance: dg.DagsterInstance, video_ids: Iterable[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(VIDEOS_PARTITIONS))
    new = [v for v in dict.fromkeys(video_ids) if v not in existing]
    if new:
        instance.add_dynamic_partitions(VIDEOS_PARTITIONS, new)
    return new


def cli_tags() -> dict[str, str]:
    return {"codecvdc/launched_by": "cli", PROCESS_TAG: process_identity()}


def latest_record(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The latest materialization record of an asset (of one partition, or of any)."""
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0] if records else None
