"""The simulated crowd: its make-up, its accuracy and speed, and reproducible answers."""

from __future__ import annotations

import numpy as np
import pytest

from synsetlab.annotate import AnnotationError, CrowdConfig, SimulatedCrowd


def test_crowd_make_up_follows_the_config() -> None:
    crowd = SimulatedCrowd(CrowdConfig(workers=40, spammers=0.1, adversaries=0.25, seed=3))
    kinds = crowd.workers["kind"].value_counts().to_dict()
    assert kinds == {"honest": 26, "adversary": 10, "random": 2, "always-yes": 2}
    assert crowd.ids[0] == "w00" and len(crowd.ids) == 40
    honest = crowd.workers.loc[crowd.workers["kind"] == "honest", "accuracy"]
    assert honest.between(0, 1).all() and honest.nunique() == len(honest)


def test_answers_follow_accuracy_difficulty_and_kind() -> None:
    crowd = SimulatedCrowd(CrowdConfig(workers=20, spammers=0.2, adversaries=0.2, seed=0))
    truth = np.arange(4000) % 2 == 0
    for worker, row in crowd.workers.iterrows():
        easy = crowd.answer(worker, truth)
        hard = crowd.answer(worker, truth, difficulty=0.5)
        right_easy = (easy.labels == truth).mean()
        right_hard = (hard.labels == truth).mean()
        if row["kind"] == "honest":
            # 4000 answers: a binomial standard error under 0.008.
            assert right_easy == pytest.approx(row["accuracy"], abs=0.03)
            assert right_hard == pytest.approx(0.5 + (row["accuracy"] - 0.5) / 2, abs=0.03)
            assert np.median(easy.seconds) == pytest.approx(3.0, rel=0.1)
            assert np.median(hard.seconds) == pytest.approx(4.5, rel=0.1)
        elif row["kind"] == "adversary":
            assert right_easy == pytest.approx(1 - row["accuracy"], abs=0.03)
        elif row["kind"] == "always-yes":
            assert easy.labels.all()
        else:
            assert right_easy == pytest.approx(0.5, abs=0.03)
        if row["kind"] in ("random", "always-yes"):
            assert np.median(easy.seconds) < 0.5  # faster than anyone can look


def test_a_workers_answers_do_not_depend_on_other_workers_requests() -> None:
    truth = np.array([True, False] * 50)
    first = SimulatedCrowd(CrowdConfig(workers=5, seed=7))
    a = first.answer("w1", truth).labels
    second = SimulatedCrowd(CrowdConfig(workers=5, seed=7))
    second.answer("w2", truth)  # another worker's request in between
    second.answer("w3", truth)
    assert (second.answer("w1", truth).labels == a).all()
    other_seed = SimulatedCrowd(CrowdConfig(workers=5, seed=8)).answer("w1", truth).labels
    assert not (other_seed == a).all()


def test_bad_requests_and_configs_are_refused() -> None:
    crowd = SimulatedCrowd(CrowdConfig(workers=3))
    with pytest.raises(AnnotationError, match="unknown worker 'w9'"):
        crowd.answer("w9", np.array([True]))
    with pytest.raises(AnnotationError, match="difficulty must be in"):
        crowd.answer("w0", np.array([True]), difficulty=2.0)
    with pytest.raises(AnnotationError, match=r"spammers = 1\.5"):
        SimulatedCrowd(CrowdConfig(spammers=1.5))
    with pytest.raises(AnnotationError, match="workers = 0"):
        SimulatedCrowd(CrowdConfig(workers=0))
