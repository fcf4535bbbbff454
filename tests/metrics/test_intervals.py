"""The exact percentile bootstrap of an error rate, against an explicit resampling bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from synsetlab.metrics import bootstrap_interval, intervals_overlap


def outcomes(n: int, error: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    correct = np.ones(n, dtype=bool)
    correct[rng.choice(n, round(error * n), replace=False)] = False
    return correct


def resampled(correct: np.ndarray, level: float, resamples: int = 20_000) -> tuple[float, float]:
    """The textbook percentile bootstrap: resample images with replacement."""
    rng = np.random.default_rng(1)
    n = len(correct)
    errors = 1.0 - correct[rng.integers(0, n, (resamples, n))].mean(axis=1)
    tail = (1 - level) / 2
    # inverted_cdf: the smallest value whose empirical CDF reaches q, as binom.ppf defines it
    low, high = np.quantile(errors, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


@pytest.mark.parametrize(
    ("n", "error", "level"),
    [(50, 0.3, 0.95), (200, 0.12, 0.95), (500, 0.5, 0.9), (1000, 0.03, 0.99), (300, 0.8, 0.8)],
)
def test_exact_interval_matches_a_resampling_bootstrap(n: int, error: float, level: float) -> None:
    correct = outcomes(n, error)
    exact = bootstrap_interval(correct, level=level)
    sampled = resampled(correct, level)
    # sampling noise of 20,000 resamples stays within one bootstrap step (1/N) of the exact
    # percentiles
    assert exact == pytest.approx(sampled, abs=1.0 / n + 1e-12)
    assert exact[0] <= 1 - correct.mean() <= exact[1]


def test_interval_is_deterministic_and_shrinks_with_more_images() -> None:
    small, large = outcomes(100, 0.25), outcomes(10_000, 0.25)
    assert bootstrap_interval(small) == bootstrap_interval(small)

    def width(interval: tuple[float, float]) -> float:
        return interval[1] - interval[0]

    assert width(bootstrap_interval(large)) < width(bootstrap_interval(small)) / 5
    assert width(bootstrap_interval(small, level=0.99)) > width(bootstrap_interval(small))


def test_interval_of_a_large_sample_is_close_to_the_normal_one() -> None:
    n, error = 50_000, 0.2
    low, high = bootstrap_interval(outcomes(n, error))
    half = 1.959964 * np.sqrt(error * (1 - error) / n)
    assert low == pytest.approx(error - half, abs=2 / n)
    assert high == pytest.approx(error + half, abs=2 / n)


def test_degenerate_outcomes() -> None:
    assert bootstrap_interval(np.ones(20, dtype=bool)) == (0.0, 0.0)
    assert bootstrap_interval(np.zeros(20, dtype=bool)) == (1.0, 1.0)
    assert bootstrap_interval(np.array([True])) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("correct", "level", "message"),
    [
        (np.array([], dtype=bool), 0.95, "correct is empty"),
        (np.array([1, 0]), 0.95, r"\(N,\) bool array"),
        (np.ones((2, 2), dtype=bool), 0.95, r"\(N,\) bool array"),
        (np.ones(3, dtype=bool), 1.0, r"level must be in \(0, 1\)"),
        (np.ones(3, dtype=bool), 0.0, r"level must be in \(0, 1\)"),
    ],
)
def test_bad_input_is_refused(correct: np.ndarray, level: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(correct, level=level)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((0.1, 0.2), (0.15, 0.3), True),
        ((0.1, 0.2), (0.2, 0.3), True),  # closed intervals share the end point
        ((0.1, 0.2), (0.21, 0.3), False),
        ((0.1, 0.5), (0.2, 0.3), True),  # one inside the other
        ((0.0, 0.0), (0.0, 0.0), True),
    ],
)
def test_intervals_overlap(a, b, overlap: bool) -> None:
    assert intervals_overlap(a, b) is overlap
    assert intervals_overlap(b, a) is overlap
