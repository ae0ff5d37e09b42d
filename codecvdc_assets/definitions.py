"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here; it only assembles.

The active profile (CODECVDC_PROFILE, default `embedded`; resources/<name>.yaml) configures the
resources; asset code versions are derived from that configuration. `cli_job` and `cli_profile_job` are
the jobs that step processes and Celery workers rebuild for `codecvdc run` (runs/execute.py names them
with dg.build_reconstructable_job).
"""

from __future__ import annotations

import warnings

import dagster as dg

from codecvdc_assets.captioning.strategies import profile_strategies
from codecvdc_assets.defs.assets import build_assets
from codecvdc_assets.defs.assets.export import build_export_assets
from codecvdc_assets.defs.checks.captions import CHECKS
from codecvdc_assets.defs.checks.quality import build_quality_checks
from codecvdc_assets.defs.compaction import build_compaction_schedule, lake_compaction
from codecvdc_assets.defs.executors import build_executor
from codecvdc_assets.defs.resources import build_resources
from codecvdc_assets.defs.schedules import build_backfill_schedule
from codecvdc_assets.defs.sensors import build_stale_sensor, build_video_files_sensor
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.runs.execute import CLI_JOB
from codecvdc_assets.runs.sqlite_wal import relax_instance_fsyncs
from codecvdc_assets.settings import load_profile

# Deliberately used: BackfillPolicy (batched runs) is beta, partitioned asset checks are preview.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def build_definitions(profile_name: str | None = None, home: str | None = None) -> dg.Definitions:
    profile = load_profile(profile_name)
    resources = build_resources(profile, home)
    automation = profile.get("automation") or {}
    holder: list[dg.Definitions] = []
    batch_size = int(automation.get("batch_size", DEFAULT_BATCH))
    stale_sensor = build_stale_sensor(lambda: holder[0], batch_size, int(automation.get("stale_interval_s", 60)))
    files_sensor = build_video_files_sensor(int(automation.get("video_files_interval_s", 30)))
    backfill = build_backfill_schedule(lambda: holder[0], automation.get("backfill_cron", "0 3 * * *"), batch_size)
    # UI backfills (BackfillPolicy.multi_run) take bigger runs than the CLI and the sensor: every run the
    # backfill daemon creates costs a run record, planned events and a run worker loading the code location,
    # so 118,257 videos in runs of 100 are 1,183 submissions instead of 4,731 (issue #23); a bad video still
    # fails alone (defs/assets/per_video.py) and a cancel still stops every run. The strategies are the
    # profile's (a dataset build: codeccap only); the jobs, sensors and schedule select AssetSelection.all(),
    # so they follow the graph.
    backfill_batch = int(automation.get("backfill_batch_size", 4 * batch_size))
    assets = build_assets(resources, backfill_batch, profile_strategies(profile))
    versions = {k.to_user_string(): v for a in assets for k, v in a.code_versions_by_key.items() if v}
    assets += build_export_assets(profile.get("export"), versions)  # only when the profile has `export: {out: ...}`
    defs = dg.Definitions(
        assets=assets,
        asset_checks=[*CHECKS, *build_quality_checks([k.to_user_string() for a in assets for k in a.keys])],
        jobs=[lake_compaction],
        sensors=[files_sensor, stale_sensor],
        schedules=[backfill, build_compaction_schedule(automation.get("compaction_cron", "30 2 * * *"))],
        resources=resources,
        executor=build_executor(profile.get("executor")),
    )
    holder.append(defs)
    return defs


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the code location, not when this module is imported."""
    return build_definitions()


def _asset_job(profile_executor: bool) -> dg.JobDefinition:
    relax_instance_fsyncs()
    defs = build_definitions()
    executor = defs.executor if profile_executor else dg.multi_or_in_process_executor
    job = dg.define_asset_job(CLI_JOB, selection=dg.AssetSelection.all(), executor_def=executor)
    whole = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, jobs=[job])
    return whole.resolve_job_def(CLI_JOB)


def cli_job() -> dg.JobDefinition:
    """The asset job rebuilt in the multiprocess executor's step processes (CODECVDC_HOME and
    CODECVDC_PROFILE come with the environment)."""
    return _asset_job(profile_executor=False)


def cli_profile_job() -> dg.JobDefinition:
    """The asset job with the profile's executor (dagster-celery's on the celery profile); Celery workers
    rebuild it from this function, with their own CODECVDC_HOME and the same CODECVDC_PROFILE."""
    return _asset_job(profile_executor=True)
