"""Caption metrics over the lake's caption sources: the dense-captioning protocols and LongCaption-Bench.

Shared by `codecvdc evaluate dense|long --from-lake` and the dataset-level asset `caption_metrics`; rows have
the `caption_metrics` table's columns (source, protocol, metric, threshold, value, ci_low, ci_high, n, subset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from codecvdc_assets.evaluation.dense.coco import CocoSession
from codecvdc_assets.evaluation.dense.inputs import DenseInputError, load_references
from codecvdc_assets.evaluation.dense.lake_predictions import DENSE_SOURCES, lake_predictions, match_videos
from codecvdc_assets.evaluation.dense.protocols import (
    ACTIVITYNET_TIOUS,
    MAX_PROPOSALS,
    SOCCERNET_WINDOW,
    evaluate_activitynet,
    evaluate_soccernet,
)
from codecvdc_assets.evaluation.dense.results import result_rows
from codecvdc_assets.evaluation.longcaption_bench import Item, references_from_dense, score_items, summarize
from codecvdc_assets.evaluation.resampling import RESAMPLES
from codecvdc_assets.evaluation.sources import SOURCE_ASSETS, caption_sources
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.storage.jsonl import jsonl_rows
from codecvdc_assets.storage.lake import Lake

COLUMNS = ["source", "protocol", "metric", "threshold", "value", "ci_low", "ci_high", "n", "subset"]
LONG_SOURCES = list(SOURCE_ASSETS)  # every VidCapQA caption source


@dataclass(frozen=True)
class MetricsSettings:
    dense_references: str = ""
    dense_sources: Sequence[str] = tuple(DENSE_SOURCES)
    tious: Sequence[float] = ACTIVITYNET_TIOUS
    max_proposals: int = MAX_PROPOSALS
    soccernet_references: str = ""
    window_s: float = SOCCERNET_WINDOW
    tolerance_s: float | None = None
    long_references: str = ""
    long_sources: Sequence[str] = ()  # empty: every caption source a video has
    seed: int = 0
    resamples: int = RESAMPLES


def _lake_reader(lake: Lake):
    cache: dict[str, pd.DataFrame] = {}

    def read_all(table: str) -> pd.DataFrame:
        if table not in cache:
            cache[table] = lake.read_all(table)
        return cache[table]

    return read_all


def dense_from_lake(
    lake: Lake,
    references_path: str,
    sources: Sequence[str],
    session: CocoSession,
    tious: Sequence[float] = ACTIVITYNET_TIOUS,
    max_proposals: int = MAX_PROPOSALS,
    single: bool = False,
    window_s: float = SOCCERNET_WINDOW,
    tolerance_s: float | None = None,
) -> list[tuple[str, Any, dict[str, str]]]:
    """[(source, DenseResult, reference id -> our id)] for each source, against one reference file."""
    references, _ = load_references(references_path, single=single)
    read_all = _lake_reader(lake)
    out = []
    for source in sources:
        predictions, matches = lake_predictions(source, read_all, references, single=single)
        if single:
            result = evaluate_soccernet(references, predictions, session, window_s, tolerance_s)
        else:
            result = evaluate_activitynet(references, predictions, session, tious, max_proposals)
        out.append((source, result, matches))
    return out


def load_long_references(path: str) -> list[dict[str, Any]]:
    """JSONL rows {video_id, reference[, duration]}, or a dense-captioning reference file (ActivityNet
    layout: each video's sentences joined)."""
    if not str(path).endswith(".jsonl"):
        videos, durations = load_references(path)
        return references_from_dense(videos, durations)
    rows = []
    for n, row in jsonl_rows(path, DenseInputError):
        if not isinstance(row.get("reference"), str) or "video_id" not in row:
            raise DenseInputError(f"{path}:{n}: needs video_id and a string reference")
        if not row["reference"].split():
            raise DenseInputError(f"{path}:{n}: the reference of {row['video_id']} has no words")
        rows.append({"video_id": str(row["video_id"]), "reference": row["reference"], "duration": row.get("duration")})
    if not rows:
        raise DenseInputError(f"{path}: no references")
    return rows


def long_items_from_lake(lake: Lake, references: list[dict[str, Any]], sources: Sequence[str] = ()) -> list[Item]:
    """One item per (source, reference video matched to ours that has that source); no sources: all."""
    videos = lake.read_all("videos")
    durations = dict(zip(videos["video_id"], videos["duration_s"], strict=True)) if len(videos) else {}
    captioned = {v for t in ("video_narratives", "direct_captions") for v in lake.read_all(t)["video_id"]}
    matches = match_videos([r["video_id"] for r in references], set(durations) | captioned)
    items = []
    for ref in references:
        ours = matches.get(ref["video_id"])
        if ours is None:
            continue
        texts = caption_sources(lambda t, v=ours: lake.read(t, v) if lake.exists(t, v) else None)
        duration = ref.get("duration") if ref.get("duration") is not None else durations.get(ours)
        for source in sources or sorted(texts):
            if source in texts:
                items.append(Item(source, ref["video_id"], texts[source], ref["reference"], duration, ours))
    return items


def compute_caption_metrics(
    lake: Lake, settings: MetricsSettings, client: ModelClient | None, prompts: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The `caption_metrics` table and a summary (matched videos per protocol, judged items)."""
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    with CocoSession() as session:
        if settings.dense_references:
            for source, result, matches in dense_from_lake(
                lake, settings.dense_references, settings.dense_sources, session, settings.tious, settings.max_proposals
            ):
                rows += result_rows(result, source, settings.seed, settings.resamples)
                summary[f"activitynet {source}"] = {"videos": len(result.videos), "matched": len(matches)}
        if settings.soccernet_references:
            for source, result, matches in dense_from_lake(
                lake,
                settings.soccernet_references,
                settings.dense_sources,
                session,
                single=True,
                window_s=settings.window_s,
                tolerance_s=settings.tolerance_s,
            ):
                rows += result_rows(result, source, settings.seed, settings.resamples)
                summary[f"soccernet {source}"] = {"videos": len(result.videos), "matched": len(matches)}
        summary["java_starts"] = session.java_starts
    if settings.long_references:
        if client is None:
            raise ValueError("LongCaption-Bench scores need a text model")
        items = long_items_from_lake(lake, load_long_references(settings.long_references), settings.long_sources)
        judged = score_items(items, client, prompts)
        rows += summarize(judged, settings.seed, settings.resamples)
        summary["longcaption"] = {"items": len(items), "judge_failures": sum(bool(r["judge_error"]) for r in judged)}
    return pd.DataFrame(rows, columns=COLUMNS), summary
