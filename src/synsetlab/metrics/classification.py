"""Classification metrics over arrays: top-k error, per-class accuracy, confusion, calibration
and hierarchy-aware mistake severity.

Conventions: ``N`` images, ``C`` classes, class indices ``0..C-1``. Labels are ``(N,)`` integer
arrays; a negative label marks a hidden one (a challenge's withheld test labels) and is refused
everywhere, since it cannot be scored. Every bad input raises :class:`ValueError` naming the
offending value.

Ties between equal scores always go to the lower class index, in :func:`topk_predictions` as
in the top-1 predictions that the calibration and mistake measures take.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from synsetlab.taxonomy import Taxonomy

__all__ = [
    "ClassificationReport",
    "MistakeSeverity",
    "ReliabilityBins",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
    "mistake_severity",
    "per_class_accuracy",
    "reliability_bins",
    "topk_correct",
    "topk_error",
    "topk_predictions",
]

#: How far a row of probabilities may sum from 1 (float16 softmax outputs stay well inside).
PROB_SUM_TOLERANCE = 1e-2


# Top-k -------------------------------------------------------------------------------------------


def topk_predictions(scores: ArrayLike, k: int) -> np.ndarray:
    """The ``k`` best classes of each image, best first.

    Args:
        scores: ``(N, C)`` real scores (probabilities or logits; higher is better), no NaN.
        k: how many classes per image, ``1 <= k <= C``.

    Returns:
        ``(N, k)`` int64 class indices. Equal scores go to the lower class index.
    """
    s = _scores(scores)
    k = _k(k, limit=s.shape[1], limit_name="classes")
    # A stable sort of the negated scores keeps equal scores in index order.
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def topk_correct(
    guesses_or_scores: ArrayLike, labels: ArrayLike, *, k: int, num_classes: int | None = None
) -> np.ndarray:
    """Whether each image's true class is among its first ``k`` guesses (ILSVRC's top-k rule).

    Args:
        guesses_or_scores: either ``(N, C)`` float scores, or ``(N, M)`` integer class indices
            with ``M >= k``, best guess first (a submission; only the first ``k`` columns
            count), where ``-1`` means "no guess" (a submission may give fewer than ``k``) and
            never matches. A ``(N,)`` integer array is one guess per image. The dtype decides:
            an integer array is always read as guesses.
        labels: ``(N,)`` true class indices in ``[0, C)``.
        k: guesses that count per image, ``k >= 1`` (and ``<= C`` for scores).
        num_classes: ``C``, to check guesses and labels against when guesses are given
            (with scores, ``C`` is their width and ``num_classes`` must agree if given).

    Returns:
        ``(N,)`` bool.
    """
    guesses, num_classes = _guesses(guesses_or_scores, k=k, num_classes=num_classes)
    y = _labels(labels, num_classes=num_classes)
    _same_length(guesses, y, "predictions")
    return (guesses[:, :k] == y[:, None]).any(axis=1)


def topk_error(
    scores_or_topk: ArrayLike, labels: ArrayLike, *, k: int, num_classes: int | None = None
) -> float:
    """ILSVRC top-k error: the fraction of images whose true class is none of their k guesses.

    An image counts as correct if any of its first ``k`` predicted classes is its label, as
    in the ILSVRC evaluation (which scored five guesses per image); error = 1 - correct / N.
    The arguments are :func:`topk_correct`'s: integer guesses may hold ``-1`` for "no guess".

    Returns:
        The error in ``[0, 1]``.
    """
    hit = topk_correct(scores_or_topk, labels, k=k, num_classes=num_classes)
    return float(1.0 - hit.mean())


# Per class ---------------------------------------------------------------------------------------


def per_class_accuracy(
    predictions: ArrayLike, labels: ArrayLike, *, num_classes: int
) -> np.ndarray:
    """Top-1 accuracy of each class: correct images of the class / images of the class.

    Args:
        predictions: ``(N,)`` predicted class indices in ``[0, C)``.
        labels: ``(N,)`` true class indices in ``[0, C)``.
        num_classes: ``C``.

    Returns:
        ``(C,)`` float64; NaN for a class with no image in ``labels``.
    """
    pred, y, c = _pairs(predictions, labels, num_classes)
    images = np.bincount(y, minlength=c)
    correct = np.bincount(y[pred == y], minlength=c)
    return np.divide(correct, images, out=np.full(c, np.nan), where=images > 0)


def confusion_matrix(predictions: ArrayLike, labels: ArrayLike, *, num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) class pairs.

    Args:
        predictions: ``(N,)`` predicted class indices in ``[0, C)``.
        labels: ``(N,)`` true class indices in ``[0, C)``.
        num_classes: ``C``.

    Returns:
        ``(C, C)`` int64: row = true class, column = predicted class (as scikit-learn's).
    """
    pred, y, c = _pairs(predictions, labels, num_classes)
    return np.bincount(y * c + pred, minlength=c * c).reshape(c, c)


# Calibration -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReliabilityBins:
    """Top-1 confidence against accuracy in equal-width confidence bins (a reliability diagram).

    Bin ``i`` holds the images whose confidence lies in ``(edges[i], edges[i + 1]]`` (the
    first bin also takes a confidence of exactly 0).
    """

    #: ``(B + 1,)`` bin edges, ``0.0`` to ``1.0``.
    edges: np.ndarray
    #: ``(B,)`` mean top-1 confidence of the images in each bin; NaN for an empty bin.
    confidence: np.ndarray
    #: ``(B,)`` fraction of the bin's images whose top-1 prediction is right; NaN when empty.
    accuracy: np.ndarray
    #: ``(B,)`` int64 images per bin.
    count: np.ndarray

    @property
    def n_images(self) -> int:
        return int(self.count.sum())

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of ``count / N * |accuracy - confidence|``."""
        full = self.count > 0
        gaps = np.abs(self.accuracy[full] - self.confidence[full])
        return float((self.count[full] * gaps).sum() / self.n_images)


def reliability_bins(probs: ArrayLike, labels: ArrayLike, *, bins: int = 15) -> ReliabilityBins:
    """Bin images by top-1 confidence and measure each bin's accuracy (Guo et al., 2017).

    Args:
        probs: ``(N, C)`` class probabilities, each row in ``[0, 1]`` summing to 1 (softmax
            outputs, not logits).
        labels: ``(N,)`` true class indices in ``[0, C)``.
        bins: number of equal-width confidence bins over ``[0, 1]``, ``>= 1``.

    Returns:
        The :class:`ReliabilityBins`; its ``ece`` is :func:`expected_calibration_error`.
    """
    p = _probs(probs)
    bins = _k(bins, name="bins")
    y = _labels(labels, num_classes=p.shape[1])
    _same_length(p, y, "probs")
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    # side="left" makes bins closed on the right: a confidence equal to an edge joins the
    # bin below it, as in Guo et al.'s code (lower < conf <= upper).
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(which, minlength=bins)
    full = count > 0
    mean_conf = np.full(bins, np.nan)
    accuracy = np.full(bins, np.nan)
    mean_conf[full] = np.bincount(which, weights=confidence, minlength=bins)[full] / count[full]
    accuracy[full] = np.bincount(which, weights=correct, minlength=bins)[full] / count[full]
    return ReliabilityBins(edges=edges, confidence=mean_conf, accuracy=accuracy, count=count)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, *, bins: int = 15) -> float:
    """Expected calibration error of top-1 confidence over equal-width bins (Guo et al., 2017).

    ``ECE = sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``: 0 for a perfectly
    calibrated model; up to 1.

    Args:
        probs: ``(N, C)`` class probabilities (rows in ``[0, 1]`` summing to 1).
        labels: ``(N,)`` true class indices in ``[0, C)``.
        bins: number of equal-width confidence bins, ``>= 1`` (15 as in Guo et al.).
    """
    return reliability_bins(probs, labels, bins=bins).ece


# Mistake severity --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MistakeSeverity:
    """How bad each top-1 mistake is: the height in the hierarchy of what the classes share."""

    #: ``(N,)`` float64: the mistake's severity; NaN for a correctly classified image.
    per_image: np.ndarray
    #: ``(H + 1,)`` int64: ``histogram[h]`` = mistakes of severity ``h``; empty without mistakes.
    histogram: np.ndarray

    @property
    def n_mistakes(self) -> int:
        return int(self.histogram.sum())

    @property
    def mean(self) -> float:
        """Mean severity over the mistakes (correct images left out); NaN without mistakes."""
        if not self.n_mistakes:
            return math.nan
        return float(np.nanmean(self.per_image))


def mistake_severity(
    predictions: ArrayLike, labels: ArrayLike, *, classes: Sequence[str], taxonomy: Taxonomy
) -> MistakeSeverity:
    """Hierarchy-aware severity of each top-1 mistake, after Bertinetto et al. (CVPR 2020).

    As in "Making Better Mistakes", a mistake's severity is the height (longest path down to a
    leaf, :meth:`Taxonomy.height`) of the lowest common ancestor of the true and the predicted
    class: calling a Chihuahua a Japanese spaniel (both toy dogs) is milder than calling it a
    car (both only 'whole'). The ancestor is :meth:`Taxonomy.lowest_common_ancestor`'s (in
    WordNet's DAG, the shared ancestor nearest the leaves). Heights are those of the whole
    taxonomy, not of a hierarchy pruned to ``classes`` as in the paper.

    Each distinct (true, predicted) pair is looked up once, so ``N`` images cost at most
    ``C**2`` lookups.

    Args:
        predictions: ``(N,)`` predicted class indices in ``[0, C)``.
        labels: ``(N,)`` true class indices in ``[0, C)``.
        classes: the ``C`` wnids (or workspace class ids) in class-index order, all in
            ``taxonomy``.
        taxonomy: the hierarchy, e.g. ``Taxonomy.wordnet()``.
    """
    wnids = _class_ids(classes, taxonomy)
    pred, y, c = _pairs(predictions, labels, len(wnids))
    wrong = np.flatnonzero(pred != y)
    pairs, inverse = np.unique(y[wrong] * c + pred[wrong], return_inverse=True)
    heights = _shared_heights(pairs, wnids, taxonomy)[inverse.reshape(-1)]
    per_image = np.full(len(y), np.nan)
    per_image[wrong] = heights
    return MistakeSeverity(per_image=per_image, histogram=np.bincount(heights))


def _shared_heights(pairs: np.ndarray, wnids: list[str], taxonomy: Taxonomy) -> np.ndarray:
    """Severity of each pair code ``true * C + predicted``."""
    heights = np.empty(len(pairs), dtype=np.int64)
    for j, code in enumerate(pairs.tolist()):
        true, predicted = (wnids[i] for i in divmod(code, len(wnids)))
        try:
            heights[j] = taxonomy.height(taxonomy.lowest_common_ancestor(true, predicted))
        except ValueError as e:  # min() of no shared ancestor
            raise ValueError(
                f"classes {true!r} and {predicted!r} share no ancestor in the taxonomy: "
                "mistake severity needs one hierarchy over every class"
            ) from e
    return heights


# Report ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """The metrics of one evaluation; :meth:`to_dict` gives its JSON form."""

    #: The ``C`` class ids (wnids) in class-index order.
    classes: tuple[str, ...]
    n_images: int
    #: k -> top-k error, for 1 and each requested k up to ``C``.
    topk_errors: dict[int, float]
    #: ``(C,)`` top-1 accuracy per class; NaN for a class without images.
    per_class_accuracy: np.ndarray
    #: ``(C, C)`` int64, row = true class, column = predicted class.
    confusion_matrix: np.ndarray
    #: Top-1 confidence against accuracy; its ``ece`` is the report's.
    reliability: ReliabilityBins
    #: None when no taxonomy was given.
    mistake_severity: MistakeSeverity | None = None

    @property
    def top1_error(self) -> float:
        return self.topk_errors[1]

    @property
    def top1_accuracy(self) -> float:
        return 1.0 - self.top1_error

    @property
    def top5_error(self) -> float | None:
        """None when 5 was not among ``ks`` or there are fewer than 5 classes."""
        return self.topk_errors.get(5)

    @property
    def top5_accuracy(self) -> float | None:
        error = self.top5_error
        return None if error is None else 1.0 - error

    @property
    def ece(self) -> float:
        return self.reliability.ece

    @property
    def mean_mistake_severity(self) -> float | None:
        """None without a taxonomy; NaN when there was no mistake."""
        return None if self.mistake_severity is None else self.mistake_severity.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: lists, ints and floats; NaN becomes None."""
        severity = self.mistake_severity
        return {
            "n_images": self.n_images,
            "num_classes": len(self.classes),
            "classes": list(self.classes),
            "top1_error": _json_float(self.top1_error),
            "top1_accuracy": _json_float(self.top1_accuracy),
            "top5_error": _json_float(self.top5_error),
            "top5_accuracy": _json_float(self.top5_accuracy),
            "topk_error": {str(k): _json_float(e) for k, e in sorted(self.topk_errors.items())},
            "ece": _json_float(self.ece),
            "reliability": {
                "edges": self.reliability.edges.tolist(),
                "confidence": _json_floats(self.reliability.confidence),
                "accuracy": _json_floats(self.reliability.accuracy),
                "count": self.reliability.count.tolist(),
            },
            "per_class_accuracy": _json_floats(self.per_class_accuracy),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "mean_mistake_severity": _json_float(self.mean_mistake_severity),
            "mistake_severity_histogram": None if severity is None else severity.histogram.tolist(),
        }


def classification_report(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    classes: Sequence[str],
    taxonomy: Taxonomy | None = None,
    ks: Sequence[int] = (1, 5),
    bins: int = 15,
) -> ClassificationReport:
    """Every metric of this module for one set of predictions.

    Args:
        scores: ``(N, C)`` class probabilities (rows summing to 1, as the calibration error
            needs them; apply ``scipy.special.softmax(logits, axis=1)`` to logits first).
        labels: ``(N,)`` true class indices in ``[0, C)``; hidden (negative) labels are refused.
        classes: the ``C`` class ids (wnids) in class-index order.
        taxonomy: the hierarchy for :func:`mistake_severity`; skipped when None.
        ks: the top-k errors to compute, each ``>= 1``. Top-1 is always computed; a k above
            ``C`` is left out (every class would be among the guesses).
        bins: confidence bins of the calibration error.
    """
    p = _probs(scores)
    classes = tuple(classes)
    if len(classes) != p.shape[1]:
        raise ValueError(f"scores have {p.shape[1]} columns but {len(classes)} classes are named")
    y = _labels(labels, num_classes=p.shape[1])
    _same_length(p, y, "scores")
    wanted = sorted({1, *(_k(k) for k in ks)})
    kept = [k for k in wanted if k <= p.shape[1]]
    top = topk_predictions(p, max(kept))
    pred = top[:, 0]
    c = len(classes)
    return ClassificationReport(
        classes=classes,
        n_images=len(y),
        topk_errors={k: topk_error(top, y, k=k, num_classes=c) for k in kept},
        per_class_accuracy=per_class_accuracy(pred, y, num_classes=c),
        confusion_matrix=confusion_matrix(pred, y, num_classes=c),
        reliability=reliability_bins(p, y, bins=bins),
        mistake_severity=(
            None
            if taxonomy is None
            else mistake_severity(pred, y, classes=classes, taxonomy=taxonomy)
        ),
    )


def _json_float(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _json_floats(values: np.ndarray) -> list[float | None]:
    return [_json_float(v) for v in values.tolist()]


# Validation --------------------------------------------------------------------------------------


def _k(k: int, *, limit: int | None = None, limit_name: str = "", name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be at least 1, got {k}")
    if limit is not None and k > limit:
        raise ValueError(f"{name}={k} is more than the {limit} {limit_name}")
    return int(k)


def _scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N images, C classes), got shape {s.shape}")
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {s.shape}): nothing to score")
    if s.dtype == np.bool_ or not np.issubdtype(s.dtype, np.number) or np.iscomplexobj(s):
        raise ValueError(f"{name} must hold real numbers, got dtype {s.dtype}")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)  # negating unsigned integers would wrap around
    nan = np.isnan(s)
    if nan.any():
        i, j = np.argwhere(nan)[0]
        raise ValueError(f"{name}[{i}, {j}] is NaN")
    return s


def _probs(probs: ArrayLike) -> np.ndarray:
    p = _scores(probs, name="probs")
    outside = (p < 0) | (p > 1)
    if outside.any():
        i, j = np.argwhere(outside)[0]
        raise ValueError(
            f"probs[{i}, {j}] = {p[i, j]} is not a probability in [0, 1]: pass softmax "
            f"probabilities, not logits (scipy.special.softmax(logits, axis=1))"
        )
    sums = p.sum(axis=1, dtype=np.float64)
    off = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"probs row {i} sums to {sums[i]:.4g}, not 1: pass softmax probabilities, not "
            f"logits (scipy.special.softmax(logits, axis=1))"
        )
    return p


def _indices(values: ArrayLike, name: str) -> np.ndarray:
    """A non-empty 1-D integer array (int64)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices (N,), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty: nothing to score")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _num_classes(num_classes: int) -> int:
    return _k(num_classes, name="num_classes")


def _labels(labels: ArrayLike, *, num_classes: int | None) -> np.ndarray:
    y = _indices(labels, "labels")
    hidden = y < 0
    if hidden.any():
        i = int(np.argmax(hidden))
        raise ValueError(
            f"hidden labels cannot be scored: labels[{i}] = {y[i]} (a negative label marks a "
            f"withheld test label); score only images with known labels"
        )
    _in_range(y, num_classes, "labels")
    return y


def _in_range(a: np.ndarray, num_classes: int | None, name: str, *, no_guess: bool = False) -> None:
    """Refuse values outside ``[0, C)``; with ``no_guess``, ``-1`` (no guess) is fine too."""
    low = -1 if no_guess else 0
    bad = (a < low) if num_classes is None else (a < low) | (a >= num_classes)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        at = ", ".join(map(str, where))
        if no_guess:
            valid = "" if num_classes is None else f" in [0, {num_classes})"
            what = f"neither a class index{valid} nor -1 (no guess)"
        else:
            valid = "(negative)" if num_classes is None else f"in [0, {num_classes})"
            what = f"not a class index {valid}"
        raise ValueError(f"{name}[{at}] = {a[where]} is {what}")


def _same_length(first: np.ndarray, labels: np.ndarray, name: str) -> None:
    if len(first) != len(labels):
        raise ValueError(
            f"{name} has {len(first)} images but labels has {len(labels)}: they must match"
        )


def _pairs(
    predictions: ArrayLike, labels: ArrayLike, num_classes: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Checked ``(N,)`` predictions and labels, and the number of classes."""
    c = _num_classes(num_classes)
    pred = _indices(predictions, "predictions")
    _in_range(pred, c, "predictions")
    y = _labels(labels, num_classes=c)
    _same_length(pred, y, "predictions")
    return pred, y, c


def _guesses(
    scores_or_topk: ArrayLike, *, k: int, num_classes: int | None
) -> tuple[np.ndarray, int | None]:
    """``(N, >= k)`` guessed class indices, best first, and the number of classes if known."""
    k = _k(k)
    if num_classes is not None:
        num_classes = _num_classes(num_classes)
    a = np.asarray(scores_or_topk)
    if np.issubdtype(a.dtype, np.integer):
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"predictions must be (N,) or (N, k) class indices, got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError("predictions is empty: nothing to score")
        if a.shape[1] < k:
            raise ValueError(f"predictions have {a.shape[1]} guesses per image, fewer than k={k}")
        guesses = a[:, :k].astype(np.int64, copy=False)
        _in_range(guesses, num_classes, "predictions", no_guess=True)
        return guesses, num_classes
    s = _scores(a)
    if num_classes is not None and num_classes != s.shape[1]:
        raise ValueError(f"num_classes={num_classes} but scores have {s.shape[1]} columns")
    return topk_predictions(s, k), s.shape[1]


def _class_ids(classes: Sequence[str], taxonomy: Taxonomy) -> list[str]:
    ids = list(classes)
    if not ids:
        raise ValueError("classes is empty: name the class of each index")
    unknown = [w for w in ids if w not in taxonomy]
    if unknown:
        raise ValueError(
            f"{len(unknown)} classes are not in the taxonomy, e.g. {unknown[:5]}: pass wnids "
            f"(or the workspace's class ids with a taxonomy that has them)"
        )
    if len(set(ids)) != len(ids):
        twice = sorted(w for w, n in Counter(ids).items() if n > 1)
        raise ValueError(f"classes must be distinct; named more than once: {twice[:5]}")
    return ids
