"""Per-video samples: every exported level of a group of videos, grouped by video (webdataset, swift)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

_DROP = ("video_id", "sha256")


@dataclass
class VideoSample:
    video: dict[str, Any]  # the `videos` config row
    levels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # config -> rows in key order


def _records(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    cols = [c for c in frame.columns if c not in _DROP]
    for video_id, group in frame.groupby("video_id", sort=False):
        out[str(video_id)] = [_clean(r) for r in group[cols].to_dict("records")]
    return out


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON values (numpy scalars to Python, NaN to None)."""
    clean = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and value != value:
            value = None
        clean[key] = value
    return clean


def samples(tables: dict[str, pa.Table], configs: list[str]) -> Iterator[VideoSample]:
    """One sample per video of a shard (`tables`: the shard's rows per config, `videos` included), in id
    order, with the rows of each exported config."""
    by_config = {c: _records(tables[c].to_pandas()) for c in configs}
    for row in tables["videos"].to_pandas().to_dict("records"):
        sample = VideoSample(_clean(row))
        for config in configs:
            sample.levels[config] = by_config[config].get(row["video_id"], [])
        yield sample


def level_json(sample: VideoSample, split: str) -> dict[str, Any]:
    """The webdataset JSON of a video: its metadata and all exported levels with timestamps."""
    doc: dict[str, Any] = {"split": split, **sample.video}
    for config, rows in sample.levels.items():
        if config == "anchors":
            rows = [{**r, "entities": json.loads(r["entities"])} for r in rows]
        if config == "video_narratives":
            doc["video_narrative"] = rows[0] if rows else None
        else:
            doc[config] = rows
    return doc
