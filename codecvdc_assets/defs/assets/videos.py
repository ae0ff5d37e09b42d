"""`videos`: probe each registered file (PyAV, demux only): stream facts, GOP statistics, mode.

Inputs: the registry entry of each video of the run. Output: lake/videos. No model calls.
"""

from dataclasses import replace

import dagster as dg
import pandas as pd

from codecvdc_assets.defs.assets.per_video import backfill_policy, result_metadata, run_videos
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource, SegmentationResource
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.versioning import code_version
from codecvdc_assets.video.errors import display_path
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.rows import videos_frame

LOGIC_VERSION = "v2"  # v2: rotation, synthesized timestamps, decoder errors skipped


def build_videos_asset(seg: SegmentationResource, batch_size: int = DEFAULT_BATCH) -> dg.AssetsDefinition:
    version = code_version(LOGIC_VERSION, tau_gop=seg.tau_gop, all_intra_ratio=seg.all_intra_ratio)

    @dg.asset(
        name="videos",
        partitions_def=videos_partitions,
        backfill_policy=backfill_policy(batch_size),
        code_version=version,
        group_name="ingest",
        kinds={"python", "parquet"},
        description="Probe: duration, fps, codec, audio, I-frame GOP statistics and segmentation mode.",
    )
    def videos(
        context: dg.AssetExecutionContext, lake: LakeResource, segmentation: SegmentationResource
    ) -> dg.MaterializeResult:
        def work(video_id: str, path: str) -> dict:
            with lake.local_video(path) as local:  # an S3 object is copied to a temp file, then deleted
                info = replace(probe(local), path=path)
            frame = videos_frame(video_id, info, segmentation.params())
            lake.lake().write("videos", video_id, frame)
            row = frame.iloc[0]
            return {
                "videos": {
                    "dagster/row_count": 1,
                    "path": dg.MetadataValue.path(display_path(info.path)),
                    "duration_s": round(info.duration_s, 3),
                    "resolution": f"{info.width}x{info.height}",
                    "rotation": info.rotation,
                    "timestamps_synthesized": info.timestamps_synthesized,
                    "fps": round(info.fps, 3),
                    "codec": info.codec,
                    "has_audio": info.has_audio,
                    "n_iframes": info.n_keyframes,
                    "gop_cv": "n/a (no GOP signal)" if pd.isna(row["gop_cv"]) else round(float(row["gop_cv"]), 4),
                    "seg_mode": str(row["seg_mode"]),
                    "mode_reason": str(row["mode_reason"]),
                }
            }

        done = run_videos(context, lake, ["videos"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "videos"))

    return videos
