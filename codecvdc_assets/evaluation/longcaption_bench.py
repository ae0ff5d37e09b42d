"""LongCaption-Bench scores (LongCaptioning, section 4) for any caption source against human references.

- **S_l** (length): with l the reference's and l' the caption's word count,
  S_l = 100 max(0, 1 - (l'/l - 1)/3) if l' > l, else 100 max(0, 1 - (l/l' - 1)/2) (0 for an empty caption);
- **S_q** (quality): a judge LLM scores relevance, accuracy, coherence, clarity, breadth and depth, and
  reading experience from 1 to 5 (`prompts/lc_quality.md`); S_q = 20 x their mean;
- **S_r** (video-caption relevance): a judge LLM rates the caption against the reference from 1 to 5
  (`prompts/lc_relevance.md`, in the manner of Video-ChatGPT's detail-orientation judge).

The judge is the profile's text model through the model layer (cached, recorded, re-asked once on an
invalid answer); a video whose judge call failed has no S_q / S_r (n says how many were scored). Each
figure is a mean over videos with a percentile-bootstrap 95 % CI, overall and per duration bucket
(LongCaption-Bench's [300 s, 600 s), [600 s, 900 s), [900 s, 1200 s), [1200 s, 1800 s], plus shorter and
longer videos so no video is left out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from codecvdc_assets.evaluation.resampling import RESAMPLES, mean_ci
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import LC_DIMENSIONS, SCHEMAS
from codecvdc_assets.models.types import ModelRequest

REQUEST = "Describe this video in detail, covering everything that happens from beginning to end."
BUCKETS = [
    ("[0s, 300s)", 0.0, 300.0),
    ("[300s, 600s)", 300.0, 600.0),
    ("[600s, 900s)", 600.0, 900.0),
    ("[900s, 1200s)", 900.0, 1200.0),
    ("[1200s, 1800s]", 1200.0, 1800.0),  # closed, as LongCaption-Bench's Table 1 writes it
    ("(1800s, inf)", 1800.0, math.inf),
]
METRICS = ("S_l", "S_q", "S_r")


def word_count(text: str) -> int:
    return len(text.split())


def length_score(reference_words: int, output_words: int) -> float:
    """S_l of LongCaptioning's equation 2."""
    if reference_words <= 0:
        raise ValueError("the reference has no words")
    if output_words <= 0:
        return 0.0
    ratio = output_words / reference_words
    if output_words > reference_words:
        return 100 * max(0.0, 1 - (ratio - 1) / 3)
    return 100 * max(0.0, 1 - (1 / ratio - 1) / 2)


def bucket_of(duration_s: float | None) -> str | None:
    if duration_s is None or not math.isfinite(duration_s):
        return None
    for name, low, high in BUCKETS:
        if low <= duration_s < high or (name == "[1200s, 1800s]" and duration_s == high):
            return name
    return None


@dataclass(frozen=True)
class Item:
    """One caption to score: a source's caption of a video and that video's reference."""

    source: str
    video_id: str  # the reference's id
    caption: str
    reference: str
    duration_s: float | None = None
    lake_video_id: str | None = None  # ours, when the caption came from the lake (for call records)


def judge_requests(item: Item, prompts: dict[str, str]) -> list[ModelRequest]:
    quality = {"request": REQUEST, "response": item.caption}
    relevance = {"request": REQUEST, "reference": item.reference, "prediction": item.caption}
    return [
        ModelRequest(
            task,
            [m.system(prompts[task]), m.user(m.json_block(data))],
            SCHEMAS[task],
            video_id=item.lake_video_id,
            asset="caption_metrics",
        )
        for task, data in (("lc_quality", quality), ("lc_relevance", relevance))
    ]


def score_items(items: Sequence[Item], client: ModelClient, prompts: dict[str, str]) -> list[dict[str, Any]]:
    """Per item: S_l, S_q, S_r (None when the judge failed), the six dimensions, words, bucket."""
    requests = [r for item in items for r in judge_requests(item, prompts)]
    results = client.complete_many(requests, raise_on_error=False)
    rows = []
    for i, item in enumerate(items):
        quality, relevance = results[2 * i], results[2 * i + 1]
        dims = {d: float(quality.data[d]) for d in LC_DIMENSIONS} if quality.ok else {}
        rows.append(
            {
                "source": item.source,
                "video_id": item.video_id,
                "bucket": bucket_of(item.duration_s),
                "reference_words": word_count(item.reference),
                "caption_words": word_count(item.caption),
                "S_l": length_score(word_count(item.reference), word_count(item.caption)),
                "S_q": 20 * float(np.mean(list(dims.values()))) if dims else None,
                "S_r": float(relevance.data["score"]) if relevance.ok else None,
                **dims,
                "judge_error": "; ".join(r.error for r in (quality, relevance) if not r.ok and r.error) or None,
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]], seed: int = 0, resamples: int = RESAMPLES) -> list[dict[str, Any]]:
    """caption_metrics rows: per source, metric and subset (overall, then each bucket that has videos)."""
    out = []
    for source in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == source]
        subsets = [("overall", mine)] + [(name, [r for r in mine if r["bucket"] == name]) for name, _, _ in BUCKETS]
        for subset, group in subsets:
            if not group:
                continue
            for metric in METRICS:
                values = np.array([r[metric] for r in group if r[metric] is not None], dtype=float)
                low, high = mean_ci(values, seed, f"{source}|longcaption|{metric}|{subset}", resamples)
                out.append(
                    {
                        "source": source,
                        "protocol": "longcaption",
                        "metric": metric,
                        "threshold": None,
                        "value": float(values.mean()) if len(values) else float("nan"),
                        "ci_low": float(low[0]),
                        "ci_high": float(high[0]),
                        "n": int(len(values)),
                        "subset": subset,
                    }
                )
    return out


def references_from_dense(videos: dict[str, list[Any]], durations: dict[str, float]) -> list[dict[str, Any]]:
    """A dense-captioning reference file as LongCaption references: each video's sentences in time order,
    each ending with a full stop, joined (YouCook2's recipe steps become one paragraph)."""
    out = []
    for vid, events in videos.items():
        sentences = [e.sentence.strip() for e in sorted(events, key=lambda e: (e.start, e.end))]
        text = " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences if s)
        out.append({"video_id": vid, "reference": text, "duration": durations.get(vid)})
    return out
