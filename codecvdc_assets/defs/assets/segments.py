"""`segments` + `frames`: scene-aligned segmentation and 1 fps sampling from ONE decode pass.

Inputs: each video's file (after `videos`). Outputs: lake/segments, lake/frames and the JPEGs in the
content-addressed frame store ($CODECVDC_HOME/frames). No model calls. Both assets come from one
multi-asset because they share the decode; they are always materialized together.
"""

import dagster as dg
import pandas as pd

from codecvdc_assets.defs.assets.per_video import backfill_policy, markdown_table, result_metadata, run_videos
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource, SegmentationResource
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.versioning import code_version
from codecvdc_assets.video.probe import probe
from codecvdc_assets.video.rows import frames_frame, segments_frame
from codecvdc_assets.video.scan import scan_video

LOGIC_VERSION = "v2"  # v2: rotation, synthesized timestamps, decoder errors skipped


def build_segments_assets(seg: SegmentationResource, batch_size: int = DEFAULT_BATCH) -> dg.AssetsDefinition:
    version = code_version(LOGIC_VERSION, **seg.params().as_dict())

    @dg.multi_asset(
        name="segments_and_frames",
        specs=[
            dg.AssetSpec(
                "segments",
                deps=["videos"],
                code_version=version,
                group_name="ingest",
                kinds={"python", "parquet"},
                description="Scene-aligned segments (I-frame-primary or content-primary, min/max duration).",
            ),
            dg.AssetSpec(
                "frames",
                deps=["videos"],
                code_version=version,
                group_name="ingest",
                kinds={"python", "parquet"},
                description="1/sample_fps sampled frames + each segment's first frame, JPEG, content-hashed.",
            ),
        ],
        partitions_def=videos_partitions,
        backfill_policy=backfill_policy(batch_size),
        can_subset=False,
    )
    def segments_and_frames(context: dg.AssetExecutionContext, lake: LakeResource, segmentation: SegmentationResource):
        def work(video_id: str, path: str) -> dict:
            # Decode progress for a run of one (long) video; a batch reports per video in the shell instead.
            marks = {0.25, 0.5, 0.75} if len(context.partition_keys) == 1 else set()

            def progress(share: float) -> None:
                for mark in sorted(marks):
                    if share >= mark:
                        marks.discard(mark)
                        context.log.info(f"{video_id}: decoded {mark:.0%}")

            with lake.local_video(path) as local:  # an S3 object is copied to a temp file, then deleted
                info = probe(local, with_sha256=False)
                scan = scan_video(info, segmentation.params(), lake.frame_store(), lake.spool_dir(), progress)
            if scan.decode_errors:
                context.log.warning(
                    f"{video_id}: {scan.decode_errors} packet(s) rejected by the decoder were skipped "
                    f"({scan.n_frames} frames decoded); first: {scan.first_decode_error}"
                )
            segs = segments_frame(video_id, scan)
            frames = frames_frame(video_id, scan, lake.frame_uri)
            lake.lake().write("segments", video_id, segs)
            lake.lake().write("frames", video_id, frames)
            seg_rows = segs[["segment_idx", "start_s", "end_s", "boundary_source", "iframe_s"]].to_dict("records")
            for row in seg_rows:
                row["iframe_s"] = None if pd.isna(row["iframe_s"]) else float(row["iframe_s"])
            first = str(lake.frame_store().path(frames["sha256"].iloc[0])) if len(frames) else None
            return {
                "segments": {
                    "dagster/row_count": len(segs),
                    "seg_mode": scan.mode,
                    "mode_reason": scan.mode_reason,
                    "gop_cv": round(scan.gop.cv, 4) if scan.gop.cv is not None else "n/a",
                    "content_cuts": len(scan.cut_frames),
                    "decoded_frames": scan.n_frames,
                    "decode_errors": scan.decode_errors,
                    "median_segment_s": float(segs["duration_s"].median()),
                    "segments": dg.MetadataValue.md(markdown_table(seg_rows)),
                },
                "frames": {
                    "dagster/row_count": len(frames),
                    "sampled": int(frames["is_sample"].sum()),
                    "anchors": int(frames["is_anchor"].sum()),
                    "sample_fps": segmentation.sample_fps,
                    "frame_size": f"{frames['width'].iloc[0]}x{frames['height'].iloc[0]}" if len(frames) else "n/a",
                    "first_anchor": dg.MetadataValue.path(first) if first else "n/a",
                },
            }

        done = run_videos(context, lake, ["segments", "frames"], work)
        yield dg.MaterializeResult(asset_key="segments", metadata=result_metadata(context, done, "segments"))
        yield dg.MaterializeResult(asset_key="frames", metadata=result_metadata(context, done, "frames"))

    return segments_and_frames
