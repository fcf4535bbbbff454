"""Uncertainty of an error rate: how far a leaderboard's differences can be trusted."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binom

__all__ = ["bootstrap_interval", "intervals_overlap"]


def bootstrap_interval(correct: ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the error rate ``1 - mean(correct)``.

    Resampling ``N`` images with replacement from outcomes of which ``e`` is the error rate
    draws each image wrong with probability ``e``, independently: the bootstrap distribution
    of the resampled error rate is exactly ``Binomial(N, e) / N``. Its percentiles are
    therefore computed exactly with ``scipy.stats.binom.ppf`` instead of by sampling, which
    is deterministic and O(1); a resampling bootstrap converges to the same bounds.

    Args:
        correct: ``(N,)`` bool, whether each image was right; ``N >= 1``.
        level: coverage of the two-sided interval, in ``(0, 1)``.

    Returns:
        ``(low, high)`` error rates, the ``(1 - level) / 2`` and ``(1 + level) / 2``
        percentiles, with ``low <= 1 - mean(correct) <= high`` up to a bootstrap step
        ``1 / N``.
    """
    c = np.asarray(correct)
    if c.ndim != 1 or c.dtype != np.bool_:
        raise ValueError(f"correct must be a (N,) bool array, got {c.dtype} {c.shape}")
    if c.size == 0:
        raise ValueError("correct is empty: an error rate needs at least one image")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = c.size
    error = 1.0 - np.count_nonzero(c) / n
    tail = (1.0 - level) / 2
    low, high = binom.ppf([tail, 1.0 - tail], n, error)
    return float(low / n), float(high / n)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two closed intervals ``(low, high)`` share a point: two entries whose error
    intervals overlap are not clearly apart."""
    return a[0] <= b[1] and b[0] <= a[1]
