"""ImageNet's dynamic consensus: collect votes on an image until its label is sure enough.

Deng et al. (2009, "ImageNet: a large-scale hierarchical image database", sec. 3.2) let the
number of votes an image needs follow how hard its synset is. Per synset:

1. an initial subset of candidate images gets many votes each (``INITIAL_VOTES``, 10 there);
2. from it, :func:`estimate_table` estimates P(label correct | y yes votes, n no votes) for
   every (y, n) up to the vote limit, the truth of each subset image taken from its votes;
3. every other image collects one vote at a time; :func:`next_actions` says after each vote
   whether its posterior has reached the target precision (accept), cannot reach it within
   the vote limit or is as sure the label is wrong (reject), or needs another vote.

The table is estimated without assuming an order of the votes: an image with Y yes and N no
among its K votes contributes to cell (y, n) with y + n = t the hypergeometric probability that
t of its votes, drawn in random order, hold y yes (ImageNet's prefixes of the vote sequence,
averaged over orders). A subset of a hundred images leaves the cells of rare vote patterns
with few or no images, so each cell is smoothed with a Beta prior of ``strength`` pseudo-images
centred on the *independence model*: votes independent given the truth, with the class's
prevalence, sensitivity P(yes | correct) and specificity P(no | wrong) estimated from the
subset (each with a Beta(1, 1) prior). That model is exact when every vote comes from a worker
drawn at random from the same crowd; the empirical cells correct it where the images of a
class differ in difficulty (hard images draw correlated mistakes), once they hold data.

How each subset image's truth is taken matters as much. ImageNet used the majority of its many
votes; on a hard class (workers right 65% of the time) the majority of 10 is wrong for one
image in five, and since those labels come from the very votes being tabulated, the table is
optimistic exactly where it matters (measured: precision 0.96-0.98 at a 0.997 target). By
default the labels are instead the posteriors of the independence model fitted by EM
(:func:`fit_independence`), which are unbiased under the model; ``labels="majority"`` keeps
ImageNet's choice, and known answers (gold images) can be passed.

An optional per-image ``prior`` (a model's calibrated probability that the candidate label is
right, "model assistance") replaces the class's prevalence in the posterior: the votes' odds
ratio (table odds over the class's base odds) times the image's prior odds.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.votes import check_gold, check_votes, vote_counts

__all__ = [
    "ACCEPT",
    "INITIAL_VOTES",
    "MAX_VOTES",
    "REJECT",
    "STRENGTH",
    "TARGET_PRECISION",
    "VOTE",
    "ConsensusTable",
    "Pooled",
    "estimate_table",
    "fit_independence",
    "independence_table",
    "next_action",
    "next_actions",
    "posterior",
]

#: ImageNet's precision over its sampled synsets.
TARGET_PRECISION = 0.997
#: Votes after which an image is decided whatever its posterior.
MAX_VOTES = 10
#: Votes each image of the initial subset gets.
INITIAL_VOTES = 10
#: Pseudo-images of the Beta prior of each table cell: a cell needs this many images of its
#: own before its empirical share outweighs the independence model.
STRENGTH = 10.0
#: A prior is clipped to [PRIOR_CLIP, 1 - PRIOR_CLIP]: a model's 0 or 1 would make votes moot.
PRIOR_CLIP = 1e-6
#: Weight of a pooled estimate (:class:`Pooled`) in one class's fit, as pseudo-images (for the
#: prevalence) and pseudo-votes (for the sensitivity and the specificity).
POOL_IMAGES = 10.0
POOL_VOTES = 50.0

ACCEPT, REJECT, VOTE = "accept", "reject", "vote"
#: Cell probabilities are clipped this far from 0 and 1 before taking log-odds.
_EPS = 1e-12
#: Sensitivity + specificity within this of 1: a fitted crowd whose votes carry no evidence.
_FLAT = 1e-3


@dataclass(frozen=True)
class Pooled:
    """The independence model fitted on every class of a project together: a prior for each
    class's own fit, weighing ``images`` pseudo-images and ``votes`` pseudo-votes.

    A crowd's sensitivity and specificity are mostly the crowd's, not the class's; a class
    whose initial subset holds a handful of images cannot estimate them alone (measured: 5
    images of 10 votes by a crowd right 90% of the time gave sensitivity 0.73 and specificity
    0.61, and three of its four right labels were rejected). With the pooled estimate as a
    prior, a small class leans on the others and a large one (1,000 votes) hardly moves.
    """

    prevalence: float
    sensitivity: float
    specificity: float
    images: float = POOL_IMAGES
    votes: float = POOL_VOTES


@dataclass(frozen=True)
class ConsensusTable:
    """P(candidate label correct | yes votes, no votes) for one class."""

    #: ``(V + 1, V + 1)`` float, ``[yes, no]``: the smoothed posterior; NaN where yes + no > V.
    p_correct: np.ndarray
    #: ``(V + 1, V + 1, 2)`` float: expected subset images seen at each cell, [correct, wrong].
    counts: np.ndarray
    #: The independence model: P(correct), P(yes | correct), P(no | wrong) in the subset.
    prevalence: float
    sensitivity: float
    specificity: float
    #: Images of the initial subset the table was estimated from.
    items: int
    #: Pseudo-images of each cell's Beta prior.
    strength: float

    @property
    def max_votes(self) -> int:
        """V: the most votes (yes + no) the table covers."""
        return self.p_correct.shape[0] - 1


def independence_table(
    prevalence: float, sensitivity: float, specificity: float, *, max_votes: int
) -> np.ndarray:
    """``(V + 1, V + 1)`` P(correct | y yes, n no) when votes are independent given the truth.

    ``prevalence`` = P(correct), ``sensitivity`` = P(yes | correct), ``specificity`` =
    P(no | wrong), each in (0, 1); cells with y + n > ``max_votes`` are NaN.
    """
    _check_max_votes(max_votes)
    for name, value in (
        ("prevalence", prevalence),
        ("sensitivity", sensitivity),
        ("specificity", specificity),
    ):
        if not 0.0 < value < 1.0:
            raise AnnotationError(f"{name} = {value}: a probability strictly between 0 and 1")
    y, n = np.indices((max_votes + 1, max_votes + 1))
    log_correct = math.log(prevalence) + y * math.log(sensitivity) + n * math.log1p(-sensitivity)
    log_wrong = math.log1p(-prevalence) + y * math.log1p(-specificity) + n * math.log(specificity)
    table = 1.0 / (1.0 + np.exp(log_wrong - log_correct))
    return np.where(y + n <= max_votes, table, np.nan)


def estimate_table(
    votes: pd.DataFrame,
    *,
    labels: pd.Series | Mapping[Hashable, float] | Literal["majority"] | None = None,
    gold: pd.Series | Mapping[Hashable, bool] | None = None,
    pooled: Pooled | None = None,
    max_votes: int | None = None,
    strength: float = STRENGTH,
) -> ConsensusTable:
    """The consensus table of one class from the votes on its initial subset.

    ``votes``: a vote table of the subset's tasks (``(n_votes,)`` rows, typically
    ``INITIAL_VOTES`` per task). ``labels``: how each subset image's truth is taken:

    - ``None`` (default): the posterior of the independence model fitted to the subset's vote
      counts by EM (see :func:`fit_independence`); no label is read off the votes directly;
    - ``"majority"``: each image's majority (0.5 on a tie), as ImageNet did;
    - task -> P(candidate label correct), bool or float in [0, 1], for every task (known
      answers of gold images, a Dawid-Skene posterior).

    ``gold``: task -> known answer for gold questions about the class among ``votes``; their
    votes inform the sensitivity and specificity only (see :func:`fit_independence`), not the
    prevalence nor the table's cells, which describe the candidates. ``pooled``: a
    project-wide estimate used as the prior of the class's own (see :class:`Pooled`).

    ``max_votes``: the table's size V (default: the most votes any task has); images with more
    votes than V contribute their V-vote subsamples. ``strength``: pseudo-images of each
    cell's Beta prior (0 = raw shares, NaN where a cell has no image).
    """
    votes = check_votes(votes)
    known = None
    if gold is not None:
        known = check_gold(gold, votes)
        on_gold = votes["task"].isin(known.index)
        gold_counts = vote_counts(votes.loc[on_gold])
        known = (
            gold_counts["yes"].to_numpy(),
            gold_counts["no"].to_numpy(),
            known.reindex(gold_counts.index).to_numpy(dtype=float),
        )
        votes = check_votes(votes.loc[~on_gold])
    counts = vote_counts(votes)
    yes, no = counts["yes"].to_numpy(), counts["no"].to_numpy()
    size = int((yes + no).max()) if max_votes is None else max_votes
    _check_max_votes(size)
    if not strength >= 0:
        raise AnnotationError(f"strength = {strength}: pseudo-images must be >= 0")
    if labels is None:
        good, (prevalence, sensitivity, specificity) = fit_independence(
            yes, no, gold=known, pooled=pooled
        )
    else:
        good = _given_labels(counts, labels)
        prevalence, sensitivity, specificity = _m_step(yes, no, good, known, pooled)
    model = independence_table(prevalence, sensitivity, specificity, max_votes=size)

    cells = _cell_counts(yes, no, good, size)
    seen = cells.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_correct = (strength * model + cells[..., 0]) / (strength + seen)
    return ConsensusTable(
        p_correct=np.where(np.isnan(model), np.nan, p_correct),
        counts=cells,
        prevalence=prevalence,
        sensitivity=sensitivity,
        specificity=specificity,
        items=len(counts),
        strength=float(strength),
    )


def fit_independence(
    yes: np.ndarray,
    no: np.ndarray,
    *,
    gold: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    pooled: Pooled | None = None,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """EM for votes independent given the truth; returns (P(correct) ``(n,)``, parameters).

    ``yes``, ``no``: ``(n,)`` vote counts of n images of one class. The model: an image's
    label is correct with probability ``prevalence``; each vote is yes with probability
    ``sensitivity`` if it is, no with probability ``specificity`` if not. Parameters get
    Beta(1, 1) priors; EM starts from the majority labels (as crowd-kit's Dawid-Skene does).

    ``gold``: optional ``(yes, no, truth)`` arrays, each ``(g,)``, of gold questions about the
    class whose answer is known. Their votes enter the sensitivity and specificity with their
    known truth, but not the prevalence (gold is not drawn from the candidates). They anchor
    the model where the candidates cannot: a subset whose labels are all right holds no
    evidence of how the crowd answers on wrong ones. ``pooled``: an estimate from the
    project's classes together, as the parameters' prior instead of Beta(1, 1) alone (see
    :class:`Pooled`).

    This is Dawid-Skene with every vote of the class given to one pooled worker (crowd-kit's
    ``DawidSkene`` on such a table fits the same model); on the counts it is a few array
    operations instead of crowd-kit's per-iteration pandas joins over every vote. The labels
    it gives are the posteriors given all of an image's votes, whose average over images with
    a given prefix is, under the model, exactly the posterior given the prefix: a table built
    from them is not optimistic, as one built from majority labels is.

    When EM ends where votes carry no evidence (sensitivity <= 1 - specificity: a yes as
    likely on a wrong label as on a right one), it has found the flat, label-switched solution
    that a subset of (nearly) all-right labels allows: 12 right images with 10 votes each by a
    crowd right 80% of the time gave prevalence 0.5, sensitivity 0.81, specificity 0.19 and
    P(correct) 0.5 for every image, so that every image was rejected. The majority labels'
    estimate (ImageNet's) is returned instead.
    """
    yes, no = np.asarray(yes, dtype=float), np.asarray(no, dtype=float)
    if gold is not None:
        gold = tuple(np.asarray(a, dtype=float) for a in gold)  # type: ignore[assignment]
    majority = np.where(yes > no, 1.0, np.where(yes < no, 0.0, 0.5))
    good = majority
    params = _m_step(yes, no, good, gold, pooled)
    for _ in range(max_iter):
        prevalence, sensitivity, specificity = params
        log_ratio = (
            math.log(prevalence / (1.0 - prevalence))
            + yes * math.log(sensitivity / (1.0 - specificity))
            + no * math.log((1.0 - sensitivity) / specificity)
        )
        good = 1.0 / (1.0 + np.exp(-log_ratio))
        new = _m_step(yes, no, good, gold, pooled)
        done = max(abs(a - b) for a, b in zip(new, params, strict=True)) < tol
        params = new
        if done:
            break
    # EM converges onto the flat solution, not always exactly: "no evidence" within a hair.
    if params[1] + params[2] <= 1.0 + _FLAT:
        return majority, _m_step(yes, no, majority, gold, pooled)
    return good, params


def _m_step(
    yes: np.ndarray,
    no: np.ndarray,
    good: np.ndarray,
    gold: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    pooled: Pooled | None = None,
) -> tuple[float, float, float]:
    """(prevalence, sensitivity, specificity) from soft labels ``good``, Beta(1, 1) priors;
    gold questions' ``(yes, no, truth)`` add to the sensitivity and specificity only; a
    ``pooled`` estimate adds its pseudo-images and pseudo-votes."""
    good = np.asarray(good, dtype=float)
    bad = 1.0 - good
    total = yes + no
    yes_right = float((good * yes).sum())
    seen_right = float((good * total).sum())
    no_wrong = float((bad * no).sum())
    seen_wrong = float((bad * total).sum())
    if gold is not None:
        g_yes, g_no, truth = gold
        yes_right += float((truth * g_yes).sum())
        seen_right += float((truth * (g_yes + g_no)).sum())
        no_wrong += float(((1.0 - truth) * g_no).sum())
        seen_wrong += float(((1.0 - truth) * (g_yes + g_no)).sum())
    right, images = float(good.sum()), float(len(good))
    if pooled is not None:
        right += pooled.images * pooled.prevalence
        images += pooled.images
        yes_right += pooled.votes * pooled.sensitivity
        seen_right += pooled.votes
        no_wrong += pooled.votes * pooled.specificity
        seen_wrong += pooled.votes
    return (
        (right + 1.0) / (images + 2.0),
        (yes_right + 1.0) / (seen_right + 2.0),
        (no_wrong + 1.0) / (seen_wrong + 2.0),
    )


def _given_labels(
    counts: pd.DataFrame, labels: pd.Series | Mapping[Hashable, float] | Literal["majority"]
) -> np.ndarray:
    """P(correct) per subset task (in ``counts``' order), from ``labels``."""
    if isinstance(labels, str):
        if labels != "majority":
            raise AnnotationError(
                f"labels = {labels!r}: pass 'majority', None (the fitted model) or a mapping "
                "task -> P(correct)"
            )
        yes, no = counts["yes"].to_numpy(), counts["no"].to_numpy()
        return np.where(yes > no, 1.0, np.where(yes < no, 0.0, 0.5))
    labels = pd.Series(labels) if isinstance(labels, Mapping) else labels
    missing = counts.index.difference(labels.index)
    if len(missing):
        raise AnnotationError(
            f"labels lack {len(missing)} task(s) of the subset (e.g. {missing[0]!r}): give "
            "P(correct) for every task that has votes, or leave labels out to fit them"
        )
    good = pd.to_numeric(labels.reindex(counts.index), errors="coerce").to_numpy(dtype=float)
    if not np.all((good >= 0) & (good <= 1)):
        raise AnnotationError("labels must be probabilities in [0, 1] (or True/False)")
    return good


def _cell_counts(yes: np.ndarray, no: np.ndarray, good: np.ndarray, size: int) -> np.ndarray:
    """``(size + 1, size + 1, 2)``: expected [correct, wrong] images at each (y, n) cell."""
    cells = np.zeros((size + 1, size + 1, 2))
    groups = pd.DataFrame({"yes": yes, "no": no, "good": good, "bad": 1.0 - good})
    for (n_yes, n_no), mass in groups.groupby(["yes", "no"])[["good", "bad"]].sum().iterrows():
        n_yes, n_no = int(n_yes), int(n_no)
        k = n_yes + n_no
        for t in range(min(k, size) + 1):
            for y in range(max(0, t - n_no), min(n_yes, t) + 1):
                weight = math.comb(n_yes, y) * math.comb(n_no, t - y) / math.comb(k, t)
                cells[y, t - y] += weight * mass.to_numpy()
    return cells


def posterior(
    yes: np.ndarray | int,
    no: np.ndarray | int,
    *,
    table: ConsensusTable,
    prior: np.ndarray | float | None = None,
) -> np.ndarray:
    """P(candidate label correct) of images with ``yes``/``no`` votes, each ``(n,)`` or scalar.

    ``prior`` (optional, ``(n,)`` or scalar in [0, 1]): a calibrated model probability that
    the label is right, which replaces the class's prevalence (see the module docstring).
    """
    yes, no = _check_counts(yes, no, table)
    return _sigmoid(_log_odds(table)[yes, no] + _prior_shift(prior, table, yes.shape))


def next_actions(
    yes: np.ndarray | int,
    no: np.ndarray | int,
    *,
    table: ConsensusTable,
    target_precision: float = TARGET_PRECISION,
    max_votes: int | None = None,
    min_votes: int = 1,
    prior: np.ndarray | float | None = None,
) -> np.ndarray:
    """What each image needs next: ``"accept"``, ``"reject"`` or ``"vote"``, ``(n,)`` str.

    ``yes``, ``no``: each image's votes so far, ``(n,)`` or scalar. An image is accepted when
    its posterior reaches ``target_precision`` (in (0.5, 1)); rejected at ``max_votes``
    (default: the table's V) below it, or earlier when no sequence of its remaining votes can
    reach it, or when it is as sure that the label is wrong (posterior <= 1 - target). No
    decision before ``min_votes`` votes, so that a confident ``prior`` alone never decides.
    """
    if not 0.5 < target_precision < 1.0:
        raise AnnotationError(
            f"target precision = {target_precision}: choose a value strictly between 0.5 and 1 "
            "(ImageNet's was 0.997)"
        )
    limit = table.max_votes if max_votes is None else max_votes
    _check_max_votes(limit)
    if limit > table.max_votes:
        raise AnnotationError(
            f"max votes = {limit} but the table covers {table.max_votes}: estimate it with "
            f"max_votes={limit}"
        )
    if not 0 <= min_votes <= limit:
        raise AnnotationError(f"min votes = {min_votes}: choose 0..{limit} (the vote limit)")
    yes, no = _check_counts(yes, no, table)
    log_odds = _log_odds(table)
    shift = _prior_shift(prior, table, yes.shape)
    current = _sigmoid(log_odds[yes, no] + shift)
    reachable = _sigmoid(_best_reachable(log_odds, limit, min_votes)[yes, no] + shift)
    total = yes + no
    may_decide = total >= min_votes
    accept = may_decide & (current >= target_precision)
    hopeless = (reachable < target_precision) | (current <= 1.0 - target_precision)
    reject = ~accept & ((total >= limit) | (may_decide & hopeless))
    return np.where(accept, ACCEPT, np.where(reject, REJECT, VOTE))


def next_action(
    yes: int,
    no: int,
    *,
    table: ConsensusTable,
    target_precision: float = TARGET_PRECISION,
    max_votes: int | None = None,
    min_votes: int = 1,
    prior: float | None = None,
) -> str:
    """:func:`next_actions` for one image: ``"accept"``, ``"reject"`` or ``"vote"``."""
    return str(
        next_actions(
            yes,
            no,
            table=table,
            target_precision=target_precision,
            max_votes=max_votes,
            min_votes=min_votes,
            prior=prior,
        )[()]
    )


def _best_reachable(log_odds: np.ndarray, limit: int, min_votes: int) -> np.ndarray:
    """Per cell, the highest log-odds of any cell reachable with more votes, up to ``limit``.

    Only cells with at least ``min_votes`` votes count; cells past ``limit`` reach themselves.
    The table need not be monotone (smoothed empirical cells), hence the full search.
    """
    size = log_odds.shape[0] - 1
    y, n = np.indices(log_odds.shape)
    best = np.where((y + n >= min_votes) & (y + n <= size), log_odds, -np.inf)
    for total in range(limit - 1, -1, -1):
        for yes in range(total + 1):
            no = total - yes
            best[yes, no] = max(best[yes, no], best[yes + 1, no], best[yes, no + 1])
    return best


def _log_odds(table: ConsensusTable) -> np.ndarray:
    p = np.clip(table.p_correct, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _prior_shift(
    prior: np.ndarray | float | None, table: ConsensusTable, shape: tuple[int, ...]
) -> np.ndarray:
    """Log-odds to add to the table's: the prior's odds over the class's base odds."""
    if prior is None:
        return np.zeros(shape)
    prior = np.asarray(prior, dtype=float)
    if prior.shape not in ((), shape) or not np.all((prior >= 0) & (prior <= 1)):
        raise AnnotationError(
            f"prior must be one probability in [0, 1] per image (shape {shape}), "
            f"got shape {prior.shape}"
        )
    prior = np.clip(prior, PRIOR_CLIP, 1.0 - PRIOR_CLIP)
    base = _log_odds(table)[0, 0]
    return np.broadcast_to(np.log(prior) - np.log1p(-prior) - base, shape)


def _check_counts(
    yes: np.ndarray | int, no: np.ndarray | int, table: ConsensusTable
) -> tuple[np.ndarray, np.ndarray]:
    yes, no = np.broadcast_arrays(np.asarray(yes), np.asarray(no))
    if yes.dtype.kind not in "iu" or no.dtype.kind not in "iu":
        raise AnnotationError("yes and no must be whole vote counts")
    if yes.size and (yes.min() < 0 or no.min() < 0):
        raise AnnotationError("yes and no vote counts must be >= 0")
    if yes.size and (yes + no).max() > table.max_votes:
        raise AnnotationError(
            f"an image has {(yes + no).max()} votes but the table covers {table.max_votes}: "
            "estimate the table with a larger max_votes"
        )
    return yes, no


def _check_max_votes(max_votes: int) -> None:
    if not isinstance(max_votes, (int, np.integer)) or max_votes < 1:
        raise AnnotationError(f"max votes = {max_votes!r}: an image needs at least 1 vote")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
