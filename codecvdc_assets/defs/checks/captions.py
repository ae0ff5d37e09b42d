"""Blocking asset checks on the caption tables: a Great Expectations suite per table, per video.

Blocking: a failed check stops the run before bad captions flow into the next level. A run may
cover several videos; the check validates each one and names the failing videos.
"""

import dagster as dg

from codecvdc_assets.defs.checks import expectations as ex
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import CaptioningResource, LakeResource


def _result(outcomes: dict[str, ex.Outcome], **metadata) -> dg.AssetCheckResult:
    """One result for all videos of the run; the description names each failing video."""
    failing = {vid: o for vid, o in outcomes.items() if not o.passed}
    if len(outcomes) == 1:
        description = next(iter(outcomes.values())).summary()
    elif failing:
        description = "; ".join(f"{vid}: {o.summary()}" for vid, o in failing.items())
    else:
        description = f"all expectations met for {len(outcomes)} videos"
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description[:2000],
        metadata={
            "videos": len(outcomes),
            "failing_videos": sorted(failing),
            "expectations": sum(o.evaluated for o in outcomes.values()),
            **metadata,
        },
    )


@dg.asset_check(
    asset="anchors",
    blocking=True,
    partitions_def=videos_partitions,
    description="GX: no empty anchor, word counts within bounds, one anchor per segment.",
)
def anchors_gx(context: dg.AssetCheckExecutionContext, lake: LakeResource, captioning: CaptioningResource):
    store = lake.lake()
    bounds = (captioning.anchor_words_min, captioning.anchor_words_max)
    outcomes = {
        vid: ex.validate(
            store.read("anchors", vid),
            ex.anchor_expectations(store.read("segments", vid), *bounds),
            "anchors",
        )
        for vid in context.partition_keys
    }
    return _result(outcomes)


@dg.asset_check(
    asset="residuals",
    blocking=True,
    partitions_def=videos_partitions,
    description="GX: no empty residual, word counts within bounds, timestamps inside their segment; "
    "reports the share of `none` residuals.",
)
def residuals_gx(context: dg.AssetCheckExecutionContext, lake: LakeResource, captioning: CaptioningResource):
    store = lake.lake()
    bounds = (captioning.residual_words_min, captioning.residual_words_max)
    outcomes, none_shares = {}, {}
    for vid in context.partition_keys:
        table = ex.residuals_with_segments(store.read("residuals", vid), store.read("segments", vid))
        outcomes[vid] = ex.validate(table, ex.residual_expectations(*bounds), "residuals")
        none_shares[vid] = round(float(table["none_share"].iloc[0]), 4) if len(table) else 0.0
    share = sum(none_shares.values()) / len(none_shares) if none_shares else 0.0
    return _result(outcomes, none_share=round(share, 4), none_share_by_video=dg.MetadataValue.json(none_shares))


def _narrative_check(asset: str):
    @dg.asset_check(
        asset=asset,
        name=f"{asset}_gx",
        blocking=True,
        partitions_def=videos_partitions,
        description="GX: no empty narrative.",
    )
    def check(context: dg.AssetCheckExecutionContext, lake: LakeResource):
        outcomes = {
            vid: ex.validate(lake.lake().read(asset, vid), ex.narrative_expectations(), asset)
            for vid in context.partition_keys
        }
        return _result(outcomes)

    return check


CHECKS = [
    anchors_gx,
    residuals_gx,
    _narrative_check("scene_narratives"),
    _narrative_check("video_narratives"),
]
