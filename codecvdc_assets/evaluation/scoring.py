"""VidCapQA scores: accuracy (unknown counts as wrong), per dimension and difficulty, no-evidence rate,
and percentile-bootstrap 95 % confidence intervals.

Bootstrap: resample the questions of a group with replacement `resamples` times (default 2,000) with
a seeded NumPy generator; the CI is the 2.5th and 97.5th percentiles of the resampled accuracies. Each
group (source x dimension, ...) uses its own stream derived from the seed and the group name, so a
figure does not change when other groups are added.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from codecvdc_assets.evaluation.bank import UNKNOWN

RESAMPLES = 2000


def judge(answers: pd.DataFrame, bank: pd.DataFrame) -> pd.DataFrame:
    """answers(question_id, source, answer) joined with the bank: correct, no_evidence, dimension..."""
    missing = sorted(set(answers["question_id"]) - set(bank["question_id"]))
    if missing:
        raise ValueError(f"{len(missing)} answered question(s) are not in the bank, e.g. {missing[:3]}")
    merged = answers.merge(
        bank[["question_id", "answer", "dimension", "difficulty"]], on="question_id", suffixes=("", "_truth")
    )
    given = merged["answer"].astype(str).str.strip()
    merged["correct"] = given.str.upper() == merged["answer_truth"]
    merged["no_evidence"] = given.str.lower() == UNKNOWN
    return merged


def bootstrap_ci(correct: np.ndarray, seed: int, label: str, resamples: int = RESAMPLES) -> tuple[float, float]:
    if len(correct) == 0:
        return float("nan"), float("nan")
    stream = int.from_bytes(hashlib.sha256(f"{seed}:{label}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(stream)
    picks = rng.integers(0, len(correct), size=(resamples, len(correct)))
    means = correct.astype(float)[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _stats(group: pd.DataFrame, seed: int, label: str, resamples: int) -> dict[str, Any]:
    correct = group["correct"].to_numpy(dtype=bool)
    low, high = bootstrap_ci(correct, seed, label, resamples)
    fitted = {}
    if "caption_fitted" in group:  # answers made here: how many captions had to be fitted (caption_fit.py)
        fitted["n_fitted"] = int(group["caption_fitted"].fillna(False).astype(bool).sum())
    return {
        **fitted,
        "n": int(len(group)),
        "accuracy": float(correct.mean()) if len(group) else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "no_evidence_rate": float(group["no_evidence"].mean()) if len(group) else float("nan"),
    }


def score(judged: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> dict[str, dict[str, Any]]:
    """{source: {accuracy, ci_low, ci_high, no_evidence_rate, n, per_dimension: {...}, per_difficulty}}"""
    out: dict[str, dict[str, Any]] = {}
    for source, group in judged.groupby("source", sort=True):
        entry = _stats(group, seed, f"{source}|all", resamples)
        entry["per_dimension"] = {
            str(dim): _stats(g, seed, f"{source}|dim|{dim}", resamples)
            for dim, g in group.dropna(subset=["dimension"]).groupby("dimension", sort=True)
        }
        entry["per_difficulty"] = {
            str(d): _stats(g, seed, f"{source}|diff|{d}", resamples)
            for d, g in group.dropna(subset=["difficulty"]).groupby("difficulty", sort=True)
        }
        out[str(source)] = entry
    return out


def scores_table(scores: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Long table: one row per source x (overall | dimension | difficulty)."""
    rows = []
    for source, entry in scores.items():
        strategy, _, level = source.partition(":")
        base = {"source": source, "strategy": strategy, "level": level or "caption"}
        rows.append(
            {
                **base,
                "group": "overall",
                "dimension": "overall",
                **{k: entry[k] for k in ("n", "accuracy", "ci_low", "ci_high", "no_evidence_rate")},
                "n_fitted": entry.get("n_fitted", 0),
            }
        )
        for kind, key in (("dimension", "per_dimension"), ("difficulty", "per_difficulty")):
            for name, stats in entry[key].items():
                rows.append({**base, "group": kind, "dimension": name, "n_fitted": 0, **stats})
    return pd.DataFrame(rows)
