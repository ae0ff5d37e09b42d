"""`segments` + `frames`: scene-aligned segmentation and 1 fps sampling from ONE decode pass.

Inputs: the partition's video file (after `videos`). Outputs: lake/segments, lake/frames and the
JPEGs in the content-addressed frame store ($CODECVDC_HOME/frames). No model calls. Both assets come
from one multi-asset because they share the decode; they are always materialized together.
"""

import dagster as dg
import pandas as pd

from ..partitions import videos_partitions
from ..resources import LakeResource, SegmentationResource
from ..versioning import code_version
from ..video.probe import probe
from ..video.scan import scan_video
from ..video.tables import frames_frame, segments_frame
from ._shell import markdown_table, per_video, refresh_catalog

LOGIC_VERSION = "v1"
SAMPLING_FIELDS = ("sample_fps", "frame_max_side", "jpeg_quality")


def build_segments_assets(seg: SegmentationResource) -> dg.AssetsDefinition:
    params = seg.params().as_dict()
    seg_version = code_version(LOGIC_VERSION, **params)
    frames_version = code_version(LOGIC_VERSION, **params)

    @dg.multi_asset(
        name="segments_and_frames",
        specs=[
            dg.AssetSpec(
                "segments",
                deps=["videos"],
                code_version=seg_version,
                group_name="ingest",
                kinds={"python", "parquet"},
                description="Scene-aligned segments (I-frame-primary or content-primary, min/max duration).",
            ),
            dg.AssetSpec(
                "frames",
                deps=["videos"],
                code_version=frames_version,
                group_name="ingest",
                kinds={"python", "parquet"},
                description="1/sample_fps sampled frames + each segment's first frame, JPEG, content-hashed.",
            ),
        ],
        partitions_def=videos_partitions,
        can_subset=False,
    )
    def segments_and_frames(
        context: dg.AssetExecutionContext, lake: LakeResource, segmentation: SegmentationResource
    ):
        video_id = context.partition_key
        marks = {0.25, 0.5, 0.75}

        def progress(share: float) -> None:
            for mark in sorted(marks):
                if share >= mark:
                    marks.discard(mark)
                    context.log.info(f"{video_id}: decoded {mark:.0%}")

        with per_video(context, lake, ["segments", "frames"]) as path:
            info = probe(path, with_sha256=False)
            scan = scan_video(info, segmentation.params(), lake.frame_store(), lake.spool_dir(), progress)
            segs = segments_frame(video_id, scan)
            frames = frames_frame(video_id, scan, lake.frame_uri)
            lake.lake().write("segments", video_id, segs)
            lake.lake().write("frames", video_id, frames)
        refresh_catalog(context, lake)

        seg_rows = segs[["segment_idx", "start_s", "end_s", "boundary_source", "iframe_s"]].to_dict("records")
        for row in seg_rows:
            row["iframe_s"] = None if pd.isna(row["iframe_s"]) else float(row["iframe_s"])
        yield dg.MaterializeResult(
            asset_key="segments",
            metadata={
                "dagster/row_count": len(segs),
                "seg_mode": scan.mode,
                "mode_reason": scan.mode_reason,
                "gop_cv": round(scan.gop.cv, 4) if scan.gop.cv is not None else "n/a",
                "content_cuts": len(scan.cut_frames),
                "decoded_frames": scan.n_frames,
                "median_segment_s": float(segs["duration_s"].median()),
                "segments": dg.MetadataValue.md(markdown_table(seg_rows)),
            },
        )
        yield dg.MaterializeResult(
            asset_key="frames",
            metadata={
                "dagster/row_count": len(frames),
                "sampled": int(frames["is_sample"].sum()),
                "anchors": int(frames["is_anchor"].sum()),
                "sample_fps": segmentation.sample_fps,
                "frame_size": f"{frames['width'].iloc[0]}x{frames['height'].iloc[0]}"
                if len(frames)
                else "n/a",
                "first_anchor": dg.MetadataValue.path(str(lake.frame_store().path(frames["sha256"].iloc[0])))
                if len(frames)
                else "n/a",
            },
        )

    return segments_and_frames
