"""Annotator quality: accuracy on gold questions, who to stop, answers too fast to be looked at.

A worker's accuracy on gold is a Beta posterior (Beta(1, 1) prior by default): its mean is the
estimate and its equal-tailed credible interval says how sure that is. A worker is stopped only
when the posterior probability that their accuracy is below the threshold exceeds
``confidence`` (0.99), i.e. when they are confidently worse than it: three unlucky answers of a
newcomer stop nobody, a hundred and fifty coin flips do. The check is repeated after every
batch of work, and each look is a chance to stop an honest worker by bad luck; at 0.95 a
simulated honest worker of accuracy 0.71 was stopped after 4 right of 13 (in one run of 30
workers), and at 0.99 one of 0.71 after 1 right of 7 (a 0.3% chance, but taken by 21 honest
workers at every look), hence also a minimum of gold answers (10) before any verdict.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping

import numpy as np
import pandas as pd
from scipy.special import betainc, betaincinv

from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.votes import check_gold, check_votes

__all__ = [
    "CREDIBILITY",
    "MIN_ACCURACY",
    "MIN_GOLD_ANSWERS",
    "MIN_SECONDS",
    "STOP_CONFIDENCE",
    "flag_fast",
    "gold_quality",
    "worker_speed",
    "workers_to_stop",
]

#: Mass of the credible interval of a worker's accuracy.
CREDIBILITY = 0.95
#: Posterior probability of being below MIN_ACCURACY that stops a worker.
STOP_CONFIDENCE = 0.99
#: Gold answers a worker gives before any verdict on them.
MIN_GOLD_ANSWERS = 10
#: Accuracy on gold a worker must not be confidently below (on yes/no, 0.5 is a coin).
MIN_ACCURACY = 0.6
#: Seconds per image under which nobody can have looked: seeing an object takes a person a
#: few hundred milliseconds, and an answer also needs a glance at the thumbnail and a key press.
MIN_SECONDS = 0.5


def gold_quality(
    votes: pd.DataFrame,
    gold: pd.Series | Mapping[Hashable, bool],
    *,
    workers: Collection[Hashable] | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
    credibility: float = CREDIBILITY,
) -> pd.DataFrame:
    """Per worker, accuracy on the gold tasks among ``votes`` as a Beta posterior.

    ``votes``: a vote table (``(n_votes,)`` rows; non-gold tasks are ignored). ``gold``: task
    -> known answer. ``workers``: the known workers (e.g. registered annotators); each gets a
    row, those without gold answers the prior's, and a vote by anyone else is refused.
    Returns, indexed by worker: ``answers`` and ``correct`` (int), ``accuracy`` (posterior
    mean), ``lower`` and ``upper`` (the ``credibility`` equal-tailed interval).
    """
    votes = check_votes(votes, allow_empty=True)
    known = check_gold(gold)
    if len(prior) != 2 or min(prior) <= 0:
        raise AnnotationError(f"prior = {prior}: Beta parameters a, b must be > 0")
    if not 0.0 < credibility < 1.0:
        raise AnnotationError(f"credibility = {credibility}: choose a mass in (0, 1), e.g. 0.95")
    if workers is not None:
        unknown = pd.Index(votes["worker"].unique()).difference(pd.Index(list(workers)))
        if len(unknown):
            raise AnnotationError(
                f"votes by {len(unknown)} unknown worker(s) (e.g. {unknown[0]!r}): register "
                "them, or pass every worker who voted"
            )
    on_gold = votes.loc[votes["task"].isin(known.index)]
    right = on_gold["label"].to_numpy() == on_gold["task"].map(known).to_numpy(dtype=bool)
    tally = (
        pd.DataFrame({"worker": on_gold["worker"], "answers": 1, "correct": right.astype(int)})
        .groupby("worker", sort=False)[["answers", "correct"]]
        .sum()
    )
    index = pd.Index(votes["worker"].unique() if workers is None else list(workers), name="worker")
    tally = tally.reindex(index, fill_value=0).astype(int)
    a = prior[0] + tally["correct"].to_numpy()
    b = prior[1] + (tally["answers"] - tally["correct"]).to_numpy()
    tail = (1.0 - credibility) / 2.0
    return tally.assign(
        accuracy=a / (a + b), lower=betaincinv(a, b, tail), upper=betaincinv(a, b, 1.0 - tail)
    )


def workers_to_stop(
    quality: pd.DataFrame,
    *,
    min_accuracy: float = MIN_ACCURACY,
    confidence: float = STOP_CONFIDENCE,
    min_answers: int = MIN_GOLD_ANSWERS,
    prior: tuple[float, float] = (1.0, 1.0),
) -> pd.Index:
    """The workers of a :func:`gold_quality` table confidently below ``min_accuracy``.

    A worker is returned when they have at least ``min_answers`` gold answers and
    P(accuracy < ``min_accuracy`` | gold answers) > ``confidence`` under the Beta(``prior``)
    posterior of their ``answers`` and ``correct`` columns.
    """
    if not 0.0 < min_accuracy < 1.0:
        raise AnnotationError(f"min accuracy = {min_accuracy}: choose a value in (0, 1)")
    if not 0.0 < confidence < 1.0:
        raise AnnotationError(f"confidence = {confidence}: choose a value in (0, 1), e.g. 0.99")
    a = prior[0] + quality["correct"].to_numpy(dtype=float)
    b = prior[1] + (quality["answers"] - quality["correct"]).to_numpy(dtype=float)
    enough = quality["answers"].to_numpy() >= min_answers
    return quality.index[enough & (betainc(a, b, min_accuracy) > confidence)]


def flag_fast(votes: pd.DataFrame, *, min_seconds: float = MIN_SECONDS) -> pd.Series:
    """Per vote, in the votes' order (index 0..n-1), True where it took under ``min_seconds``."""
    votes = _with_seconds(votes, min_seconds)
    return (votes["seconds"] < min_seconds).rename("fast")


def worker_speed(votes: pd.DataFrame, *, min_seconds: float = MIN_SECONDS) -> pd.DataFrame:
    """Per worker: ``votes``, ``median_seconds`` and ``fast_share`` (answers under
    ``min_seconds``), for stopping or reviewing workers who do not look."""
    votes = _with_seconds(votes, min_seconds)
    frame = pd.DataFrame(
        {
            "worker": votes["worker"],
            "seconds": votes["seconds"],
            "fast": (votes["seconds"] < min_seconds).astype(float),
        }
    )
    grouped = frame.groupby("worker", sort=False)
    return pd.DataFrame(
        {
            "votes": grouped.size().astype(int),
            "median_seconds": grouped["seconds"].median(),
            "fast_share": grouped["fast"].mean(),
        }
    )


def _with_seconds(votes: pd.DataFrame, min_seconds: float) -> pd.DataFrame:
    if not (np.isfinite(min_seconds) and min_seconds > 0):
        raise AnnotationError(f"min seconds = {min_seconds}: choose a time > 0")
    votes = check_votes(votes, allow_empty=True)
    if "seconds" not in votes.columns:
        raise AnnotationError(
            "votes have no 'seconds' column: record how long each answer took to flag fast ones"
        )
    return votes
