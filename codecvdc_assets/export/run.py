"""`export()`: select the videos, write each format into OUT, write the card and the manifest."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from codecvdc_assets.export import card
from codecvdc_assets.export.card import Provenance
from codecvdc_assets.export.hf import Progress, write_hf
from codecvdc_assets.export.options import ExportError, ExportOptions
from codecvdc_assets.export.outdir import FormatFiles, check_out, locked, write_manifest
from codecvdc_assets.export.quality import card_lines, flagged_rows
from codecvdc_assets.export.quality import counts as quality_counts
from codecvdc_assets.export.source import Source, select_videos
from codecvdc_assets.export.swift import write_swift
from codecvdc_assets.export.webdataset import write_webdataset
from codecvdc_assets.quality.settings import QualitySettings

# DuckDB's buffer pool would otherwise grow to most of the RAM while the shards' scans run; past this it
# evicts and spills, so the export's memory stays flat however large the lake is.
DUCKDB_MEMORY = "256MB"
DUCKDB_THREADS = 1


@dataclass
class ExportResult:
    out: Path
    videos: int
    splits: dict[str, int]
    excluded: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)  # config or file -> rows written
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> flag -> rows (quality gates)
    files: int = 0
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _quiet(what: str, done: int, total: int, rows: int) -> None:
    pass


def export(
    con: duckdb.DuckDBPyConnection,
    out: str | Path,
    options: ExportOptions,
    provenance: Provenance,
    frame_path: Callable[[str], str],
    read_frame: Callable[[str], bytes],
    residual_prompt: str = "",
    window: tuple[int, int] = (8, 1),
    progress: Progress = _quiet,
    quality: QualitySettings | None = None,
) -> ExportResult:
    """Export the lake behind `con` (a catalog connection) into `out`; ExportError before anything is
    written when an option, the selection or the folder is wrong."""
    started = time.perf_counter()
    out = Path(out).absolute()
    previous = check_out(out)
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    con.execute("SET preserve_insertion_order = false")  # rows are sorted per shard; order kept costs memory
    con.execute("SET enable_progress_bar = false")  # the export prints its own progress
    # One DuckDB thread: each scan thread holds its own row groups' decoded strings and result buffers
    # (full-size lake: ~145 MB more peak RSS with two threads); the pyarrow side, not DuckDB, sets the pace.
    con.execute(f"SET threads = {DUCKDB_THREADS}")
    selection = select_videos(con, options, provenance.code_versions.get("videos", ""))
    if selection.videos.empty:
        why = "; ".join(f"{reason}: {n}" for reason, n in selection.excluded.items()) or "no videos probed yet"
        raise ExportError(f"nothing to export: no video qualifies ({why})")
    quality = quality or QualitySettings()
    selection.flagged = flagged_rows(con, list(selection.videos["video_id"]), options.configs, quality)
    selection.include_flagged = options.include_flagged or not quality.export_exclude_flagged
    source = Source(con, selection)
    configs = options.configs
    target = options.shard_mb * 1e6
    counts = selection.videos["split"].value_counts()
    result = ExportResult(
        out,
        len(selection.videos),
        {s: int(counts[s]) for s in selection.split_names()},
        selection.excluded,
        flagged=quality_counts(selection.flagged),
    )
    done: dict[str, dict] = {}
    with locked(out):
        for fmt in options.formats:
            old = (previous.get("formats") or {}).get(fmt, {}).get("files", {})
            files = FormatFiles(out, fmt, old)
            frames = read_frame if options.include_frames else None
            if fmt == "hf":
                layout = write_hf(source, ["videos", *configs], files, target, progress)
                stats = card.statistics(out, layout)
                evidence = source.evidence_by_rule()
                text = card.render(layout, stats, selection, evidence, options, provenance, list(options.formats))
                text += "\n".join(["", *card_lines(selection.flagged, not selection.include_flagged, quality)])
                with files.write("README.md", "w") as fh:
                    fh.write(text)
                result.rows.update({c: sum(by_split.values()) for c, by_split in stats["rows"].items()})
            elif fmt == "webdataset":
                write_webdataset(source, configs, files, target, frames, progress)
            else:
                counts_by_file = write_swift(
                    source, configs, files, target, frame_path, frames, residual_prompt, window, progress
                )
                result.rows.update(counts_by_file)
            result.removed += files.remove_stale()
            result.changed += files.changed
            result.files += len(files.files)
            done[fmt] = {
                "files": files.files,
                "options": options.describe(),
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "project_version": provenance.project_version,
            }
        write_manifest(out, previous, done)
    result.seconds = time.perf_counter() - started
    return result
