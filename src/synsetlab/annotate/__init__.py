"""Annotation: crowd verification of candidate labels, as plain functions over vote tables.

- :mod:`~synsetlab.annotate.votes`: the vote table (crowd-kit's ``task, worker, label``), gold;
- :mod:`~synsetlab.annotate.aggregate`: majority vote and Dawid-Skene (crowd-kit), gold fixed;
- :mod:`~synsetlab.annotate.consensus`: ImageNet's dynamic consensus (table, next action);
- :mod:`~synsetlab.annotate.hierarchy`: a yes for a synset is a yes for its ancestors;
- :mod:`~synsetlab.annotate.quality`: annotator accuracy on gold, stopping, too-fast answers;
- :mod:`~synsetlab.annotate.crowd`: a simulated crowd (accuracy, spammers, adversaries, speed);
- :mod:`~synsetlab.annotate.simulate`: verification by the simulated crowd, measured.

Nothing here touches the catalog or the web: the catalog and server layers store votes and
call these functions.
"""

from synsetlab.annotate.aggregate import Aggregation, dawid_skene, majority_vote
from synsetlab.annotate.consensus import (
    ACCEPT,
    REJECT,
    VOTE,
    ConsensusTable,
    estimate_table,
    fit_independence,
    independence_table,
    next_action,
    next_actions,
    posterior,
)
from synsetlab.annotate.crowd import Answers, CrowdConfig, SimulatedCrowd
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.hierarchy import ancestors_from_parents, propagate_yes
from synsetlab.annotate.quality import flag_fast, gold_quality, worker_speed, workers_to_stop
from synsetlab.annotate.simulate import (
    Score,
    Verification,
    model_prior,
    plant_candidates,
    score_decisions,
    simulate_verification,
    simulate_votes,
)
from synsetlab.annotate.votes import check_gold, check_votes, first_votes, make_votes, vote_counts

__all__ = [
    "ACCEPT",
    "REJECT",
    "VOTE",
    "Aggregation",
    "AnnotationError",
    "Answers",
    "ConsensusTable",
    "CrowdConfig",
    "Score",
    "SimulatedCrowd",
    "Verification",
    "ancestors_from_parents",
    "check_gold",
    "check_votes",
    "dawid_skene",
    "estimate_table",
    "first_votes",
    "fit_independence",
    "flag_fast",
    "gold_quality",
    "independence_table",
    "majority_vote",
    "make_votes",
    "model_prior",
    "next_action",
    "next_actions",
    "plant_candidates",
    "posterior",
    "propagate_yes",
    "score_decisions",
    "simulate_verification",
    "simulate_votes",
    "vote_counts",
    "worker_speed",
    "workers_to_stop",
]
