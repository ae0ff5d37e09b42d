"""WebDataset tar shards, ``OUT/webdataset/<split>/shard-000000.tar``: one sample per video.

A sample is ``<video_id>.json`` (metadata and every exported level with timestamps) and, with frames,
``<video_id>.anchor_<segment>.jpg`` for each anchor keyframe; the key has no dot, so webdataset's
"extension after the first dot" rule gives ``json`` and ``anchor_<k>.jpg``. Members are in key order
with fixed owners, modes and mtimes, so the same samples make the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable

from codecvdc_assets.export.hf import Progress
from codecvdc_assets.export.outdir import FormatFiles
from codecvdc_assets.export.plan import shards
from codecvdc_assets.export.samples import level_json, samples
from codecvdc_assets.export.source import Source
from codecvdc_assets.export.spill import shard_tables, spill

FRAME_BYTES = 150_000  # per anchor JPEG, in the shard-size estimate


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_webdataset(
    source: Source,
    configs: list[str],
    files: FormatFiles,
    target_bytes: float,
    read_frame: Callable[[str], bytes] | None,
    progress: Progress,
) -> dict[str, list[str]]:
    """Write the shards; `read_frame(sha256)` given: the anchor JPEGs too. Returns {split: [paths]}."""
    estimates = {c: source.estimate(c) for c in ["videos", *configs]}
    videos = source.selection.videos
    plan = []
    for split in source.selection.split_names():
        size = sum(e.get(split, (0, 0.0))[1] for e in estimates.values())
        if read_frame and "anchors" in estimates:
            size += estimates["anchors"].get(split, (0, 0.0))[0] * FRAME_BYTES
        plan += list(shards(videos, split, size, target_bytes))
    layout: dict[str, list[str]] = {}
    done = 0
    spilled = {c: spill(source, c, plan, files.temp_dir(), progress) for c in ["videos", *configs]}
    for k, shard in enumerate(plan, 1):
        tables = shard_tables(source, spilled, k - 1)
        rel = f"webdataset/{shard.split}/shard-{shard.index:06d}.tar"
        with files.write(rel) as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in samples(tables, configs):
                key = sample.video["video_id"]
                doc = level_json(sample, shard.split)
                if read_frame:
                    for anchor in doc.get("anchors", []):
                        anchor["frame"] = f"{key}.anchor_{anchor['segment_idx']}.jpg"
                _member(tar, f"{key}.json", json.dumps(doc, ensure_ascii=False).encode())
                if read_frame:
                    for anchor in doc.get("anchors", []):
                        _member(tar, anchor["frame"], read_frame(anchor["frame_sha256"]))
                done += 1
        layout.setdefault(shard.split, []).append(rel)
        progress("webdataset", k, len(plan), done)
    return layout
