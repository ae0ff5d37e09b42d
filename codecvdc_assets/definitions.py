"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here.

The active profile (CODECVDC_PROFILE, default `embedded`; resources/<name>.yaml) configures the
resources; asset code versions are derived from that configuration.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

from .assets._shell import DEFAULT_BATCH
from .assets.caption_metrics import build_caption_metrics_asset
from .assets.captions import build_caption_assets
from .assets.construction import build_construction_assets
from .assets.export import build_export_assets
from .assets.longcaption import build_longcaption_assets
from .assets.segments import build_segments_assets
from .assets.vidcapqa import build_vidcapqa_assets
from .assets.videos import build_videos_asset
from .checks.captions import CHECKS
from .checks.quality import build_quality_checks
from .executors import build_executor
from .maintenance import build_compaction_schedule, lake_compaction
from .resources import (
    CaptioningResource,
    CaptionMetricsResource,
    LongCaptionResource,
    QualityResource,
    SegmentationResource,
    TextModelResource,
    VidCapQAResource,
    VideoRootsResource,
    VisionModelResource,
    lake_resource,
)
from .schedules import build_backfill_schedule
from .sensors import build_stale_sensor, build_video_files_sensor
from .settings import codecvdc_home, load_profile

# Deliberately used: BackfillPolicy (batched runs) is beta, partitioned asset checks are preview.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def model_config(section: dict[str, Any] | None, where: str = "profile") -> dict[str, Any]:
    """A profile's model section as resource config; `api_key_env: NAME` becomes dg.EnvVar(NAME)."""
    config = dict(section or {})
    if "api_key" in config:  # never echo the value: it may be a real key
        raise ValueError(f"{where}: profiles must not contain api_key: name the environment variable with api_key_env")
    env = config.pop("api_key_env", None)
    if env:
        config["api_key"] = dg.EnvVar(env)
    return config


def build_resources(profile: dict[str, Any], home: str | None = None) -> dict[str, Any]:
    return {
        "lake": lake_resource(profile, home or str(codecvdc_home())),
        "segmentation": SegmentationResource(**(profile.get("segmentation") or {})),
        "video_roots": VideoRootsResource(roots=[str(r) for r in profile.get("video_roots") or []]),
        "vision_model": VisionModelResource(
            **model_config(profile.get("vision_model"), _where(profile, "vision_model"))
        ),
        "text_model": TextModelResource(**model_config(profile.get("text_model"), _where(profile, "text_model"))),
        "captioning": CaptioningResource(**(profile.get("captioning") or {})),
        "vidcapqa": VidCapQAResource(**(profile.get("vidcapqa") or {})),
        "caption_metrics": CaptionMetricsResource(**(profile.get("caption_metrics") or {})),
        "longcaption": LongCaptionResource(**(profile.get("longcaption") or {})),
        "quality": QualityResource(section=profile.get("quality") or {}),
    }


def _where(profile: dict[str, Any], section: str) -> str:
    return f"profile {profile.get('name', '(inline)')}, {section}"


def build_assets(resources: dict[str, Any], batch_size: int = DEFAULT_BATCH) -> list[dg.AssetsDefinition]:
    seg = resources["segmentation"]
    return [
        build_videos_asset(seg, batch_size),
        build_segments_assets(seg, batch_size),
        *build_caption_assets(resources["vision_model"], resources["text_model"], resources["captioning"], batch_size),
        *build_longcaption_assets(
            resources["vision_model"], resources["text_model"], resources["longcaption"], batch_size
        ),
        *build_vidcapqa_assets(resources["vision_model"], resources["text_model"], resources["vidcapqa"], batch_size),
        # Construction joins the graph when the profile names a question pool.
        *(build_construction_assets(resources["vidcapqa"]) if resources["vidcapqa"].pool else []),
        # Caption metrics join the graph when the profile names reference files.
        *(
            [build_caption_metrics_asset(resources["caption_metrics"], resources["text_model"])]
            if resources["caption_metrics"].enabled()
            else []
        ),
    ]


def build_definitions(profile_name: str | None = None, home: str | None = None) -> dg.Definitions:
    profile = load_profile(profile_name)
    resources = build_resources(profile, home)
    automation = profile.get("automation") or {}
    holder: list[dg.Definitions] = []
    batch_size = int(automation.get("batch_size", DEFAULT_BATCH))
    stale_sensor = build_stale_sensor(lambda: holder[0], batch_size, int(automation.get("stale_interval_s", 60)))
    files_sensor = build_video_files_sensor(int(automation.get("video_files_interval_s", 30)))
    backfill = build_backfill_schedule(lambda: holder[0], automation.get("backfill_cron", "0 3 * * *"), batch_size)
    assets = build_assets(resources, batch_size)
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


defs = build_definitions()
