"""Annotator quality from gold questions, stopping, and answers too fast to be looked at."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from synsetlab.annotate import (
    AnnotationError,
    flag_fast,
    gold_quality,
    make_votes,
    worker_speed,
    workers_to_stop,
)


def gold_votes():
    """good: 9 of 10 gold right; coin: 20 of 40; new: 1 of 3; plus a vote on a normal task."""
    tasks, workers, labels = [], [], []
    for worker, answers, right in (("good", 10, 9), ("coin", 40, 20), ("new", 3, 1)):
        for i in range(answers):
            tasks.append(f"g{i}")
            workers.append(worker)
            labels.append(i < right)  # every gold answer is yes
    tasks.append("normal")
    workers.append("good")
    labels.append(False)
    votes = make_votes(tasks, workers, labels, seconds=np.linspace(0.1, 5, len(tasks)))
    return votes, {f"g{i}": True for i in range(40)}


def test_gold_accuracy_is_a_beta_posterior() -> None:
    votes, gold = gold_votes()
    quality = gold_quality(votes, gold)
    assert quality.loc["good", ["answers", "correct"]].tolist() == [10, 9]
    assert quality.loc["good", "accuracy"] == pytest.approx(10 / 12)  # Beta(1 + 9, 1 + 1)
    assert quality.loc["good", "lower"] == pytest.approx(beta.ppf(0.025, 10, 2))
    assert quality.loc["coin", "upper"] == pytest.approx(beta.ppf(0.975, 21, 21))
    # 40 coin flips are below 0.7 with probability 0.9995 (> 0.99); below 0.6 with 0.90 only.
    # One right answer in three is too few answers (< 10) for any verdict.
    assert list(workers_to_stop(quality, min_accuracy=0.7)) == ["coin"]
    assert list(workers_to_stop(quality, min_accuracy=0.6)) == []
    everyone = gold_quality(votes, gold, workers=["good", "coin", "new", "idle"])
    assert everyone.loc["idle", "answers"] == 0
    assert everyone.loc["idle", "accuracy"] == 0.5


def test_fast_answers_are_flagged() -> None:
    votes = make_votes(["a", "b", "c"], ["w1", "w1", "w2"], [1, 0, 1], seconds=[0.2, 3.0, 0.4])
    assert flag_fast(votes).tolist() == [True, False, True]
    assert flag_fast(votes, min_seconds=0.3).tolist() == [True, False, False]
    speed = worker_speed(votes)
    assert speed.loc["w1", "fast_share"] == 0.5
    assert speed.loc["w2", "median_seconds"] == pytest.approx(0.4)


def test_bad_quality_input_is_refused() -> None:
    votes, gold = gold_votes()
    with pytest.raises(AnnotationError, match=r"unknown worker\(s\) \(e.g. 'new'\)"):
        gold_quality(votes, gold, workers=["good", "coin"])
    with pytest.raises(AnnotationError, match="gold answer"):
        gold_quality(votes, {"g0": "perhaps"})
    with pytest.raises(AnnotationError, match="credibility"):
        gold_quality(votes, gold, credibility=1.0)
    with pytest.raises(AnnotationError, match="min accuracy"):
        workers_to_stop(gold_quality(votes, gold), min_accuracy=1.2)
    with pytest.raises(AnnotationError, match="no 'seconds' column"):
        flag_fast(make_votes(["a"], ["w"], [True]))
    with pytest.raises(AnnotationError, match="min seconds"):
        flag_fast(votes, min_seconds=0)
