"""Dynamic consensus: the table on a hand-computed example, the next action, the EM fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synsetlab.annotate import (
    ACCEPT,
    REJECT,
    VOTE,
    AnnotationError,
    ConsensusTable,
    estimate_table,
    independence_table,
    make_votes,
    next_action,
    next_actions,
    posterior,
)
from synsetlab.annotate.consensus import fit_independence
from synsetlab.errors import UserError


def two_image_subset() -> pd.DataFrame:
    """Image A: yes, yes. Image B: yes, no."""
    return make_votes(["A", "A", "B", "B"], ["w1", "w2", "w1", "w3"], [1, 1, 1, 0])


def fixed_table(prevalence: float, accuracy: float, max_votes: int) -> ConsensusTable:
    """A table that is exactly the independence model (each vote right with ``accuracy``)."""
    p = independence_table(prevalence, accuracy, accuracy, max_votes=max_votes)
    zeros = np.zeros((*p.shape, 2))
    return ConsensusTable(p, zeros, prevalence, accuracy, accuracy, items=0, strength=0.0)


def test_table_on_a_hand_computed_example() -> None:
    # A is right, B wrong. Without smoothing each cell is the share of right images among
    # the subset's votes subsampled to that cell:
    #   (0,0): A, B -> 1/2.   (1,0): A (weight 1), B (its one yes of two: 1/2) -> 1/1.5.
    #   (0,1): B's no (1/2) -> 0.   (2,0): A -> 1.   (1,1): B -> 0.   (0,2): nobody -> NaN.
    raw = estimate_table(two_image_subset(), labels={"A": True, "B": False}, strength=0.0)
    assert raw.max_votes == 2
    assert raw.p_correct[0, 0] == pytest.approx(0.5)
    assert raw.p_correct[1, 0] == pytest.approx(2 / 3)
    assert raw.p_correct[0, 1] == pytest.approx(0.0)
    assert raw.p_correct[2, 0] == pytest.approx(1.0)
    assert raw.p_correct[1, 1] == pytest.approx(0.0)
    assert np.isnan(raw.p_correct[0, 2])
    assert raw.counts[1, 0].tolist() == pytest.approx([1.0, 0.5])
    # The independence model, Beta(1, 1) priors: prevalence (1 + 1) / (2 + 2) = 1/2;
    # sensitivity (2 yes of A's 2 + 1) / (2 + 2) = 3/4; specificity (1 no of B's 2 + 1) /
    # (2 + 2) = 1/2. So model(1,0) = .5 * .75 / (.5 * .75 + .5 * .5) = 0.6, and with two
    # pseudo-images the cell is (2 * 0.6 + 1) / (2 + 1.5).
    smoothed = estimate_table(two_image_subset(), labels={"A": True, "B": False}, strength=2.0)
    assert (smoothed.prevalence, smoothed.sensitivity, smoothed.specificity) == pytest.approx(
        (0.5, 0.75, 0.5)
    )
    assert smoothed.p_correct[1, 0] == pytest.approx(2.2 / 3.5)
    # No image at (0,2): the model alone, .5 * .25**2 / (.5 * .25**2 + .5 * .5**2).
    assert smoothed.p_correct[0, 2] == pytest.approx(0.2)
    # A prior of 0.8 replaces the base rate 1/2: odds (2/3 : 1/3) / 1 * (0.8 : 0.2) = 8.
    assert posterior(1, 0, table=raw, prior=0.8) == pytest.approx(8 / 9)
    assert posterior(np.array([1, 2]), np.array([0, 0]), table=raw).tolist() == pytest.approx(
        [2 / 3, 1.0]
    )


def test_next_action_accepts_rejects_and_asks() -> None:
    # Each vote is right 90% of the time: odds 9 per net yes; 0.99 needs a net +3 (729:1).
    table = fixed_table(0.5, 0.9, max_votes=5)
    act = lambda y, n, **kw: next_action(y, n, table=table, target_precision=0.99, **kw)  # noqa: E731
    assert act(0, 0) == VOTE
    assert act(2, 0) == VOTE  # 81:1 = 0.988
    assert act(3, 0) == ACCEPT
    assert act(2, 1) == VOTE  # two votes left can still make +3
    assert act(1, 2) == REJECT  # two votes left reach +1 at best
    assert act(0, 3) == REJECT
    assert act(3, 2) == REJECT  # at the limit, +1
    assert act(4, 1) == ACCEPT
    assert act(2, 1, max_votes=3) == REJECT
    # A model prior of 0.99 makes one yes enough (99 * 9 : 1); alone it decides nothing.
    assert act(1, 0, prior=0.99) == ACCEPT
    assert act(0, 0, prior=0.9999) == VOTE
    assert act(0, 0, prior=0.9999, min_votes=0) == ACCEPT
    actions = next_actions(
        np.array([0, 3, 1]), np.array([0, 0, 2]), table=table, target_precision=0.99
    )
    assert actions.tolist() == [VOTE, ACCEPT, REJECT]


def test_fit_independence_recovers_the_crowd_and_matches_crowdkit() -> None:
    # 300 images, 10 votes each, right labels 40%, P(yes | right) 0.85, P(no | wrong) 0.7.
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.4
    yes = rng.binomial(10, np.where(truth, 0.85, 0.3))
    good, (prevalence, sensitivity, specificity) = fit_independence(yes, 10 - yes)
    assert prevalence == pytest.approx(0.4, abs=0.05)
    assert sensitivity == pytest.approx(0.85, abs=0.03)
    assert specificity == pytest.approx(0.7, abs=0.03)
    assert ((good > 0.5) == truth).mean() > 0.95

    # The same model is crowd-kit's Dawid-Skene with every vote given to one pooled worker.
    from crowdkit.aggregation import DawidSkene

    tasks = np.repeat(np.arange(300), 10)
    labels = np.concatenate([np.arange(10) < y for y in yes])
    pooled = pd.DataFrame({"task": tasks, "worker": "pooled", "label": labels})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crowd-kit 1.4 on pandas 3
        crowdkit = DawidSkene(n_iter=100, tol=1e-8).fit(pooled).probas_[True]
    assert np.abs(crowdkit.sort_index().to_numpy() - good).max() < 0.02


def test_the_fitted_table_reaches_its_posterior_on_its_own_model() -> None:
    # Under the model, the fitted table's cells match the true posterior closely.
    rng = np.random.default_rng(1)
    truth = rng.random(300) < 0.5
    yes = rng.binomial(10, np.where(truth, 0.8, 0.2))
    tasks = np.repeat(np.arange(300), 10)
    labels = np.concatenate([rng.permutation(np.arange(10) < y) for y in yes])
    votes = make_votes(tasks, np.tile(np.arange(10), 300), labels)
    table = estimate_table(votes)
    truth_table = independence_table(0.5, 0.8, 0.8, max_votes=10)
    close = ~np.isnan(truth_table)
    assert np.abs(table.p_correct[close] - truth_table[close]).max() < 0.1
    assert table.p_correct[5, 0] > 0.99


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: next_action(1, 0, table=t, target_precision=1.0), "strictly between 0.5"),
        (lambda t: next_action(1, 0, table=t, target_precision=0.5), "strictly between 0.5"),
        (lambda t: next_action(1, 0, table=t, max_votes=0), "at least 1 vote"),
        (lambda t: next_action(1, 0, table=t, max_votes=9), "estimate it with max_votes=9"),
        (lambda t: next_action(5, 1, table=t), "table covers 5"),
        (lambda t: next_action(-1, 0, table=t), ">= 0"),
        (lambda t: next_action(1, 0, table=t, prior=1.5), "prior must be"),
        (lambda t: estimate_table(two_image_subset(), max_votes=0), "at least 1 vote"),
        (lambda t: estimate_table(two_image_subset(), labels={"A": 1}), "labels lack"),
        (lambda t: estimate_table(two_image_subset(), labels="vote"), "'majority'"),
        (lambda t: estimate_table(make_votes([], [], [])), "no votes"),
    ],
)
def test_bad_consensus_input_is_refused(call, message: str) -> None:
    with pytest.raises(UserError, match=message):
        call(fixed_table(0.5, 0.9, max_votes=5))
    assert issubclass(AnnotationError, UserError)
