"""`codecvdc report`: the self-contained HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
)


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write the self-contained HTML report")
    p.add_argument("-o", "--output", metavar="FILE", help="default: $CODECVDC_HOME/report.html")
    p.add_argument("--video", metavar="ID", help="the video of the timeline (default: the one with most residuals)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from codecvdc_assets.defs.resources import open_lake
    from codecvdc_assets.evaluation.report import render
    from codecvdc_assets.quality.report import quality_html, summary_sql
    from codecvdc_assets.storage.catalog import connect

    home = cli_home()
    con = connect(home, lake=open_lake(home))
    try:
        scores = con.execute("select * from vidcapqa_scores").fetchdf()
        metrics = con.execute("select * from caption_metrics").fetchdf()
        video_id = (
            args.video
            or (
                con.execute(
                    "select video_id from residuals group by video_id order by count(*) desc, video_id limit 1"
                ).fetchone()
                or [None]
            )[0]
        )
        video = None
        if video_id:
            tables = [
                con.execute(f"select * from {t} where video_id = ?", [video_id]).fetchdf()
                for t in ("segments", "anchors", "residuals")
            ]
            if tables[0].empty:
                raise CliError(f"video {video_id!r} has no segments")
            video = (video_id, *tables)
        sections = _strategy_sections(con, home, video_id, scores)
        sections.append(("Caption quality", quality_html(con.execute(summary_sql()).fetchdf())))
    finally:
        con.close()
    out = Path(args.output) if args.output else home / "report.html"
    out.write_text(render(scores, video, str(home), metrics, sections))
    print(f"report -> {out}")
    return 0


def _strategy_sections(con, home: Path, video_id: str | None, scores) -> list[tuple[str, str]]:
    """The paired comparisons and the per-video panel (evaluation/report_strategies.py)."""
    from codecvdc_assets.defs.resources import VidCapQAResource, lake_resource
    from codecvdc_assets.evaluation import report_strategies as rs
    from codecvdc_assets.evaluation.external import captions_for, load_captions
    from codecvdc_assets.settings import load_profile

    sections = []
    if not scores.empty:
        pairs = con.execute("select * from vidcapqa_pairs").fetchdf()
        sections.append(
            ("VidCapQA: paired comparisons (McNemar's exact test, paired bootstrap 95% CI)", rs.pairs_html(pairs))
        )
    if video_id:
        tables = {t: con.execute(f"select * from {t} where video_id = ?", [video_id]).fetchdf() for t in rs.TABLES}
        outside: dict[str, str] = {}
        profile = load_profile(None)
        for name, path in VidCapQAResource(**(profile.get("vidcapqa") or {})).external_paths():
            try:
                outside.update(captions_for(load_captions(path, name), video_id))
            except ValueError as exc:
                print(f"codecvdc: warning: {exc}", file=sys.stderr)
        read = lake_resource(profile, home).frame_store().read
        sections.append((f"Strategies side by side: {video_id}", rs.render_panel(video_id, tables, read, outside)))
    return sections
