"""Label issues: images whose given class a cross-validated classifier disagrees with.

:func:`find_label_issues` takes the current labelled images, turns each into a feature vector
(:mod:`synsetlab.curate.features`), gets *out-of-sample* class probabilities by K-fold
cross-validation, and lets cleanlab's confident learning pick the images whose given label is
likely wrong. Out-of-sample matters: a model scoring an image it was trained on has learnt its
label, right or wrong, and vouches for it (cleanlab's documentation insists on it).

Where the probabilities come from:

- a checkpoint trained on other data (``features=PATH``): every image is embedded once, then
  a logistic regression is fitted per fold on the standardised embeddings of the other folds;
- the quick model (``features="auto"``): one quick model is trained on every image, then the
  same per-fold logistic regression runs on its embeddings. The quick model has seen the
  given labels, so its embeddings are not strictly out-of-sample: at the default 60 epochs it
  reproduces 43% of the wrong labels it was given (measured on the synthetic shapes), which
  costs recall; trained much longer it reproduces all of them and finds nothing. Training one
  quick model per fold (``QuickModelConfig(per_fold=True)``) is the strict alternative, but in
  the same CPU time each model sees fewer images for fewer epochs, and on a few hundred
  images it measured worse (numbers in :class:`~synsetlab.curate.features.QuickModelConfig`).
  With a GPU, or thousands of images, per-fold training is the sounder choice.

Folds are stratified by class and grouped by content (sha256), so an image's exact duplicates
never vouch for its label from the other side of a split.

Findings (kinds ``label-issue`` and ``class-overlap``) replace the previous run's. A
``label-issue`` names the image, its given class as ``wnid``, a score ``1 - p(given class)``
(higher = more likely wrong) and in its detail the suggested class and how it relates to the
given one in the WordNet hierarchy: a suggestion *below* the given class ("ancestor": the label
is right but coarse) or *above* it ("descendant") is a different problem from a confusion
between siblings. A ``class-overlap`` names two classes of the dataset of which one is an
ancestor of the other, which ILSVRC forbade: an image of a brambling is also a bird.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cleanlab.filter
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Image
from synsetlab.curate.features import (
    QuickModelConfig,
    default_device,
    embed,
    load_backbone,
    load_thumbnails,
    normalize_like,
    standardize_per_image,
    train_quick_model,
)
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.taxonomy import Taxonomy, TaxonomyError, find_overlaps
from synsetlab.workspace import Workspace

if TYPE_CHECKING:
    from synsetlab.synthetic import SyntheticTruth

LABEL_ISSUE = "label-issue"
CLASS_OVERLAP = "class-overlap"
#: The finding kinds one run of :func:`find_label_issues` replaces.
KINDS = (LABEL_ISSUE, CLASS_OVERLAP)

Relation = Literal["ancestor", "descendant", "sibling"]

#: Inverse L2 strength of the per-fold logistic regression on standardised features.
LOGISTIC_C = 0.1

# Pure functions over arrays ----------------------------------------------------------------------


def fold_indices(
    labels: np.ndarray, *, folds: int = 5, seed: int = 0, groups: Sequence[object] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, held_out)`` index arrays of a stratified K-fold split of ``labels`` ``(N,)``.

    Items with the same ``groups`` value (e.g. the same sha256) land in the same fold. Every
    class needs at least ``folds`` items: each training part must hold every class.
    """
    labels = np.asarray(labels)
    _check_folds(labels, folds)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def out_of_sample_probs(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[object] | None = None,
) -> np.ndarray:
    """Cross-validated class probabilities ``(N, C)`` of a logistic regression.

    ``features`` is ``(N, D)``; ``labels`` ``(N,)`` holds integers ``0..C-1``, each class at
    least ``folds`` times. Each row comes from a model fitted on the other folds only
    (standardised features, L2-regularised multinomial logistic regression).
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(
            f"features must be (N, D) with N = len(labels) = {len(labels)}, got {features.shape}"
        )
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    probs = np.zeros((len(labels), num_classes))
    for train, held_out in fold_indices(labels, folds=folds, seed=seed, groups=groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=LOGISTIC_C, max_iter=2000))
        model.fit(features[train], labels[train])
        probs[np.ix_(held_out, model[-1].classes_)] = model.predict_proba(features[held_out])
    return probs


def rank_label_issues(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Indices of the likely mislabelled items, most likely first.

    ``labels`` ``(N,)`` holds integers ``0..C-1``; ``pred_probs`` ``(N, C)`` out-of-sample
    probabilities. Confident learning (cleanlab's ``prune_by_noise_rate``) picks the items;
    they are ranked by self-confidence, the probability of their given label.
    """
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(
        cleanlab.filter.find_label_issues(
            labels=np.asarray(labels),
            pred_probs=pred_probs,
            return_indices_ranked_by="self_confidence",
        ),
        dtype=np.int64,
    )


def hierarchy_relation(taxonomy: Taxonomy, given: str, suggested: str) -> Relation | None:
    """How the given class stands to the suggested one in the hierarchy.

    ``"ancestor"``: the given class is above the suggestion (bird given, brambling suggested);
    ``"descendant"``: below it; ``"sibling"``: they share a parent; ``None`` otherwise, or
    when either is unknown to ``taxonomy``.
    """
    if given == suggested:
        return None
    try:
        if taxonomy.is_ancestor(given, suggested):
            return "ancestor"
        if taxonomy.is_ancestor(suggested, given):
            return "descendant"
        if set(taxonomy.parents(given)) & set(taxonomy.parents(suggested)):
            return "sibling"
    except TaxonomyError:
        return None
    return None


def lowest_common_ancestor(taxonomy: Taxonomy, a: str, b: str) -> str | None:
    """The taxonomy's lowest common ancestor, or ``None`` when either class is unknown to it."""
    try:
        return taxonomy.lowest_common_ancestor(a, b)
    except TaxonomyError:
        return None


# Findings ----------------------------------------------------------------------------------------


def label_issue_findings(
    image_ids: Sequence[int],
    labels: np.ndarray,
    pred_probs: np.ndarray,
    issues: np.ndarray,
    *,
    classes: Sequence[str],
    taxonomy: Taxonomy,
) -> list[NewFinding]:
    """One ``label-issue`` finding per index in ``issues`` (ranked, most likely wrong first).

    ``labels`` ``(N,)`` index ``classes`` (wnids); ``pred_probs`` is ``(N, len(classes))``.
    ``rank`` in the detail starts at 1.
    """
    findings = []
    for rank, i in enumerate(issues, start=1):
        given, best = int(labels[i]), int(np.argmax(pred_probs[i]))
        p_given = float(pred_probs[i, given])
        findings.append(
            NewFinding(
                kind=LABEL_ISSUE,
                image_id=int(image_ids[i]),
                wnid=classes[given],
                score=1.0 - p_given,
                detail={
                    "given": classes[given],
                    "suggested": classes[best],
                    "rank": rank,
                    "p_given": p_given,
                    "p_suggested": float(pred_probs[i, best]),
                    "hierarchy": hierarchy_relation(taxonomy, classes[given], classes[best]),
                    "lca": lowest_common_ancestor(taxonomy, classes[given], classes[best]),
                },
            )
        )
    return findings


def class_overlap_findings(taxonomy: Taxonomy, wnids: Iterable[str]) -> list[NewFinding]:
    """One ``class-overlap`` finding per (ancestor, descendant) pair among the classes ``wnids``.

    Classes unknown to ``taxonomy`` are left out.
    """
    known = [w for w in set(wnids) if w in taxonomy]
    return [
        NewFinding(
            kind=CLASS_OVERLAP,
            wnid=below,
            detail={"ancestor": above, "descendant": below},
        )
        for above, below in find_overlaps(taxonomy, known)
    ]


def score_against_truth(flagged_keys: Iterable[str], truth: SyntheticTruth) -> tuple[float, float]:
    """``(precision, recall)`` of flagged files against a synthetic dataset's wrong labels.

    ``flagged_keys`` are manifest paths (``Image.source_key`` of a synthetic source, e.g.
    ``images/n13873502/img_000123.jpg``). Precision is 1.0 when nothing is flagged, recall 1.0
    when nothing is wrong.
    """
    flagged = set(flagged_keys)
    wrong = {f.path for f in truth.files if f.wrong_label}
    hits = len(flagged & wrong)
    precision = hits / len(flagged) if flagged else 1.0
    recall = hits / len(wrong) if wrong else 1.0
    return precision, recall


# The workspace run -------------------------------------------------------------------------------


@dataclass
class LabelIssueReport:
    """What one run of :func:`find_label_issues` did."""

    #: Images checked (labelled, not excluded, in a class with at least ``folds`` images).
    images: int
    classes: int
    #: ``label-issue`` findings recorded.
    issues: int
    #: ``class-overlap`` findings recorded.
    overlaps: int
    #: Accuracy of the out-of-sample predictions against the given labels.
    accuracy: float
    #: ``"quick"`` or the checkpoint path.
    features: str
    folds: int
    seconds: float
    #: Labelled images left out because their class has fewer than ``folds`` images.
    skipped_images: int = 0
    #: Those classes.
    skipped_classes: list[str] = field(default_factory=list)
    #: Against a synthetic truth, when one was given.
    precision: float | None = None
    recall: float | None = None


def find_label_issues(
    ws: Workspace,
    *,
    features: str | Path = "auto",
    arch: str | None = None,
    folds: int = 5,
    seed: int = 0,
    image_size: int = 64,
    quick: QuickModelConfig | None = None,
    workers: int | None = None,
    device: str | torch.device | None = None,
    truth: SyntheticTruth | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> LabelIssueReport:
    """Find likely wrong labels and overlapping classes; record them as findings.

    ``features``: ``"auto"`` trains the quick model (see the module docstring); otherwise a
    local checkpoint file, read by :func:`~synsetlab.curate.features.load_backbone` (``arch``
    names its timm architecture when the file holds bare weights). ``folds``: cross-validation
    folds; classes with fewer images are skipped. ``image_size``: side in pixels the pictures
    are decoded to. ``quick``: the quick model's settings. ``workers``: decode processes
    (default: the workspace's). ``device``: default CUDA when available. ``truth``: a synthetic
    dataset's truth, to report precision and recall. ``on_progress(advance, total)``: the
    quick model's training epochs (all folds' with ``per_fold``) as they end.
    """
    start = time.perf_counter()
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    backbone = None if features == "auto" else load_backbone(features, arch=arch)  # fail early
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        labelled = [i for i in current_images(s) if i.wnid is not None]
    counts = Counter(i.wnid for i in labelled)
    kept = [i for i in labelled if counts[i.wnid] >= folds]
    classes = sorted({i.wnid for i in kept})
    issues: list[NewFinding] = []
    accuracy = float("nan")
    if len(classes) >= 2:
        index = {wnid: c for c, wnid in enumerate(classes)}
        labels = np.array([index[i.wnid] for i in kept])
        shas = [i.sha256 for i in kept]
        pictures = load_thumbnails(ws, shas, size=image_size, workers=workers)
        device = default_device() if device is None else device
        if backbone is None:
            probs = _quick_model_probs(
                pictures, labels, shas, folds=folds, seed=seed, config=quick, device=device,
                on_progress=on_progress,
            )  # fmt: skip
        else:
            embedded, _ = embed(
                backbone, pictures, normalize=normalize_like(backbone), device=device
            )
            probs = out_of_sample_probs(embedded, labels, folds=folds, seed=seed, groups=shas)
        ranked = rank_label_issues(labels, probs)
        ids = [i.image_id for i in kept]
        issues = label_issue_findings(
            ids, labels, probs, ranked, classes=classes, taxonomy=taxonomy
        )
        accuracy = float((probs.argmax(1) == labels).mean())
    overlaps = class_overlap_findings(taxonomy, counts)
    with ws.session() as s:
        replace_findings(s, KINDS, [*issues, *overlaps])
        scores = _score(s, issues, truth) if truth is not None else (None, None)
    return LabelIssueReport(
        images=len(kept),
        classes=len(classes),
        issues=len(issues),
        overlaps=len(overlaps),
        accuracy=accuracy,
        features="quick" if backbone is None else str(features),
        folds=folds,
        seconds=time.perf_counter() - start,
        skipped_images=len(labelled) - len(kept),
        skipped_classes=sorted(w for w, n in counts.items() if n < folds),
        precision=scores[0],
        recall=scores[1],
    )


def _score(s: Session, issues: Sequence[NewFinding], truth: SyntheticTruth) -> tuple[float, float]:
    """Precision and recall of the flagged images, found by their source keys."""
    flagged = [f.image_id for f in issues]
    keys = s.scalars(select(Image.source_key).where(Image.id.in_(flagged))) if flagged else []
    return score_against_truth(keys, truth)


def _quick_model_probs(
    pictures: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str],
    *,
    folds: int,
    seed: int,
    config: QuickModelConfig | None,
    device: str | torch.device,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-sample probabilities ``(N, C)`` from the quick model (see the module docstring)."""
    config = config or QuickModelConfig()
    num_classes = int(labels.max()) + 1
    total = config.epochs * (folds if config.per_fold else 1)
    on_epoch = None if on_progress is None else (lambda: on_progress(1, total))
    if not config.per_fold:
        model = train_quick_model(
            pictures, labels, num_classes=num_classes, config=config, seed=seed, device=device,
            on_epoch=on_epoch,
        )  # fmt: skip
        features, _ = embed(model, pictures, normalize=standardize_per_image, device=device)
        return out_of_sample_probs(features, labels, folds=folds, seed=seed, groups=groups)
    probs = np.zeros((len(labels), num_classes))
    for fold, (train, held_out) in enumerate(
        fold_indices(labels, folds=folds, seed=seed, groups=groups)
    ):
        model = train_quick_model(
            pictures[train],
            labels[train],
            num_classes=num_classes,
            config=config,
            seed=seed + fold,
            device=device,
            on_epoch=on_epoch,
        )
        _, softmax = embed(
            model, pictures[held_out], normalize=standardize_per_image, device=device
        )
        assert softmax is not None  # the quick model has a classifier
        probs[held_out] = softmax
    return probs


def _check_folds(labels: np.ndarray, folds: int) -> None:
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
    small = [(c, int(n)) for c, n in enumerate(counts) if n < folds]
    if small:
        c, n = small[0]
        raise ValueError(
            f"class {c} has {n} items, fewer than folds={folds}; every class needs at least "
            "one item per fold (drop small classes or use fewer folds)"
        )
