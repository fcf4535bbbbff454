"""Majority vote and Dawid-Skene (crowd-kit) over simulated crowds, with and without gold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synsetlab.annotate import (
    AnnotationError,
    CrowdConfig,
    SimulatedCrowd,
    dawid_skene,
    majority_vote,
    make_votes,
    plant_candidates,
    simulate_votes,
)


def crowd_votes(config: CrowdConfig, items: int, votes: int) -> tuple[pd.DataFrame, pd.Series]:
    """``votes`` votes on each of ``items`` candidates (half right), and their truth."""
    candidates = plant_candidates({"n0001": items}, seed=config.seed)
    table = simulate_votes(
        candidates, crowd=SimulatedCrowd(config), votes_per_item=votes, seed=config.seed
    )
    return table, candidates.set_index("task")["truth"]


def accuracy(decision: pd.Series, truth: pd.Series) -> float:
    return float((decision == truth.reindex(decision.index)).mean())


def test_majority_counts_and_rejects_ties() -> None:
    votes = make_votes(["a", "a", "a", "b", "b"], ["w1", "w2", "w3", "w1", "w2"], [1, 1, 0, 1, 0])
    result = majority_vote(votes)
    assert result.items.loc["a", "decision"]
    assert result.items.loc["a", "p_yes"] == pytest.approx(2 / 3)
    assert not result.items.loc["b", "decision"]  # 1-1: no evidence, no label
    assert majority_vote(votes, ties="accept").items.loc["b", "decision"]
    assert result.items["votes"].tolist() == [3, 2]
    # w3 disagreed with the majority on its only task.
    assert result.workers.loc["w3", "accuracy"] == 0.0
    assert result.workers.loc["w2", "accuracy"] == 1.0  # with both decisions
    assert result.workers.loc["w1", "accuracy"] == 0.5  # its yes on the tie was rejected


def test_majority_and_dawid_skene_agree_on_an_easy_crowd() -> None:
    # Ten workers right 90% of the time on average, five votes each: the majority is
    # wrong on ~1% of images, and Dawid-Skene has nobody to discount.
    config = CrowdConfig(workers=10, accuracy=(18.0, 2.0), spammers=0.0, seed=0)
    votes, truth = crowd_votes(config, items=150, votes=5)
    majority, ds = majority_vote(votes), dawid_skene(votes)
    assert (majority.items["decision"] == ds.items["decision"]).mean() >= 0.97
    assert accuracy(ds.items["decision"], truth) >= 0.95
    assert ds.items["p_yes"].between(0, 1).all()
    assert set(ds.workers.columns) == {"votes", "accuracy", "sensitivity", "specificity"}
    assert ds.workers["accuracy"].mean() == pytest.approx(0.9, abs=0.05)


def test_dawid_skene_beats_majority_with_spammers_and_adversaries() -> None:
    # Half the crowd honest (accuracy ~0.85), 30% adversaries, 20% coin-flipping spammers:
    # a vote is right with probability ~0.57, so the majority of 5 is right ~65% of the
    # time; Dawid-Skene learns who inverts and who guesses, and reads the adversaries'
    # votes backwards (0.90-0.945 over seeds 0-4, majority 0.625-0.715).
    config = CrowdConfig(
        workers=20, accuracy=(17.0, 3.0), spammers=0.2, always_yes=0.0, adversaries=0.3, seed=0
    )
    votes, truth = crowd_votes(config, items=200, votes=5)
    majority = accuracy(majority_vote(votes).items["decision"], truth)
    ds = dawid_skene(votes)
    assert accuracy(ds.items["decision"], truth) >= majority + 0.15
    assert accuracy(ds.items["decision"], truth) >= 0.85
    kinds = SimulatedCrowd(config).workers["kind"]
    assert ds.workers.loc[kinds == "adversary", "accuracy"].max() < 0.4


def test_gold_fixes_dawid_skene_when_adversaries_outnumber_the_honest() -> None:
    # Three adversaries and two honest workers answer everything: the majority is wrong
    # ~90% of the time and EM, started from it, settles on the inverted solution. Thirty
    # gold images (20%) show that the majority lies, and the answer flips (over seeds 0-4:
    # 0-2.5% right without gold, 98-100% with).
    config = CrowdConfig(workers=5, accuracy=(18.0, 2.0), spammers=0.0, adversaries=0.6, seed=0)
    votes, truth = crowd_votes(config, items=150, votes=5)
    gold = truth.iloc[:30]
    rest = truth.index[30:]
    plain = dawid_skene(votes).items["decision"].reindex(rest)
    fixed = dawid_skene(votes, gold=gold).items
    assert accuracy(plain, truth) < 0.1
    assert accuracy(fixed["decision"].reindex(rest), truth) > 0.9
    assert fixed.loc[gold.index, "gold"].all()
    assert (fixed.loc[gold.index, "decision"] == gold).all()
    assert set(fixed.loc[gold.index, "p_yes"]) <= {0.0, 1.0}


def test_gold_overrides_the_majority() -> None:
    votes = make_votes(["a", "a", "a"], ["w1", "w2", "w3"], [1, 1, 1])
    result = majority_vote(votes, gold={"a": False})
    assert not result.items.loc["a", "decision"]
    assert result.items.loc["a", "gold"]
    assert result.workers["accuracy"].tolist() == [0.0, 0.0, 0.0]


def test_aggregation_refuses_bad_input() -> None:
    empty = pd.DataFrame({"task": [], "worker": [], "label": []})
    with pytest.raises(AnnotationError, match="no votes"):
        majority_vote(empty)
    with pytest.raises(AnnotationError, match="no votes"):
        dawid_skene(empty)
    votes = make_votes(["a"], ["w1"], [True])
    with pytest.raises(AnnotationError, match="gold task"):
        dawid_skene(votes, gold={"unknown-task": True})
    with pytest.raises(AnnotationError, match="ties"):
        majority_vote(votes, ties="coin")  # type: ignore[arg-type]
    assert np.isnan(majority_vote(votes).workers.loc["w1", "specificity"])
