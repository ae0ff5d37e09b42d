"""The dense-captioning protocols, with the matching rules of the official evaluation scripts.

**ActivityNet** (Krishna et al., `densevid_eval/evaluate.py` as of May 2018), for each tIoU threshold:
- each video's predictions are cut to the first `max_proposals` (1,000) in file order;
- tIoU(a, b) = max(0, min(ends) - max(starts)) / (min(hull, len(a) + len(b)) + 1e-8);
- language: every (prediction, reference) pair with tIoU >= threshold is a pair, over all reference files;
  a prediction that overlaps no reference is paired with the nonsense reference "abc123!@#" (so it counts,
  scoring about 0); each video's pairs are scored together (`scorer.compute_score` over that video's pairs:
  corpus BLEU, aggregate METEOR, mean ROUGE-L, CIDEr with that video's document frequencies); a reference
  video without predictions scores 0; the metric is the mean over reference videos;
- detection: recall = share of a video's references with tIoU > threshold (strictly) to some prediction,
  precision = share of its predictions with tIoU > threshold to some reference (0 without predictions),
  each the best over reference files, then the mean over reference videos;
- then every metric's mean over the thresholds (the figures the script prints, times 100).

**SoccerNet-Caption** (`SoccerNet.Evaluation.DenseVideoCaptioning`, the protocol STaR reports as "@30"):
each timestamp t becomes the window [t - W//2, t + W//2 + W%2] (W = 30 s), then the same procedure at the
single threshold 0 with strict overlap (pairs need tIoU > 0, i.e. |t_pred - t_ref| < W), no proposal cap,
and an unmatched prediction paired with a random 10-20 letter word (here from a seeded generator).
Spotting precision and recall are the detection figures with windows of the tolerance (default W);
F1 = 2PR / (P + R) of those means (how STaR's table relates them).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codecvdc_assets.evaluation.dense.coco import LANGUAGE_METRICS, CocoSession
from codecvdc_assets.evaluation.dense.inputs import Event, Videos

ACTIVITYNET_TIOUS = (0.3, 0.5, 0.7, 0.9)
MAX_PROPOSALS = 1000
GARBAGE_REFERENCE = "abc123!@#"  # the 2018 script's reference for a prediction that overlaps nothing
SOCCERNET_WINDOW = 30.0


def tiou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU exactly as the official scripts compute it (their 1e-8 included)."""
    intersection = max(0.0, min(b[1], a[1]) - max(b[0], a[0]))
    union = min(max(b[1], a[1]) - min(b[0], a[0]), b[1] - b[0] + a[1] - a[0])
    return float(intersection) / (union + 1e-8)


def _span(e: Event) -> tuple[float, float]:
    return (e.start, e.end)


@dataclass
class DenseResult:
    """Per-video scores of one evaluation: `per_video[metric]` is [videos x thresholds]."""

    protocol: str
    thresholds: list[float]
    videos: list[str]
    per_video: dict[str, np.ndarray]
    n_predictions: int
    matched_videos: int  # reference videos that have predictions
    settings: dict = field(default_factory=dict)

    def values(self) -> dict[str, list[float]]:
        """metric -> value per threshold (means over reference videos)."""
        out = {m: [float(v) for v in a.mean(axis=0)] for m, a in self.per_video.items()}
        if "Precision" in out and self.protocol == "soccernet":
            out["F1"] = [_f1(p, r) for p, r in zip(out["Precision"], out["Recall"], strict=True)]
        return out

    def averages(self) -> dict[str, float]:
        """metric -> mean over thresholds (the official "Average across all tIoUs")."""
        values = self.values()
        out = {m: float(sum(v) / len(v)) for m, v in values.items()}
        if "F1" in out:
            out["F1"] = _f1(out["Precision"], out["Recall"])
        return out


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _language_pairs(
    preds: list[Event], references: list[Videos], vid: str, threshold: float, strict: bool, garbage: Callable[[], str]
) -> list[tuple[str, str]]:
    pairs = []
    for pred in preds:
        added = False
        for refs in references:
            for ref in refs.get(vid, ()):
                overlap = tiou(_span(pred), _span(ref))
                if overlap > threshold if strict else overlap >= threshold:
                    pairs.append((pred.sentence, ref.sentence))
                    added = True
        if not added:
            pairs.append((pred.sentence, garbage()))
    return pairs


def _detection(preds: list[Event], references: list[Videos], vid: str, threshold: float) -> tuple[float, float]:
    """(precision, recall) of one video, each the best over reference files (strict tIoU > threshold)."""
    best_p = best_r = 0.0
    for refs in references:
        if vid not in refs:
            continue
        events = refs[vid]
        covered_refs, covered_preds = set(), set()
        for i, pred in enumerate(preds):
            for j, ref in enumerate(events):
                if tiou(_span(pred), _span(ref)) > threshold:
                    covered_refs.add(j)
                    covered_preds.add(i)
        if preds:
            best_p = max(best_p, len(covered_preds) / len(preds))
        best_r = max(best_r, len(covered_refs) / len(events))
    return best_p, best_r


def _evaluate(
    protocol: str,
    references: list[Videos],
    predictions: Videos,
    thresholds: Sequence[float],
    session: CocoSession,
    strict_language: bool,
    garbage: Callable[[], str],
    detection_refs: list[Videos] | None = None,
    detection_preds: Videos | None = None,
    settings: dict | None = None,
) -> DenseResult:
    videos = sorted({v for refs in references for v in refs})
    thresholds = [float(t) for t in thresholds]
    plans: list[list[list[tuple[str, str]]]] = []  # [threshold][video] -> pairs
    for t in thresholds:
        plans.append(
            [
                _language_pairs(predictions[v], references, v, t, strict_language, garbage) if v in predictions else []
                for v in videos
            ]
        )
    session.prepare(pair for plan in plans for pairs in plan for pair in pairs)
    metrics = [*LANGUAGE_METRICS, "Recall", "Precision"]
    per_video = {m: np.zeros((len(videos), len(thresholds))) for m in metrics}
    cache: dict[tuple, dict[str, float]] = {}  # a video's pairs unchanged at another threshold score the same
    det_refs = detection_refs or references
    det_preds = detection_preds if detection_preds is not None else predictions
    todo = list(dict.fromkeys(tuple(pairs) for plan in plans for pairs in plan if pairs))
    for key, scores in zip(todo, session.score_many([list(k) for k in todo]), strict=True):
        cache[key] = scores
    for ti, t in enumerate(thresholds):
        for vi, v in enumerate(videos):
            pairs = plans[ti][vi]
            if pairs:
                for m in LANGUAGE_METRICS:
                    per_video[m][vi, ti] = cache[tuple(pairs)][m]
            precision, recall = _detection(det_preds.get(v, []), det_refs, v, t)
            per_video["Precision"][vi, ti] = precision
            per_video["Recall"][vi, ti] = recall
    return DenseResult(
        protocol,
        thresholds,
        videos,
        per_video,
        sum(len(predictions[v]) for v in videos if v in predictions),
        sum(v in predictions for v in videos),
        settings or {},
    )


def evaluate_activitynet(
    references: Videos | list[Videos],
    predictions: Videos,
    session: CocoSession,
    tious: Sequence[float] = ACTIVITYNET_TIOUS,
    max_proposals: int = MAX_PROPOSALS,
) -> DenseResult:
    refs = references if isinstance(references, list) else [references]
    capped = {v: p[:max_proposals] for v, p in predictions.items()}
    return _evaluate(
        "activitynet",
        refs,
        capped,
        tious,
        session,
        strict_language=False,
        garbage=lambda: GARBAGE_REFERENCE,
        settings={"max_proposals": max_proposals, "tious": list(tious)},
    )


def soccernet_window(t: float, window: float) -> tuple[float, float]:
    """[t - W//2, t + W//2 + W%2], SoccerNet's window around a timestamp."""
    return t - window // 2, t + window // 2 + window % 2


def _windowed(videos: Videos, window: float) -> Videos:
    return {
        v: [Event(*soccernet_window(e.start, window), e.sentence) for e in sorted(events, key=lambda e: e.start)]
        for v, events in videos.items()
    }


def evaluate_soccernet(
    references: Videos,
    predictions: Videos,
    session: CocoSession,
    window: float = SOCCERNET_WINDOW,
    tolerance: float | None = None,
    seed: int = 0,
) -> DenseResult:
    """The single-timestamp protocol; events carry one timestamp (start == end)."""
    rng = random.Random(seed)
    tolerance = window if tolerance is None else tolerance

    def garbage() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(10, 20)))

    result = _evaluate(
        "soccernet",
        [_windowed(references, window)],
        _windowed(predictions, window),
        [0.0],
        session,
        strict_language=True,
        garbage=garbage,
        detection_refs=[_windowed(references, tolerance)],
        detection_preds=_windowed(predictions, tolerance),
        settings={"window_s": window, "tolerance_s": tolerance},
    )
    result.thresholds = [float(window)]  # reported "@W"
    return result
