"""ms-swift's standard JSONL (`messages`, `images`, `videos`), two tasks, one file per split each:

- ``swift/residual_windows.jsonl`` (train; ``residual_windows-val.jsonl`` ...): a window of frames -> the
  residual JSON of that window, the request the residuals asset made (the residual prompt as the system
  turn, one ``<image>`` per frame) answered by the exported rows: the paper's "residual subset" for SFT;
- ``swift/dense_captions.jsonl``: a video (one ``<video>``) -> its four-level caption text.

Paths are absolute: the frame store's JPEGs and the registered video files, or, with frames included, the
copies under ``OUT/swift/frames/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from codecvdc_assets.captioning.windows import windows
from codecvdc_assets.export.hf import Progress
from codecvdc_assets.export.outdir import FormatFiles
from codecvdc_assets.export.plan import shards
from codecvdc_assets.export.samples import VideoSample, samples
from codecvdc_assets.export.source import Source
from codecvdc_assets.export.spill import shard_tables, spill

DENSE_PROMPT = (
    "Describe this video densely: first the whole video, then each scene with its start and end in seconds: "
    "what it shows, what changes second by second, and what happens in it."
)
RESIDUAL_KEYS = ("delta_caption", "change_type", "subject", "zone_from", "zone_to", "direction")


def file_name(task: str, split: str) -> str:
    return f"swift/{task}.jsonl" if split == "train" else f"swift/{task}-{split}.jsonl"


def residual_windows(
    sample: VideoSample, frames: pd.DataFrame, prompt: str, size: int, overlap: int, image: Callable[[str], str]
) -> list[dict[str, Any]]:
    """One SFT row per residual window of the video whose pairs all have exported residuals."""
    by_pair = {(r["segment_idx"], r["pair_idx"]): r for r in sample.levels.get("residuals", [])}
    rows = []
    for segment_idx, seg in frames.groupby("segment_idx", sort=True):
        times, shas = list(seg["t_s"]), list(seg["frame_sha256"])
        for window in windows(len(seg), size, overlap):
            items = [by_pair.get((int(segment_idx), i)) for i, _ in window.pairs]
            if not items or any(item is None for item in items):
                continue
            info = {
                "segment_idx": int(segment_idx),
                "first_frame_index": window.start,
                "frame_times_s": [round(float(t), 3) for t in times[window.start : window.stop]],
                "pairs": [list(p) for p in window.pairs],
            }
            answer = {
                "residuals": [
                    {"frame_pair": [i, j], **{k: item[k] for k in RESIDUAL_KEYS}}
                    for (i, j), item in zip(window.pairs, items, strict=True)
                ]
            }
            n = window.stop - window.start
            user = (
                f"Frames {window.start} to {window.stop - 1} of scene {int(segment_idx)}.\n"
                f"```json\n{json.dumps(info)}\n```\n" + "<image>" * n
            )
            rows.append(
                {
                    "messages": [
                        {"role": "system", "content": prompt},
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
                    ],
                    "images": [image(sha) for sha in shas[window.start : window.stop]],
                    "video_id": sample.video["video_id"],
                    "sha256": sample.video["sha256"],
                    "segment_idx": int(segment_idx),
                    "t_start_s": float(times[window.start]),
                    "t_end_s": float(times[window.stop - 1]),
                    "model": items[0]["model"],
                    "version": items[0]["version"],
                }
            )
    return rows


def dense_text(sample: VideoSample) -> str:
    """The four levels as one text: the video narrative, then per scene its anchor, changes and narrative."""
    v = sample.video
    parts = []
    video = sample.levels.get("video_narratives") or []
    if video:
        parts.append(f"Video ({v['duration_s']:.1f} s, {v['n_segments']} scenes): {video[0]['narrative']}")
    anchors = {r["segment_idx"]: r for r in sample.levels.get("anchors", [])}
    scenes = {r["segment_idx"]: r for r in sample.levels.get("scene_narratives", [])}
    changes: dict[int, list[dict]] = {}
    for r in sample.levels.get("residuals", []):
        if r["change_type"] != "none":
            changes.setdefault(r["segment_idx"], []).append(r)
    for k in sorted(set(anchors) | set(scenes) | set(changes)):
        scene = scenes.get(k)
        span = f" [{scene['start_s']:.1f}-{scene['end_s']:.1f} s]" if scene else ""
        lines = [f"Scene {k + 1}{span}"]
        if k in anchors:
            lines.append(f"Anchor ({anchors[k]['t_s']:.1f} s): {anchors[k]['caption']}")
        if k in changes:
            lines.append("Changes:")
            lines += [f"- {r['t_prev_s']:.1f}-{r['t_s']:.1f} s: {r['delta_caption']}" for r in changes[k]]
        if scene:
            lines.append(f"Narrative: {scene['narrative']}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def dense_row(sample: VideoSample, split: str, video_path: str) -> dict[str, Any]:
    top = next(
        (
            sample.levels[c][0]
            for c in ("video_narratives", "scene_narratives", "anchors", "residuals")
            if sample.levels.get(c)
        ),
        {"model": None, "version": None},
    )
    return {
        "messages": [
            {"role": "user", "content": "<video>" + DENSE_PROMPT},
            {"role": "assistant", "content": dense_text(sample)},
        ],
        "videos": [video_path],
        "video_id": sample.video["video_id"],
        "sha256": sample.video["sha256"],
        "split": split,
        "t_start_s": 0.0,
        "t_end_s": float(sample.video["duration_s"]),
        "model": top["model"],
        "version": top["version"],
        "level_versions": {c: rows[0]["version"] for c, rows in sample.levels.items() if rows},
    }


def write_swift(
    source: Source,
    configs: list[str],
    files: FormatFiles,
    target_bytes: float,
    frame_path: Callable[[str], str],
    read_frame: Callable[[str], bytes] | None,
    residual_prompt: str,
    window: tuple[int, int],
    progress: Progress,
) -> dict[str, dict[str, int]]:
    """Write both tasks; returns {file: rows}. `read_frame` given: frames are copied into OUT."""
    out: Path = files.out

    def image(sha: str) -> str:
        if read_frame is None:
            return frame_path(sha)
        rel = f"swift/frames/{sha[:2]}/{sha}.jpg"
        files.copy_file(rel, read_frame(sha))
        return str((out / rel).resolve())

    videos = source.selection.videos
    paths = dict(zip(videos["video_id"], videos["path"], strict=True))
    estimate = {c: source.estimate(c) for c in configs}
    counts: dict[str, int] = {}
    plan = [
        (split, shard)
        for split in source.selection.split_names()
        for shard in shards(videos, split, sum(e.get(split, (0, 0.0))[1] for e in estimate.values()), target_bytes)
    ]
    handles: dict[str, Any] = {}
    wanted = ["videos", *configs, *(["frames"] if "residuals" in configs else [])]
    spilled = {c: spill(source, c, [s for _, s in plan], files.temp_dir(), progress) for c in wanted}
    with ExitStack() as stack:
        for k, (split, _) in enumerate(plan, 1):
            tables = shard_tables(source, spilled, k - 1)
            frames = tables["frames"].to_pandas() if "frames" in tables else None
            for sample in samples(tables, configs):
                lines = {
                    file_name("dense_captions", split): [dense_row(sample, split, paths[sample.video["video_id"]])]
                }
                if frames is not None:
                    mine = frames[frames["video_id"] == sample.video["video_id"]]
                    rows = residual_windows(sample, mine, residual_prompt, *window, image)
                    lines[file_name("residual_windows", split)] = [{**r, "split": split} for r in rows]
                for rel, rows in lines.items():
                    if rel not in handles:
                        handles[rel] = stack.enter_context(files.write(rel, "w"))
                    for row in rows:
                        handles[rel].write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts[rel] = counts.get(rel, 0) + len(rows)
            progress("swift", k, len(plan), sum(counts.values()))
    return counts
