"""What anchors a class's consensus model when its initial subset cannot: gold questions, the
majority when EM finds no evidence, and the project's classes pooled."""

from __future__ import annotations

import numpy as np
import pytest

from synsetlab.annotate import estimate_table, fit_independence, make_votes, next_action
from synsetlab.annotate.consensus import Pooled


def test_an_all_right_subset_no_longer_makes_every_vote_worthless() -> None:
    # 12 right labels, 10 votes each by a crowd right 80% of the time: EM alone found the
    # flat solution (P(yes | right) = P(yes | wrong)), so every image came out 0.5.
    yes = np.array([9, 9, 6, 7, 8, 7, 9, 10, 8, 9, 7, 9])
    good, (prevalence, sensitivity, specificity) = fit_independence(yes, 10 - yes)
    assert sensitivity > 1 - specificity  # votes carry evidence
    assert good.min() > 0.5 and prevalence > 0.8


def test_gold_anchors_the_specificity() -> None:
    yes = np.array([9, 9, 6, 7, 8, 7, 9, 10, 8, 9, 7, 9])
    # 40 known negatives, 2 votes each, answered no 80% of the time.
    g_yes = np.array([0] * 24 + [1] * 16)
    gold = (g_yes, 2 - g_yes, np.zeros(40))
    _, (_, _, specificity) = fit_independence(yes, 10 - yes, gold=gold)
    assert specificity == pytest.approx(64 / 80, abs=0.03)
    # In a table: the gold votes shape the model, not the cells or the prevalence.
    tasks = [f"i{i}" for i, y in enumerate(yes) for _ in range(10)]
    labels = [k < y for y in yes for k in range(10)]
    gold_tasks = [f"g{i}" for i in range(40) for _ in range(2)]
    gold_labels = [k < y for y in g_yes for k in range(2)]
    votes = make_votes(
        tasks + gold_tasks, list(range(len(tasks) + len(gold_tasks))), labels + gold_labels
    )
    table = estimate_table(votes, gold={f"g{i}": False for i in range(40)}, max_votes=10)
    assert table.items == 12 and table.specificity == pytest.approx(specificity, abs=0.02)
    assert next_action(9, 1, table=table) == "accept"


def test_a_pooled_estimate_steadies_a_small_class_and_not_a_large_one() -> None:
    rng = np.random.default_rng(0)
    pooled = Pooled(prevalence=0.9, sensitivity=0.85, specificity=0.85)
    small = np.array([9, 5, 7, 7, 8])  # 5 images: alone, a crowd that looks unreliable
    _, alone = fit_independence(small, 10 - small)
    _, leaning = fit_independence(small, 10 - small, pooled=pooled)
    assert abs(leaning[1] - 0.85) < abs(alone[1] - 0.85)
    truth = rng.random(1000) < 0.6
    large = rng.binomial(10, np.where(truth, 0.7, 0.2))
    _, own = fit_independence(large, 10 - large)
    _, with_pool = fit_independence(large, 10 - large, pooled=pooled)
    assert max(abs(a - b) for a, b in zip(own, with_pool, strict=True)) < 0.01
