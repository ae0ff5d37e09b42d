"""Paired comparisons of two caption sources on the same questions (the paper reports bare differences).

For sources a and b, over the questions both answered:
- difference = accuracy(a) - accuracy(b);
- a paired percentile-bootstrap 95 % CI: resample *questions* with replacement (both sources' outcomes
  travel together), seeded per pair and group like the per-source CIs (scoring.py);
- McNemar's exact test: under H0 the discordant questions (a right and b wrong: n10; a wrong and b
  right: n01) split 50/50, so p = min(1, 2 * P[Binomial(n10 + n01, 1/2) <= min(n10, n01)]); p = 1 when
  nothing is discordant.
Per overall, dimension and difficulty (groups with answers from both).
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pandas as pd

from codecvdc_assets.evaluation.scoring import RESAMPLES

COLUMNS = [
    "source_a",
    "source_b",
    "group",
    "dimension",
    "n",
    "accuracy_a",
    "accuracy_b",
    "difference",
    "ci_low",
    "ci_high",
    "a_only",
    "b_only",
    "mcnemar_p",
]


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, seed: int, label: str, resamples: int = RESAMPLES
) -> tuple[float, float]:
    if len(a) == 0:
        return float("nan"), float("nan")
    stream = int.from_bytes(hashlib.sha256(f"{seed}:pair:{label}".encode()).digest()[:8], "little")
    picks = np.random.default_rng(stream).integers(0, len(a), size=(resamples, len(a)))
    diffs = a.astype(float)[picks].mean(axis=1) - b.astype(float)[picks].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def compare(a: np.ndarray, b: np.ndarray, seed: int, label: str, resamples: int = RESAMPLES) -> dict:
    a, b = a.astype(bool), b.astype(bool)
    low, high = paired_bootstrap_ci(a, b, seed, label, resamples)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    return {
        "n": int(len(a)),
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "difference": float(a.mean() - b.mean()),
        "ci_low": low,
        "ci_high": high,
        "a_only": a_only,
        "b_only": b_only,
        "mcnemar_p": mcnemar_exact(a_only, b_only),
    }


def pairs_table(judged: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> pd.DataFrame:
    """judged(question_id, source, correct, dimension, difficulty) -> one row per source pair x group."""
    if judged.empty:
        return pd.DataFrame(columns=COLUMNS)
    wide = judged.pivot_table(index="question_id", columns="source", values="correct", aggfunc="first")
    meta = judged.drop_duplicates("question_id").set_index("question_id")[["dimension", "difficulty"]]
    rows = []
    for sa, sb in itertools.combinations(sorted(wide.columns), 2):
        both = wide[[sa, sb]].dropna()
        if both.empty:
            continue
        info = meta.loc[both.index]
        groups = [("overall", "overall", both.index)]
        for kind in ("dimension", "difficulty"):
            for name, idx in info.dropna(subset=[kind]).groupby(kind).groups.items():
                groups.append((kind, str(name), idx))
        for kind, name, idx in groups:
            sub = both.loc[idx]
            stats = compare(sub[sa].to_numpy(), sub[sb].to_numpy(), seed, f"{sa}|{sb}|{kind}|{name}", resamples)
            rows.append({"source_a": sa, "source_b": sb, "group": kind, "dimension": name, **stats})
    return pd.DataFrame(rows, columns=COLUMNS)
