"""Percentile-bootstrap confidence intervals of means over items (videos), seeded per label.

The same scheme as VidCapQA's (evaluation/scoring.py): the stream is derived from the seed and a label, so a
figure's interval does not change when other figures are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

RESAMPLES = 2000


def _rng(seed: int, label: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}:{label}".encode()).digest()[:8], "little"))


def resample_indices(n: int, seed: int, label: str, resamples: int = RESAMPLES) -> np.ndarray:
    """[resamples x n] indices drawn with replacement."""
    return _rng(seed, label).integers(0, n, size=(resamples, n))


def percentile_ci(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2.5th and 97.5th percentiles along the first axis."""
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return low, high


def mean_ci(
    values: np.ndarray,
    seed: int,
    label: str,
    resamples: int = RESAMPLES,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CI of the column means of `values` [n x k] (or of `statistic` of the resampled column means)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if len(values) == 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan
    means = values[resample_indices(len(values), seed, label, resamples)].mean(axis=1)  # [resamples x k]
    return percentile_ci(statistic(means) if statistic else means)
