"""The dataset card, ``OUT/README.md``: YAML front matter declaring the configs and their splits (what
`datasets.load_dataset(OUT, config)` reads), the statistics the CodecCap paper reports computed from the
exported Parquet files themselves, which videos were left out and why, and the provenance of each level."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from codecvdc_assets.export.options import ExportOptions
from codecvdc_assets.export.source import CONFIGS, Selection


@dataclass
class Provenance:
    """What the caller knows about the code that made the rows (current asset code versions, prompts)."""

    project_version: str
    code_versions: dict[str, str] = field(default_factory=dict)  # asset -> current code version
    prompts: dict[str, str] = field(default_factory=dict)  # asset -> "prompts/<task>.md <hash>"


def _read(files: list[Path]) -> str:
    return "read_parquet([" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "])"


def statistics(out: Path, layout: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """Table 1 / section 5 figures over the exported rows (all splits)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    files = {c: [out / p for paths in splits.values() for p in paths] for c, splits in layout.items()}

    def one(config: str, expr: str) -> Any:
        return con.execute(f"SELECT {expr} FROM {_read(files[config])}").fetchone()[0] if files.get(config) else None

    stats: dict[str, Any] = {
        "videos": one("videos", "count(*)"),
        "hours": one("videos", "sum(duration_s) / 3600"),
        "median_segments_per_video": one("videos", "median(n_segments)"),
        "mean_words_per_anchor": one("anchors", "avg(n_words)"),
        "residuals_per_video": None,
        "words_per_residual": one("residuals", "avg(n_words)"),
        "none_residual_share": one("residuals", "avg(CAST(change_type = 'none' AS DOUBLE))"),
        "mean_words_per_scene_narrative": one("scene_narratives", "avg(n_words)"),
        "mean_words_per_video_narrative": one("video_narratives", "avg(n_words)"),
    }
    if files.get("residuals") and stats["videos"]:
        stats["residuals_per_video"] = one("residuals", "count(*)") / stats["videos"]
    stats["rows"] = {
        c: {
            s: con.execute(f"SELECT count(*) FROM {_read([out / p for p in ps])}").fetchone()[0]
            for s, ps in splits.items()
        }
        for c, splits in layout.items()
    }
    versions = {
        c: con.execute(
            f"SELECT coalesce(model, '(none)'), version, count(*) FROM {_read(fs)} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        for c, fs in files.items()
        if fs
    }
    stats["models_versions"] = versions
    con.close()
    return stats


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(
    layout: dict[str, dict[str, list[str]]],
    stats: dict[str, Any],
    selection: Selection,
    evidence: list[tuple[str, int, int]],
    options: ExportOptions,
    provenance: Provenance,
    formats: list[str],
) -> str:
    configs = [
        {
            "config_name": config,
            "data_files": [{"split": split, "path": f"{config}/{split}-*.parquet"} for split in splits],
        }
        for config, splits in layout.items()
    ]
    front = {
        "pretty_name": "CodecVDC-style dense video captions",
        "language": ["en"],
        "task_categories": ["video-text-to-text"],
        "tags": ["video", "dense-video-captioning", "codeccap"],
        "configs": configs,
    }
    counts = selection.videos["split"].value_counts()
    exported = ", ".join(f"{s} {int(counts[s]):,}" for s in selection.split_names())
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        "# CodecVDC-style dense video captions",
        "",
        "Four-level supervision per video (CodecCap): a keyframe **anchor** caption per scene, a **residual** "
        "caption per second (what changed between adjacent 1 fps frames, with change type, subject, 9-zone "
        "positions and direction), a **scene narrative** (anchor + evidence accepted by rules in code) and a "
        "**video narrative**. Exported by `codecvdc export` from a CodecVDC lake.",
        "",
        "Every row carries `video_id`, the source file's `sha256`, times in seconds, the `model` that wrote it "
        "and `version`, the code version of the asset that wrote it.",
        "",
        "## Configs",
        "",
        "| config | rows | contents |",
        "|---|---|---|",
    ]
    for config in layout:
        per_split = ", ".join(f"{s} {c:,}" for s, c in sorted(stats["rows"].get(config, {}).items()))
        lines.append(f"| `{config}` | {per_split} | {CONFIGS[config].description} |")
    lines += [
        "",
        "```python",
        "import datasets",
        'residuals = datasets.load_dataset("PATH/TO/THIS/FOLDER", "residuals")  # or anchors, scene_narratives, ...',
        "```",
        "",
        "## Statistics",
        "",
        "Computed from the exported rows (all splits), as CodecVDC-100K reports them (CodecCap Table 1, section 5).",
        "",
        "| statistic | value |",
        "|---|---|",
        f"| videos | {_fmt(stats['videos'])} |",
        f"| hours | {_fmt(stats['hours'], 3)} |",
        f"| median segments per video | {_fmt(stats['median_segments_per_video'], 1)} |",
        f"| mean words per anchor | {_fmt(stats['mean_words_per_anchor'], 1)} |",
        f"| residuals per video | {_fmt(stats['residuals_per_video'], 1)} |",
        f"| words per residual | {_fmt(stats['words_per_residual'], 1)} |",
        f"| share of `none` residuals | {_fmt(stats['none_residual_share'], 3)} |",
        f"| mean words per scene narrative | {_fmt(stats['mean_words_per_scene_narrative'], 1)} |",
        f"| mean words per video narrative | {_fmt(stats['mean_words_per_video_narrative'], 1)} |",
        "",
        "Evidence of the exported videos by acceptance rule (CodecCap 3.5):",
        "",
        "| rule | accepted | rejected |",
        "|---|---|---|",
        *(f"| {rule} | {acc:,} | {rej:,} |" for rule, acc, rej in evidence),
        *(["| (no evidence) | 0 | 0 |"] if not evidence else []),
        "",
        "## Splits",
        "",
        "Deterministic by the source file's content (sha256): contents are ordered by their hash and cut into "
        "runs of the requested shares, so one content is always in one split and each split is within one "
        f"video of its share. Requested: {', '.join(f'{k}={v:g}' for k, v in options.splits.items())}; "
        f"exported: {exported}.",
        "",
        "## Videos left out",
        "",
    ]
    if selection.excluded:
        lines += [f"- {reason}: {count:,}" for reason, count in selection.excluded.items()]
        if selection.failed_by_asset:
            lines.append(
                "- failing now, by asset: "
                + ", ".join(f"{a} {c:,}" for a, c in sorted(selection.failed_by_asset.items()))
            )
    else:
        lines.append("None: every video that matched the filters is exported.")
    lines += [
        "",
        "## Provenance",
        "",
        "| config | model | version (rows) | current code version | prompt |",
        "|---|---|---|---|---|",
    ]
    for config, rows in stats["models_versions"].items():
        asset = CONFIGS[config].table
        for model, version, count in rows:
            current = provenance.code_versions.get(asset, "")
            mark = "" if not current or current == version else " (stale)"
            lines.append(
                f"| `{config}` | {model} | `{version}` ({count:,} rows){mark} | `{current}` | "
                f"{provenance.prompts.get(asset, '(none)')} |"
            )
    lines += [
        "",
        f"- exported: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by codecvdc "
        f"{provenance.project_version}, formats {', '.join(formats)}",
        f"- options: levels {', '.join(options.levels)}; frames {'' if options.include_frames else 'not '}included"
        + (f"; videos {', '.join(options.videos)}" if options.videos else "")
        + (f"; min duration {options.min_duration_s:g} s" if options.min_duration_s is not None else "")
        + (f"; max duration {options.max_duration_s:g} s" if options.max_duration_s is not None else ""),
        "",
    ]
    return "\n".join(lines)
