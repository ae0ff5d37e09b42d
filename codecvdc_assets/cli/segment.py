"""`codecvdc segment`: segmentation alone, no Dagster."""

from __future__ import annotations

import argparse
import json
import os

from codecvdc_assets.cli.common import (
    CliError,
    format_table,
)


def add_parser(sub) -> None:
    p = sub.add_parser("segment", help="segmentation alone (no Dagster): mode, CV, segments")
    p.add_argument("video", metavar="VIDEO", help="a video file")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_segment)


def cmd_segment(args: argparse.Namespace) -> int:
    from codecvdc_assets.settings import load_profile
    from codecvdc_assets.video.errors import VideoError
    from codecvdc_assets.video.ids import video_id_for
    from codecvdc_assets.video.probe import probe
    from codecvdc_assets.video.rows import segments_json
    from codecvdc_assets.video.scan import scan_video
    from codecvdc_assets.video.segmentation import SegmentParams
    from codecvdc_assets.video.sinks import HashOnlySink

    try:
        params = SegmentParams(**(load_profile().get("segmentation") or {}))
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CliError(f"profile: {exc}") from exc
    try:
        info = probe(args.video, with_sha256=False)
        scan = scan_video(info, params, HashOnlySink())
    except VideoError as exc:
        raise CliError(str(exc)) from exc
    doc = segments_json(os.path.abspath(args.video), video_id_for(args.video), info, scan)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{doc['path']}: {doc['duration_s']:.2f} s, {doc['n_frames']} frames")
    print(f"mode {doc['mode']} ({doc['mode_reason']})")
    rows = [
        [
            s["segment_idx"],
            f"{s['start_s']:.3f}",
            f"{s['end_s']:.3f}",
            s["start_frame"],
            s["boundary_source"],
            "" if s["iframe_s"] is None else f"{s['iframe_s']:.3f}",
        ]
        for s in doc["segments"]
    ]
    print(format_table(["segment", "start_s", "end_s", "start_frame", "source", "iframe_s"], rows))
    return 0
