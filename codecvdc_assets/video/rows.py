"""Turn probe and scan results into the rows of the `videos`, `segments` and `frames` tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from codecvdc_assets.video.errors import display_path
from codecvdc_assets.video.probe import VideoProbe
from codecvdc_assets.video.scan import ScanResult
from codecvdc_assets.video.segmentation import SegmentParams, choose_mode, gop_stats

if TYPE_CHECKING:  # pandas costs ~0.5 s to import: `codecvdc segment` (segments_json) does not need it
    import pandas as pd


def videos_frame(video_id: str, info: VideoProbe, params: SegmentParams) -> pd.DataFrame:
    import pandas as pd

    stats = gop_stats(info.keyframe_s, info.n_packets, params)
    mode, reason = choose_mode(stats, params)
    row = {
        "video_id": video_id,
        "path": display_path(info.path),  # one printable UTF-8 line; the registry keeps the exact path
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
        "container": info.container,
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "duration_s": info.duration_s,
        "start_offset_s": info.start_s,
        "rotation": info.rotation,
        "timestamps_synthesized": info.timestamps_synthesized,
        "n_packets": info.n_packets,
        "has_audio": info.has_audio,
        "audio_codec": info.audio_codec,
        "n_iframes": stats.n_iframes,
        "gop_mean_s": stats.mean_gap_s,
        "gop_cv": stats.cv if stats.degenerate is None else None,
        "keyframe_ratio": min(stats.keyframe_ratio, 1.0),
        "seg_mode": mode,
        "mode_reason": reason,
    }
    frame = pd.DataFrame([row])
    for col in ("gop_mean_s", "gop_cv"):
        frame[col] = frame[col].astype("Float64")
    return frame


def segments_frame(video_id: str, scan: ScanResult) -> pd.DataFrame:
    import pandas as pd

    cv = scan.gop.cv if scan.gop.degenerate is None else None
    frame = pd.DataFrame(
        [
            {
                "video_id": video_id,
                "segment_idx": s.segment_idx,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "duration_s": s.duration_s,
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "boundary_source": s.boundary_source,
                "iframe_s": s.iframe_s,
                "seg_mode": scan.mode,
                "gop_cv": cv,
            }
            for s in scan.segments
        ]
    )
    for col in ("iframe_s", "gop_cv"):
        frame[col] = frame[col].astype("Float64")
    return frame


def frames_frame(video_id: str, scan: ScanResult, uri_of: Callable[[str], str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "video_id": video_id,
                "segment_idx": f.segment_idx,
                "frame_idx": f.frame_idx,
                "t_s": f.t_s,
                "sha256": f.sha256,
                "width": f.width,
                "height": f.height,
                "is_sample": f.is_sample,
                "is_anchor": f.is_anchor,
                "uri": uri_of(f.sha256),
            }
            for f in scan.frames
        ]
    )


def segments_json(path: str, video_id: str | None, info: VideoProbe, scan: ScanResult) -> dict:
    """The `codecvdc segment --json` document."""
    return {
        "path": path,
        "video_id": video_id,
        "duration_s": round(info.duration_s, 6),
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "start_offset_s": round(info.start_s, 6),
        "timestamps_synthesized": info.timestamps_synthesized,
        "n_frames": scan.n_frames,
        "decode_errors": scan.decode_errors,
        "mode": scan.mode,
        "mode_reason": scan.mode_reason,
        "gop_cv": scan.gop.cv,
        "iframes_s": [round(t, 6) for t in info.keyframe_s] if scan.gop.n_iframes <= 1000 else None,
        "content_cuts": scan.cut_frames,
        "segments": [
            {
                "segment_idx": s.segment_idx,
                "start_s": round(s.start_s, 6),
                "end_s": round(s.end_s, 6),
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "boundary_source": s.boundary_source,
                "iframe_s": s.iframe_s,
            }
            for s in scan.segments
        ],
        "n_sampled_frames": sum(f.is_sample for f in scan.frames),
        "sampled_s": [round(f.t_s, 6) for f in scan.frames if f.is_sample] if len(scan.frames) <= 10_000 else None,
    }
