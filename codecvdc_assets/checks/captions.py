"""Blocking asset checks on the caption tables: a Great Expectations suite per table, per video.

Blocking: a failed check stops the run before bad captions flow into the next level.
"""

import dagster as dg

from ..partitions import videos_partitions
from ..resources import CaptioningResource, LakeResource
from . import expectations as ex


def _result(outcome: ex.Outcome, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.summary()[:2000],
        metadata={"expectations": outcome.evaluated, "failed": len(outcome.failures), **metadata},
    )


@dg.asset_check(
    asset="anchors",
    blocking=True,
    partitions_def=videos_partitions,
    description="GX: no empty anchor, word counts within bounds, one anchor per segment.",
)
def anchors_gx(context: dg.AssetCheckExecutionContext, lake: LakeResource, captioning: CaptioningResource):
    vid = context.partition_key
    store = lake.lake()
    table, segments = store.read("anchors", vid), store.read("segments", vid)
    outcome = ex.validate(
        table,
        ex.anchor_expectations(segments, captioning.anchor_words_min, captioning.anchor_words_max),
        "anchors",
    )
    return _result(outcome, anchors=len(table), segments=len(segments))


@dg.asset_check(
    asset="residuals",
    blocking=True,
    partitions_def=videos_partitions,
    description="GX: no empty residual, word counts within bounds, timestamps inside their segment; "
    "reports the share of `none` residuals.",
)
def residuals_gx(context: dg.AssetCheckExecutionContext, lake: LakeResource, captioning: CaptioningResource):
    vid = context.partition_key
    store = lake.lake()
    table = ex.residuals_with_segments(store.read("residuals", vid), store.read("segments", vid))
    outcome = ex.validate(
        table,
        ex.residual_expectations(captioning.residual_words_min, captioning.residual_words_max),
        "residuals",
    )
    none_share = float(table["none_share"].iloc[0]) if len(table) else 0.0
    return _result(outcome, residuals=len(table), none_share=round(none_share, 4))


def _narrative_check(asset: str):
    @dg.asset_check(
        asset=asset,
        name=f"{asset}_gx",
        blocking=True,
        partitions_def=videos_partitions,
        description="GX: no empty narrative.",
    )
    def check(context: dg.AssetCheckExecutionContext, lake: LakeResource):
        table = lake.lake().read(asset, context.partition_key)
        return _result(ex.validate(table, ex.narrative_expectations(), asset), rows=len(table))

    return check


CHECKS = [
    anchors_gx,
    residuals_gx,
    _narrative_check("scene_narratives"),
    _narrative_check("video_narratives"),
]
