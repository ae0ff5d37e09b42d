"""`videos`: probe each registered file (PyAV, demux only): stream facts, GOP statistics, mode.

Inputs: the registry entry of the partition's video. Output: lake/videos. No model calls.
"""

import dagster as dg
import pandas as pd

from ..partitions import videos_partitions
from ..resources import LakeResource, SegmentationResource
from ..versioning import code_version
from ..video.probe import probe
from ..video.tables import videos_frame
from ._shell import per_video, refresh_catalog

LOGIC_VERSION = "v1"


def build_videos_asset(seg: SegmentationResource) -> dg.AssetsDefinition:
    version = code_version(LOGIC_VERSION, tau_gop=seg.tau_gop, all_intra_ratio=seg.all_intra_ratio)

    @dg.asset(
        name="videos",
        partitions_def=videos_partitions,
        code_version=version,
        group_name="ingest",
        kinds={"python", "parquet"},
        description="Probe: duration, fps, codec, audio, I-frame GOP statistics and segmentation mode.",
    )
    def videos(
        context: dg.AssetExecutionContext, lake: LakeResource, segmentation: SegmentationResource
    ) -> dg.MaterializeResult:
        with per_video(context, lake, ["videos"]) as path:
            info = probe(path)
            frame = videos_frame(context.partition_key, info, segmentation.params())
            lake.lake().write("videos", context.partition_key, frame)
        refresh_catalog(context, lake)
        row = frame.iloc[0]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": 1,
                "path": dg.MetadataValue.path(info.path),
                "duration_s": round(info.duration_s, 3),
                "resolution": f"{info.width}x{info.height}",
                "fps": round(info.fps, 3),
                "codec": info.codec,
                "has_audio": info.has_audio,
                "n_iframes": info.n_keyframes,
                "gop_cv": "n/a (no GOP signal)" if pd.isna(row["gop_cv"]) else round(float(row["gop_cv"]), 4),
                "seg_mode": str(row["seg_mode"]),
                "mode_reason": str(row["mode_reason"]),
            }
        )

    return videos
