"""Verification of candidate labels by a simulated crowd, end to end, with measured precision.

:func:`simulate_verification` runs dynamic consensus (:mod:`synsetlab.annotate.consensus`) as a
server would, in rounds: every image still undecided gets one more vote, each from a worker
drawn at random among those who have not seen it and are not stopped; after the initial subset
of each class has its votes, the class's table is estimated; then the rounds go on until every
image is accepted or rejected. With ``gold > 0`` gold questions are mixed into every worker's
answers; after each round the workers confidently below ``min_accuracy`` on gold are stopped
and their votes discounted (dropped), which sends the images they voted on back for votes.

:func:`simulate_votes` gives every image the same number of votes instead, the input of the
fixed-budget baselines (majority of k, Dawid-Skene). :func:`score_decisions` measures
decisions against the planted truth.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from synsetlab.annotate.consensus import (
    ACCEPT,
    INITIAL_VOTES,
    MAX_VOTES,
    STRENGTH,
    TARGET_PRECISION,
    VOTE,
    ConsensusTable,
    estimate_table,
    next_actions,
    posterior,
)
from synsetlab.annotate.crowd import SimulatedCrowd
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.quality import MIN_ACCURACY, MIN_SECONDS, gold_quality, workers_to_stop

__all__ = [
    "Score",
    "Verification",
    "model_prior",
    "plant_candidates",
    "score_decisions",
    "simulate_verification",
    "simulate_votes",
]

#: Images of each class's initial subset (fewer if the class has fewer).
INITIAL_ITEMS = 100


@dataclass(frozen=True)
class Score:
    """Decisions measured against the truth."""

    #: Images decided yes.
    accepted: int
    #: Share of accepted images whose candidate label is right (NaN if none accepted).
    precision: float
    #: Share of right candidate labels that were accepted.
    recall: float
    #: Votes asked per image (for dynamic consensus: discarded votes included, gold excluded).
    votes_per_item: float


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`simulate_verification`."""

    #: One row per candidate (index ``task``): ``synset``, ``truth``, ``decision`` (bool),
    #: ``p_correct`` (posterior at the decision), ``votes`` (valid votes), ``initial``
    #: (in the initial subset).
    items: pd.DataFrame
    #: The valid votes (task, worker, label, seconds), in the order cast.
    votes: pd.DataFrame
    #: The consensus table of each synset.
    tables: dict[Hashable, ConsensusTable]
    #: Precision, recall and votes per image of the decisions.
    score: Score
    #: Votes asked on the candidates (discounted ones included, gold answers not).
    votes_asked: int
    #: Gold questions answered.
    gold_votes: int
    #: Votes of stopped workers, dropped.
    discounted_votes: int
    #: Votes that took under :data:`~synsetlab.annotate.quality.MIN_SECONDS`.
    fast_votes: int
    #: Workers stopped for their gold accuracy, in the order stopped.
    stopped: list[Hashable] = field(default_factory=list)


def plant_candidates(
    synsets: Mapping[Hashable, int], *, correct: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """Candidate labels with a planted truth: ``synsets`` maps each synset to its image count.

    Returns columns ``task`` (``"<synset>/<i>"``), ``synset`` and ``truth`` (bool, exactly
    ``round(correct * count)`` right per synset, in random order).
    """
    if not 0.0 <= correct <= 1.0:
        raise AnnotationError(f"correct = {correct}: a share in [0, 1]")
    rng = np.random.default_rng(seed)
    frames = []
    for synset, count in synsets.items():
        truth = np.arange(count) < round(correct * count)
        frames.append(
            pd.DataFrame(
                {
                    "task": [f"{synset}/{i}" for i in range(count)],
                    "synset": synset,
                    "truth": rng.permutation(truth),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def model_prior(
    truth: np.ndarray, *, separation: float = 2.0, base_rate: float = 0.5, seed: int = 0
) -> np.ndarray:
    """``(n,)`` calibrated probabilities from a simulated model that sees ``truth`` ``(n,)``.

    The model's score is N(+separation/2, 1) on right labels and N(-separation/2, 1) on wrong
    ones; the probability is the exact posterior at ``base_rate``, so it is calibrated when
    that is the true share. ``separation`` 0 = no skill, 2 = a fair model, 4 = a strong one.
    """
    truth = np.asarray(truth, dtype=bool)
    rng = np.random.default_rng(seed)
    score = np.where(truth, separation / 2, -separation / 2) + rng.standard_normal(truth.shape)
    log_odds = np.log(base_rate / (1.0 - base_rate)) + separation * score
    return 1.0 / (1.0 + np.exp(-log_odds))


def score_decisions(decision: np.ndarray, truth: np.ndarray, *, votes: int | None = None) -> Score:
    """Precision and recall of ``decision`` ``(n,)`` bool against ``truth`` ``(n,)`` bool."""
    decision = np.asarray(decision, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    accepted = int(decision.sum())
    hits = int((decision & truth).sum())
    return Score(
        accepted=accepted,
        precision=hits / accepted if accepted else float("nan"),
        recall=hits / int(truth.sum()) if truth.any() else float("nan"),
        votes_per_item=(votes or 0) / len(truth) if len(truth) else float("nan"),
    )


class _Pool:
    """The vote log of one simulation and who has seen what; hands items to workers."""

    def __init__(
        self, crowd: SimulatedCrowd, candidates: pd.DataFrame, difficulty: np.ndarray, seed: int
    ) -> None:
        self.crowd = crowd
        self.truth = candidates["truth"].to_numpy(dtype=bool)
        self.difficulty = difficulty
        self.workers = np.asarray(crowd.ids, dtype=object)
        self.rng = np.random.default_rng(seed)
        self.seen = np.zeros((len(self.truth), len(self.workers)), dtype=bool)
        self.stopped = np.zeros(len(self.workers), dtype=bool)
        self.item: list[np.ndarray] = []
        self.worker: list[np.ndarray] = []
        self.label: list[np.ndarray] = []
        self.seconds: list[np.ndarray] = []

    def ask(self, items: np.ndarray) -> np.ndarray:
        """One vote on each of ``items`` (indices); returns the items no worker is left for."""
        scores = self.rng.random((len(items), len(self.workers)))
        scores[self.seen[items] | self.stopped] = -1.0
        chosen = scores.argmax(axis=1)
        free = scores[np.arange(len(items)), chosen] >= 0
        items, chosen = items[free], chosen[free]
        for w in np.unique(chosen):
            mine = items[chosen == w]
            answers = self.crowd.answer(
                self.workers[w], self.truth[mine], difficulty=self.difficulty[mine]
            )
            self.seen[mine, w] = True
            self.item.append(mine)
            self.worker.append(np.full(len(mine), w))
            self.label.append(answers.labels)
            self.seconds.append(answers.seconds)
        return ~free

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(item, worker, label, seconds) of every vote, in order; also compacts the log."""
        if not self.item:
            return (np.zeros(0, int), np.zeros(0, int), np.zeros(0, bool), np.zeros(0))
        parts = (self.item, self.worker, self.label, self.seconds)
        merged = tuple(np.concatenate(p) for p in parts)
        self.item, self.worker, self.label, self.seconds = ([m] for m in merged)
        return merged

    def table(self, tasks: np.ndarray, keep: np.ndarray | None = None) -> pd.DataFrame:
        """The votes (optionally only ``keep``) as a vote table with ``tasks`` as ids."""
        item, worker, label, seconds = self.arrays()
        if keep is not None:
            item, worker, label, seconds = item[keep], worker[keep], label[keep], seconds[keep]
        workers = self.workers[worker]
        return pd.DataFrame(
            {"task": tasks[item], "worker": workers, "label": label, "seconds": seconds}
        )


def simulate_votes(
    candidates: pd.DataFrame,
    *,
    crowd: SimulatedCrowd,
    votes_per_item: int,
    difficulty: Mapping[Hashable, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A vote table giving each candidate ``votes_per_item`` votes from distinct workers.

    ``candidates``: columns ``task``, ``synset``, ``truth`` (see :func:`plant_candidates`).
    Votes are cast in rounds of one per image, so :func:`~synsetlab.annotate.votes.first_votes`
    of k is the k-vote budget.
    """
    if votes_per_item < 1:
        raise AnnotationError(f"votes per item = {votes_per_item}: need at least 1")
    candidates, item_difficulty = _check_candidates(candidates, difficulty)
    if votes_per_item > len(crowd.ids):
        raise AnnotationError(
            f"{votes_per_item} votes per item but only {len(crowd.ids)} workers: a worker "
            "answers an image once"
        )
    pool = _Pool(crowd, candidates, item_difficulty, seed)
    everything = np.arange(len(candidates))
    for _ in range(votes_per_item):
        pool.ask(everything)
    return pool.table(candidates["task"].to_numpy(dtype=object))


def simulate_verification(
    candidates: pd.DataFrame,
    *,
    crowd: SimulatedCrowd,
    difficulty: Mapping[Hashable, float] | None = None,
    target_precision: float = TARGET_PRECISION,
    max_votes: int = MAX_VOTES,
    initial_items: int = INITIAL_ITEMS,
    initial_votes: int = INITIAL_VOTES,
    strength: float = STRENGTH,
    subset_labels: Literal["fitted", "majority"] = "fitted",
    gold: float = 0.0,
    min_accuracy: float = MIN_ACCURACY,
    seed: int = 0,
) -> Verification:
    """Dynamic consensus over ``candidates`` with ``crowd``, measured against their truth.

    ``candidates``: one row per candidate label, columns ``task`` (unique id), ``synset``,
    ``truth`` (bool, hidden from the procedure) and optionally ``prior`` (a model's
    probability that the label is right, used as each image's prior). ``difficulty``: synset ->
    difficulty in [0, 1] (default 0). ``initial_items`` images per synset get
    ``initial_votes`` votes for the table; the others vote until ``target_precision`` or
    ``max_votes``; ``subset_labels`` says how the subset's truth is taken for the table
    (``"majority"`` as ImageNet, see :func:`~synsetlab.annotate.consensus.estimate_table`).
    ``gold``: share of each worker's answers that are gold questions (0 = none);
    workers confidently below ``min_accuracy`` on them are stopped and their votes discounted.
    """
    candidates, item_difficulty = _check_candidates(candidates, difficulty)
    if not 0.5 < target_precision < 1.0:
        raise AnnotationError(
            f"target precision = {target_precision}: choose a value strictly between 0.5 and 1"
        )
    for name, value in (("max votes", max_votes), ("initial votes", initial_votes)):
        if value < 1:
            raise AnnotationError(f"{name} = {value}: an image needs at least 1 vote")
    if subset_labels not in ("fitted", "majority"):
        raise AnnotationError(f"subset labels = {subset_labels!r}: 'fitted' or 'majority'")
    if initial_items < 1:
        raise AnnotationError(f"initial items = {initial_items}: the table needs images")
    if not 0.0 <= gold < 1.0:
        raise AnnotationError(f"gold = {gold}: a share of the answers in [0, 1)")
    if initial_votes > len(crowd.ids):
        raise AnnotationError(
            f"{initial_votes} initial votes but only {len(crowd.ids)} workers: a worker "
            "answers an image once"
        )

    rng = np.random.default_rng(seed)
    tasks = candidates["task"].to_numpy(dtype=object)
    synsets = candidates["synset"].to_numpy(dtype=object)
    classes = pd.unique(synsets)
    prior = candidates["prior"].to_numpy(dtype=float) if "prior" in candidates else None
    pool = _Pool(crowd, candidates, item_difficulty, seed + 1)
    checker = _GoldChecker(
        pool, gold, min_accuracy, rng, [item_difficulty[synsets == c][0] for c in classes]
    )
    initial = np.zeros(len(candidates), dtype=bool)
    for c in classes:
        members = np.flatnonzero(synsets == c)
        initial[rng.choice(members, size=min(initial_items, len(members)), replace=False)] = True

    exhausted = np.zeros(len(candidates), dtype=bool)
    while True:
        yes, no = _valid_counts(pool, checker, len(candidates))
        need = np.flatnonzero(initial & (yes + no < initial_votes) & ~exhausted)
        if not len(need):
            break
        exhausted[need[pool.ask(need)]] = True
        checker.round()

    size = max(max_votes, initial_votes)
    keep = checker.valid()
    item_of_vote = pool.arrays()[0]
    tables = {}
    for c in classes:
        subset_votes = keep & initial[item_of_vote] & (synsets[item_of_vote] == c)
        tables[c] = estimate_table(
            pool.table(tasks, subset_votes),
            labels=None if subset_labels == "fitted" else "majority",
            max_votes=size,
            strength=strength,
        )

    while True:
        yes, no = _valid_counts(pool, checker, len(candidates))
        actions = np.empty(len(candidates), dtype=object)
        for c in classes:
            rows = synsets == c
            actions[rows] = next_actions(
                yes[rows],
                no[rows],
                table=tables[c],
                target_precision=target_precision,
                max_votes=max_votes,
                prior=None if prior is None else prior[rows],
            )
        pending = np.flatnonzero((actions == VOTE) & ~exhausted)
        if not len(pending):
            break
        exhausted[pending[pool.ask(pending)]] = True
        checker.round()

    p_correct = np.empty(len(candidates))
    for c in classes:
        rows = synsets == c
        p_correct[rows] = posterior(
            yes[rows], no[rows], table=tables[c], prior=None if prior is None else prior[rows]
        )
    # An image no worker is left for is decided on what it has, as at the vote limit.
    decision = (actions == ACCEPT) | ((actions == VOTE) & (p_correct >= target_precision))
    votes = pool.table(tasks, checker.valid())
    asked = len(pool.arrays()[0])
    items = pd.DataFrame(
        {
            "synset": synsets,
            "truth": candidates["truth"].to_numpy(dtype=bool),
            "decision": decision,
            "p_correct": p_correct,
            "votes": yes + no,
            "initial": initial,
        },
        index=pd.Index(tasks, name="task"),
    )
    return Verification(
        items=items,
        votes=votes,
        tables=tables,
        score=score_decisions(decision, items["truth"].to_numpy(), votes=asked),
        votes_asked=asked,
        gold_votes=checker.gold_votes,
        discounted_votes=asked - len(votes),
        fast_votes=int((pool.arrays()[3] < MIN_SECONDS).sum()),
        stopped=list(pool.workers[checker.stopped_order]),
    )


class _GoldChecker:
    """Gold questions mixed into each round's work, and the stopping of bad workers."""

    def __init__(
        self,
        pool: _Pool,
        share: float,
        min_accuracy: float,
        rng: np.random.Generator,
        difficulties: list[float],
    ) -> None:
        self.pool, self.share, self.min_accuracy, self.rng = pool, share, min_accuracy, rng
        self.difficulties = np.asarray(difficulties, dtype=float)
        self.cast = 0  # votes of the pool already matched with gold questions
        self.gold_worker: list[np.ndarray] = []
        self.gold_right: list[np.ndarray] = []
        self.gold_votes = 0
        self.stopped_order: list[int] = []

    def round(self) -> None:
        """Gold questions for the votes cast since the last round; stop bad workers."""
        if self.share == 0:
            return
        worker = self.pool.arrays()[1]
        per_worker = np.bincount(worker[self.cast :], minlength=len(self.pool.workers))
        self.cast = len(worker)
        # gold / (1 - gold) gold questions per real vote make gold that share of all answers.
        questions = self.rng.binomial(per_worker, self.share / (1.0 - self.share))
        for w in np.flatnonzero(questions):
            truth = self.rng.random(questions[w]) < 0.5
            difficulty = self.rng.choice(self.difficulties, size=questions[w])
            answers = self.pool.crowd.answer(self.pool.workers[w], truth, difficulty=difficulty)
            self.gold_worker.append(np.full(questions[w], w))
            self.gold_right.append(answers.labels == truth)
        self.gold_votes += int(questions.sum())
        if not self.gold_worker:
            return
        worker_ids = np.concatenate(self.gold_worker)
        right = np.concatenate(self.gold_right)
        # Gold tasks are unique per question here, so task i's answer is True iff right.
        votes = pd.DataFrame({"task": np.arange(len(right)), "worker": worker_ids, "label": right})
        quality = gold_quality(votes, pd.Series(True, index=np.arange(len(right))))
        for w in workers_to_stop(quality, min_accuracy=self.min_accuracy):
            if not self.pool.stopped[w]:
                self.pool.stopped[w] = True
                self.stopped_order.append(int(w))

    def valid(self) -> np.ndarray:
        """Per vote of the pool, False where its worker has been stopped (discounted)."""
        return ~self.pool.stopped[self.pool.arrays()[1]]


def _valid_counts(pool: _Pool, checker: _GoldChecker, n: int) -> tuple[np.ndarray, np.ndarray]:
    item, _, label, _ = pool.arrays()
    keep = checker.valid()
    yes = np.bincount(item[keep & label], minlength=n)
    no = np.bincount(item[keep & ~label], minlength=n)
    return yes, no


def _check_candidates(
    candidates: pd.DataFrame, difficulty: Mapping[Hashable, float] | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """``candidates`` checked and re-indexed, and each candidate's difficulty ``(n,)``."""
    missing = [c for c in ("task", "synset", "truth") if c not in candidates.columns]
    if missing:
        raise AnnotationError(
            f"candidates lack column(s) {', '.join(missing)}: need task, synset, truth "
            "(and optionally prior)"
        )
    if candidates.empty:
        raise AnnotationError("no candidates to verify")
    if candidates["task"].duplicated().any():
        task = candidates.loc[candidates["task"].duplicated(), "task"].iloc[0]
        raise AnnotationError(f"task {task!r} appears twice among the candidates")
    if "prior" in candidates:
        prior = candidates["prior"].to_numpy(dtype=float)
        if not np.all((prior >= 0) & (prior <= 1)):
            raise AnnotationError("candidates' prior must be probabilities in [0, 1]")
    difficulty = dict(difficulty or {})
    unknown = set(difficulty) - set(candidates["synset"])
    if unknown:
        raise AnnotationError(
            f"difficulty names synset(s) with no candidates: {sorted(map(str, unknown))[:3]}"
        )
    item_difficulty = candidates["synset"].map(lambda s: difficulty.get(s, 0.0)).to_numpy(float)
    if not np.all((item_difficulty >= 0) & (item_difficulty <= 1)):
        raise AnnotationError("difficulty must be in [0, 1] (0 = easy, 1 = a coin flip)")
    return candidates.reset_index(drop=True), item_difficulty
