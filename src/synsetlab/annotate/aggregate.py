"""Aggregation of yes/no votes into one decision per task: majority vote and Dawid-Skene.

Both take a vote table (:mod:`synsetlab.annotate.votes`) and optional gold answers, and return
an :class:`Aggregation`: per task the decision, the posterior P(yes) and the votes it used; per
worker the estimated accuracy and confusion (sensitivity = P(yes | truly yes), specificity =
P(no | truly no)).

Dawid-Skene is crowd-kit's (:class:`crowdkit.aggregation.DawidSkene`): each worker gets a 2x2
confusion matrix, estimated by EM jointly with the task posteriors. Gold tasks are clamped to
their known answer at every EM step (crowd-kit's ``true_labels``), so they teach the model who
answers well instead of being outvoted. Dynamic consensus, which also decides how many votes to
collect, is :mod:`synsetlab.annotate.consensus`.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.votes import check_gold, check_votes, vote_counts

__all__ = ["Aggregation", "dawid_skene", "majority_vote"]

Ties = Literal["reject", "accept"]


@dataclass(frozen=True)
class Aggregation:
    """What an aggregation method concluded."""

    #: ``"majority"`` or ``"dawid-skene"``.
    method: str
    #: One row per task (index ``task``, order of first vote): ``decision`` (bool, yes =
    #: the candidate label is right), ``p_yes`` (float, the posterior P(yes); for majority
    #: the share of yes votes; 1 or 0 on gold tasks), ``votes`` (int, votes used), ``gold``
    #: (bool, a gold task whose decision is its known answer).
    items: pd.DataFrame
    #: One row per worker (index ``worker``): ``votes`` (int), ``accuracy`` (expected share
    #: of right answers on the worker's tasks), ``sensitivity`` P(yes | truly yes) and
    #: ``specificity`` P(no | truly no); NaN where the worker saw no task of that truth.
    workers: pd.DataFrame


def majority_vote(
    votes: pd.DataFrame,
    *,
    gold: pd.Series | Mapping[Hashable, bool] | None = None,
    ties: Ties = "reject",
) -> Aggregation:
    """Each task's decision is its majority answer; gold tasks take their known answer.

    ``votes``: a vote table, ``(n_votes,)`` rows. ``ties``: what an even split decides;
    ``"reject"`` by default, because verification accepts a label only on evidence
    (crowd-kit's ``MajorityVote`` breaks ties arbitrarily, hence this small function).
    Worker accuracy and confusion are measured against the decisions.
    """
    votes = check_votes(votes)
    if ties not in ("reject", "accept"):
        raise AnnotationError(f"ties = {ties!r}: choose 'reject' or 'accept'")
    counts = vote_counts(votes)
    p_yes = counts["yes"] / (counts["yes"] + counts["no"])
    decision = (p_yes > 0.5) | ((p_yes == 0.5) & (ties == "accept"))
    is_gold = pd.Series(False, index=counts.index)
    if gold is not None:
        known = check_gold(gold, votes)
        decision.loc[known.index] = known
        p_yes.loc[known.index] = known.astype(float)
        is_gold.loc[known.index] = True
    items = pd.DataFrame(
        {
            "decision": decision.astype(bool),
            "p_yes": p_yes.astype(float),
            "votes": counts.sum(axis=1).astype(int),
            "gold": is_gold,
        }
    )
    return Aggregation("majority", items, _worker_table(votes, items["decision"].astype(float)))


def dawid_skene(
    votes: pd.DataFrame,
    *,
    gold: pd.Series | Mapping[Hashable, bool] | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> Aggregation:
    """Dawid-Skene (crowd-kit) over ``votes``, gold tasks clamped to their known answers.

    ``votes``: a vote table, ``(n_votes,)`` rows. ``gold``: task -> known answer, every task
    among the votes. ``max_iter``/``tol``: EM's limit and stopping tolerance (per-vote change
    of the evidence lower bound). The decision is ``p_yes > 0.5``. Per worker, sensitivity
    and specificity are crowd-kit's confusion matrix; accuracy is the expected share of the
    worker's answers that agree with the posteriors.
    """
    votes = check_votes(votes)
    if max_iter < 1:
        raise AnnotationError(f"max_iter = {max_iter}: EM needs at least one iteration")
    known = None if gold is None else check_gold(gold, votes)
    model = _fit_crowdkit(votes, known, max_iter=max_iter, tol=tol)
    counts = vote_counts(votes)
    p_yes = model.probas_.reindex(columns=[True], fill_value=0.0)[True].reindex(counts.index)
    is_gold = pd.Series(counts.index.isin([] if known is None else known.index), counts.index)
    if known is not None:
        # crowd-kit clamps gold to exactly 0/1, then clips its posteriors to 1e-10 in place
        # while computing the loss; a known answer is certain.
        p_yes.loc[known.index] = known.astype(float)
    items = pd.DataFrame(
        {
            "decision": p_yes > 0.5,
            "p_yes": p_yes.astype(float),
            "votes": counts.sum(axis=1).astype(int),
            "gold": is_gold,
        }
    )
    workers = _worker_table(votes, items["p_yes"])
    errors = model.errors_  # index (worker, observed label), columns: true label
    workers["sensitivity"] = _confusion_cell(errors, workers.index, observed=True, truth=True)
    workers["specificity"] = _confusion_cell(errors, workers.index, observed=False, truth=False)
    return Aggregation("dawid-skene", items, workers)


def _fit_crowdkit(votes: pd.DataFrame, gold: pd.Series | None, *, max_iter: int, tol: float):
    """crowd-kit's DawidSkene fitted on ``votes``; imported here, as it takes seconds (nltk)."""
    from crowdkit.aggregation import DawidSkene

    with warnings.catch_warnings():
        # crowd-kit 1.4 still passes pandas' deprecated ``inplace``/``copy`` keywords; the
        # warnings are crowd-kit's to fix and would otherwise flood every EM iteration.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"crowdkit\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"crowdkit\.")
        # ``true_labels`` sets the gold tasks' posteriors to their known answer after the
        # majority-vote initialisation and after every E-step, so each M-step learns the
        # workers' confusion from them (checked in crowd-kit 1.4.2's DawidSkene.fit).
        return DawidSkene(n_iter=max_iter, tol=tol).fit(
            votes[["task", "worker", "label"]], true_labels=gold
        )


def _confusion_cell(
    errors: pd.DataFrame, workers: pd.Index, *, observed: bool, truth: bool
) -> np.ndarray:
    """P(answer ``observed`` | truth ``truth``) per worker; 0 where the worker never answered
    it, NaN for all when no vote had that answer (crowd-kit then knows only one label)."""
    if truth not in errors.columns:
        return np.full(len(workers), np.nan)
    column = errors[truth]
    index = pd.MultiIndex.from_arrays([workers, np.full(len(workers), observed)])
    return column.reindex(index, fill_value=0.0).to_numpy(dtype=float)


def _worker_table(votes: pd.DataFrame, p_yes: pd.Series) -> pd.DataFrame:
    """Per worker: votes, accuracy, sensitivity, specificity against soft truths ``p_yes``."""
    p = votes["task"].map(p_yes).to_numpy(dtype=float)
    yes = votes["label"].to_numpy(dtype=bool)
    parts = pd.DataFrame(
        {
            "worker": votes["worker"],
            "votes": 1,
            "right": np.where(yes, p, 1.0 - p),
            "true_yes": p,
            "yes_on_yes": np.where(yes, p, 0.0),
            "true_no": 1.0 - p,
            "no_on_no": np.where(yes, 0.0, 1.0 - p),
        }
    )
    sums = parts.groupby("worker", sort=False).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "votes": sums["votes"].astype(int),
                "accuracy": sums["right"] / sums["votes"],
                "sensitivity": (sums["yes_on_yes"] / sums["true_yes"]).where(sums["true_yes"] > 0),
                "specificity": (sums["no_on_no"] / sums["true_no"]).where(sums["true_no"] > 0),
            }
        )
