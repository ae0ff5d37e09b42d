"""Caption quality asset checks: per caption asset and video, the share of captions the gates flagged
(after the re-asks), failing above the profile's `quality.check_max_rate`. Not blocking: flagged
captions are kept with their flags and left out of releases; the check makes the rate visible."""

import dagster as dg

from codecvdc_assets.defs.assets.quality import read_quality
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource, QualityResource
from codecvdc_assets.quality.settings import FLAGS


def _quality_check(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=f"{asset}_quality",
        blocking=False,
        partitions_def=videos_partitions,
        description="Caption quality gates: the share of flagged captions stays at or below quality.check_max_rate.",
    )
    def check(context: dg.AssetCheckExecutionContext, lake: LakeResource, quality: QualityResource):
        store, limit = lake.lake(), quality.settings().check_max_rate
        rates, counts, failing = {}, {f: 0 for f in FLAGS}, []
        for vid in context.partition_keys:
            total = len(store.read(asset, vid))
            rows = read_quality(store, vid, asset)
            flagged = int(rows["row"].nunique()) if len(rows) else 0
            rates[vid] = round(flagged / total, 4) if total else 0.0
            for flag, n in (rows.groupby("flag")["row"].nunique().to_dict() if len(rows) else {}).items():
                counts[str(flag)] += int(n)
            if rates[vid] > limit:
                failing.append(vid)
        worst = max(rates.values(), default=0.0)
        shown = ", ".join(f"{f} {n}" for f, n in counts.items() if n) or "none"
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"flagged share {worst:.1%} {'>' if failing else '<='} {limit:.1%} (flags: {shown})"
                + (f"; failing videos: {', '.join(failing)}" if failing else "")
            )[:2000],
            metadata={
                "flag_rate": worst,
                "threshold": limit,
                "failing_videos": failing,
                "rate_by_video": dg.MetadataValue.json(rates),
                **{f"flag_{f}": n for f, n in counts.items()},
            },
        )

    return check


QUALITY_ASSETS = [
    "anchors",
    "residuals",
    "scene_narratives",
    "video_narratives",
    "direct_captions",
    "per_second_captions",
    "longcap_frames",
    "longcap_clips",
    "longcap_video",
]


def build_quality_checks(assets: list[str]) -> list[dg.AssetChecksDefinition]:
    """One check per caption asset present in the definitions."""
    return [_quality_check(a) for a in QUALITY_ASSETS if a in assets]
