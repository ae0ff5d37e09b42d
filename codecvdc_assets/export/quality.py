"""Caption quality in a release: the flagged rows of the exported levels (the `caption_quality` view, plus
duplicates across the exported videos' narratives), left out by default and counted in the card."""

from __future__ import annotations

import duckdb
import pandas as pd

from codecvdc_assets.quality.settings import FLAGS, QualitySettings
from codecvdc_assets.quality.table import CAPTION_ASSETS, dataset_duplicates, empty_quality


def row_sql(table: str, alias: str = "t") -> str:
    """The SQL of a row's `row` key (quality/table.py row_key) over `alias`."""
    keys = CAPTION_ASSETS[table].keys
    if not keys:
        return "''"
    return " || ' ' || ".join(f"'{k}=' || CAST({alias}.{k} AS VARCHAR)" for k in keys)


def flagged_rows(
    con: duckdb.DuckDBPyConnection, videos: list[str], configs: list[str], settings: QualitySettings
) -> pd.DataFrame:
    """caption_quality rows (video_id, asset, row, flag, ...) of the exported videos and levels."""
    tables = [c for c in configs if c in CAPTION_ASSETS]
    if not tables or not videos:
        return empty_quality()
    con.register("export_quality_videos", pd.DataFrame({"video_id": videos}))
    try:
        names = ", ".join(f"'{t}'" for t in tables)
        found = con.execute(
            f"SELECT q.* FROM caption_quality q JOIN export_quality_videos v USING (video_id) "
            f"WHERE q.asset IN ({names})"
        ).fetchdf()
        parts = [found]
        for table in tables:
            asset = CAPTION_ASSETS[table]
            if asset.duplicate:
                keys = ", ".join(f"t.{k}" for k in asset.keys)
                rows = con.execute(
                    f"SELECT t.video_id, {keys + ', ' if keys else ''}t.{asset.text} FROM {table} t "
                    "JOIN export_quality_videos v USING (video_id)"
                ).fetchdf()
                parts.append(dataset_duplicates(asset, rows, settings))
    finally:
        con.unregister("export_quality_videos")
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_quality()


def counts(flagged: pd.DataFrame) -> dict[str, dict[str, int]]:
    """config -> flag -> flagged rows, flags in FLAGS order, plus "rows": rows with any flag."""
    out: dict[str, dict[str, int]] = {}
    for table, part in flagged.groupby("asset", sort=True):
        per_flag = part.groupby("flag")[["video_id", "row"]].apply(lambda g: len(g.drop_duplicates())).to_dict()
        out[str(table)] = {f: int(per_flag[f]) for f in FLAGS if f in per_flag}
        out[str(table)]["rows"] = int(len(part[["video_id", "row"]].drop_duplicates()))
    return out


def card_lines(flagged: pd.DataFrame, excluded: bool, settings: QualitySettings) -> list[str]:
    """The card's "Caption quality" section."""
    lines = ["## Caption quality", ""]
    if flagged.empty:
        return [*lines, 'No exported caption was flagged by the quality gates (README "Caption quality gates").', ""]
    what = "left out of this release" if excluded else "kept in this release (--include-flagged)"
    lines += [
        'Captions the quality gates flagged after every re-ask (README "Caption quality gates": each flag\'s rule '
        f"and threshold) are {what}; a row with several flags counts once per flag.",
        "",
        "| config | rows flagged | " + " | ".join(FLAGS) + " |",
        "|---|---|" + "---|" * len(FLAGS),
    ]
    for table, per_flag in counts(flagged).items():
        lines.append(
            f"| `{table}` | {per_flag['rows']:,} | " + " | ".join(f"{per_flag.get(f, 0):,}" for f in FLAGS) + " |"
        )
    lines += [
        "",
        f"Thresholds: repetition rate > {settings.repetition_max_rate:g} or compression > "
        f"{settings.compression_max_ratio:g}; prompt echo > {settings.echo_max_share:g}; foreign letters > "
        f"{settings.language_max_foreign_letters:g}; duplicate Jaccard >= {settings.duplicate_threshold:g}; collapse "
        f"> {settings.collapse_max_share:g}.",
        "",
    ]
    return lines
