"""Dense-captioning results as `caption_metrics` rows and as the official scripts print them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from codecvdc_assets.evaluation.dense.protocols import DenseResult
from codecvdc_assets.evaluation.resampling import RESAMPLES, mean_ci

METRIC_ORDER = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "Recall", "Precision", "F1"]


def _f1_of(means: np.ndarray) -> np.ndarray:
    p, r = means[:, 0], means[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + r > 0, 2 * p * r / (p + r), 0.0)[:, None]


def result_rows(result: DenseResult, source: str, seed: int = 0, resamples: int = RESAMPLES) -> list[dict[str, Any]]:
    """Rows (source, protocol, metric, threshold, value, ci_low, ci_high, n, subset): one per metric and
    threshold, plus the mean over thresholds (threshold null) for the ActivityNet protocol. CIs: percentile
    bootstrap over the reference videos (each figure is a mean over videos)."""
    n = len(result.videos)
    values = result.values()
    rows = []

    def row(metric: str, threshold: float | None, value: float, low: float, high: float) -> dict[str, Any]:
        return {
            "source": source,
            "protocol": result.protocol,
            "metric": metric,
            "threshold": threshold,
            "value": float(value),
            "ci_low": float(low),
            "ci_high": float(high),
            "n": n,
            "subset": "overall",
        }

    for metric in [m for m in METRIC_ORDER if m in values]:
        label = f"{source}|{result.protocol}|{metric}"
        if metric == "F1":
            pr = np.stack([result.per_video["Precision"], result.per_video["Recall"]], axis=1)  # [n, 2, T]
            for ti, t in enumerate(result.thresholds):
                low, high = mean_ci(pr[:, :, ti], seed, f"{label}|{t}", resamples, _f1_of)
                rows.append(row(metric, t, values[metric][ti], low[0], high[0]))
            continue
        per_video = result.per_video[metric]
        low, high = mean_ci(per_video, seed, label, resamples)
        for ti, t in enumerate(result.thresholds):
            rows.append(row(metric, t, values[metric][ti], low[ti], high[ti]))
        if len(result.thresholds) > 1:
            low, high = mean_ci(per_video.mean(axis=1), seed, f"{label}|mean", resamples)
            rows.append(row(metric, None, float(np.mean(values[metric])), low[0], high[0]))
    return rows


def official_text(result: DenseResult) -> str:
    """The figures as the official script prints them with -v: per threshold, then the average (x 100)."""
    values, lines = result.values(), []
    metrics = [m for m in METRIC_ORDER if m in values]
    name = "tIoU" if result.protocol == "activitynet" else "window (s)"
    for ti, t in enumerate(result.thresholds):
        lines += ["-" * 80, f"{name}:  {t:g}", "-" * 80]
        lines += [f"| {m}: {100 * values[m][ti]:2.4f}" for m in metrics]
    if len(result.thresholds) > 1:
        averages = result.averages()
        lines += ["-" * 80, "Average across all tIoUs", "-" * 80]
        lines += [f"| {m}: {100 * averages[m]:2.4f}" for m in metrics]
    return "\n".join(lines)


def summary_json(result: DenseResult, source: str, seed: int = 0, resamples: int = RESAMPLES) -> dict[str, Any]:
    def clean(x: float | None) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else x

    return {
        "source": source,
        "protocol": result.protocol,
        "settings": result.settings,
        "videos": len(result.videos),
        "videos_with_predictions": result.matched_videos,
        "predictions": result.n_predictions,
        "thresholds": result.thresholds,
        "per_threshold": result.values(),
        "average": result.averages(),
        "rows": [{k: clean(v) for k, v in r.items()} for r in result_rows(result, source, seed, resamples)],
    }
