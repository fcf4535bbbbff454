"""Dynamic consensus end to end on simulated crowds: precision, votes, model prior, gold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synsetlab.annotate import (
    AnnotationError,
    CrowdConfig,
    SimulatedCrowd,
    model_prior,
    plant_candidates,
    simulate_verification,
    simulate_votes,
)


def test_dynamic_consensus_reaches_the_target_precision() -> None:
    # The default crowd (accuracy ~0.8, 10% spammers) verifies 1,800 candidates, half right.
    candidates = plant_candidates({"a": 600, "b": 600, "c": 600}, seed=0)
    run = simulate_verification(candidates, crowd=SimulatedCrowd(CrowdConfig(seed=0)), seed=0)
    accepted = run.items.loc[run.items["decision"]]
    assert (accepted["p_correct"] >= 0.997).all()
    # ~660 accepted: at a true error rate of 0.3%, 2 wrong are expected and more than 6
    # happen less than once in 200 runs (binomial); seeds 0-3 gave 3, 3, 0, 1.
    assert len(accepted) > 500
    assert (~accepted["truth"]).sum() <= 6
    # The same crowd's majority of 3 is right about 80% of the time.
    assert run.score.votes_per_item < 7.5
    assert len(run.votes) == run.items["votes"].sum() == run.votes_asked
    assert run.items["initial"].sum() == 300
    assert run.fast_votes > 0  # the spammers
    assert set(run.tables) == {"a", "b", "c"}


def test_easy_classes_need_fewer_votes_than_hard_ones() -> None:
    # With up to 20 votes, a hard class (honest accuracy ~0.74 instead of ~0.8) still
    # reaches the target, one vote at a time: seeds 0-3 used 7.9-9.6 votes per easy image
    # and 11.5-12.1 per hard one.
    candidates = plant_candidates({"easy": 400, "hard": 400}, seed=0)
    run = simulate_verification(
        candidates,
        crowd=SimulatedCrowd(CrowdConfig(seed=0)),
        difficulty={"hard": 0.2},
        max_votes=20,
        seed=0,
    )
    per_class = run.items.groupby("synset")
    votes = per_class["votes"].mean()
    assert votes["hard"] > votes["easy"] + 1.5
    precision = per_class.apply(lambda g: g.loc[g["decision"], "truth"].mean())
    assert (precision >= 0.99).all()
    assert (per_class["decision"].sum() > 100).all()


def test_a_model_prior_saves_votes_at_equal_precision() -> None:
    candidates = plant_candidates({"a": 500, "b": 500}, seed=1)
    plain = simulate_verification(candidates, crowd=SimulatedCrowd(CrowdConfig(seed=1)), seed=1)
    prior = model_prior(candidates["truth"].to_numpy(), separation=2.0, seed=1)
    assisted = simulate_verification(
        candidates.assign(prior=prior), crowd=SimulatedCrowd(CrowdConfig(seed=1)), seed=1
    )
    # Seeds 0-3: 6.3-6.6 votes per image without, 5.2-5.5 with; precision 0.997-1.0 both.
    assert assisted.score.votes_per_item < 0.9 * plain.score.votes_per_item
    assert assisted.score.precision >= 0.99
    assert plain.score.precision >= 0.99
    assert assisted.score.recall > plain.score.recall


def test_gold_stops_adversaries_and_discounts_their_votes() -> None:
    config = CrowdConfig(workers=30, spammers=0.2, adversaries=0.1, seed=2)
    crowd = SimulatedCrowd(config)
    candidates = plant_candidates({"a": 500, "b": 500}, seed=2)
    run = simulate_verification(candidates, crowd=crowd, gold=0.2, seed=2)
    stopped = crowd.workers.loc[run.stopped]
    assert set(crowd.workers.index[crowd.workers["kind"] == "adversary"]) <= set(run.stopped)
    # Honest workers are stopped only when truly below the 0.6 threshold (seeds 0-3).
    assert (stopped.loc[stopped["kind"] == "honest", "accuracy"] < 0.6).all()
    assert run.gold_votes > 0 and run.discounted_votes > 0
    assert not run.votes["worker"].isin(run.stopped).any()
    assert run.votes_asked == len(run.votes) + run.discounted_votes


def test_fixed_votes_come_from_distinct_workers() -> None:
    candidates = plant_candidates({"a": 50}, seed=0)
    votes = simulate_votes(
        candidates, crowd=SimulatedCrowd(CrowdConfig(workers=8)), votes_per_item=5
    )
    assert len(votes) == 250
    assert votes.groupby("task")["worker"].nunique().eq(5).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_precision": 1.0}, "strictly between 0.5 and 1"),
        ({"target_precision": 0.4}, "strictly between 0.5 and 1"),
        ({"max_votes": 0}, "at least 1 vote"),
        ({"initial_votes": 80}, "only 50 workers"),
        ({"gold": 1.0}, "gold = 1.0"),
        ({"difficulty": {"zebra": 0.1}}, "no candidates"),
    ],
)
def test_bad_simulation_options_are_refused(options: dict, message: str) -> None:
    candidates = plant_candidates({"a": 10}, seed=0)
    with pytest.raises(AnnotationError, match=message):
        simulate_verification(candidates, crowd=SimulatedCrowd(), **options)


def test_bad_candidates_are_refused() -> None:
    crowd = SimulatedCrowd()
    with pytest.raises(AnnotationError, match="lack column"):
        simulate_verification(pd.DataFrame({"task": ["x"]}), crowd=crowd)
    twice = pd.DataFrame({"task": ["x", "x"], "synset": ["a", "a"], "truth": [True, False]})
    with pytest.raises(AnnotationError, match="appears twice"):
        simulate_verification(twice, crowd=crowd)
    bad_prior = plant_candidates({"a": 4}).assign(prior=np.array([0.1, 2.0, 0.5, 0.5]))
    with pytest.raises(AnnotationError, match="prior"):
        simulate_verification(bad_prior, crowd=crowd)
