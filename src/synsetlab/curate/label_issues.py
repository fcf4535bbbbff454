"""Label issues: images whose given class a cross-validated classifier disagrees with.

:func:`find_label_issues` takes the current labelled images, turns each into a feature vector
(:mod:`synsetlab.curate.features`), gets *out-of-sample* class probabilities by K-fold
cross-validation, and lets cleanlab's confident learning pick the images whose given label is
likely wrong. Out-of-sample matters: a model scoring an image it was trained on has learnt its
label, right or wrong, and vouches for it (cleanlab's documentation insists on it).

A run has four stages, each linear in the images or bounded, so that it scales: *decode*
every distinct picture once (64 px, a process pool), *train* the quick model (skipped with a
checkpoint), *embed* every image once, *fit* a logistic regression per fold on the
standardised features of the other folds. Before the work starts, a few units of each stage
are timed and the estimate is handed to ``on_plan`` (the CLI prints it).

Where the features come from:

- a checkpoint trained on other data (``features=PATH``), used as it is;
- the quick model (``features="auto"``), trained here on every image with its given label for
  at most ``epochs`` passes and at most ``max_steps`` optimiser steps
  (:class:`~synsetlab.curate.features.QuickModelConfig`). On a few hundred or thousand images
  the epochs bound it: it sees each image many times and reproduces some of the wrong labels
  it was given, which costs recall (on the quickstart's 1,060 images at 60 epochs, the
  ranking's top 10 are all planted wrong labels, but a third of them are found). On tens of
  thousands the step budget bounds it: it sees each image two or three times, learns the
  classes rather than the individual labels, and its features are nearly out-of-sample (on
  53,000 synthetic images, 4,000 steps: precision 0.95, recall 0.96). Two quick models, each
  trained on one half and embedding the other (strictly out-of-sample), measured worse on
  1,060 images (each learns from half as many: out-of-sample accuracy 0.56 against 0.93,
  precision 0.13). ``python bench/label_issues.py`` measures these.

Folds are stratified by class and grouped by content (sha256), so an image's exact duplicates
never vouch for its label from the other side of a split. Images of the hidden test split are
left out unless asked for (``include_hidden_test``): their labels are a challenge's answer key,
which only scoring code reads; checked, their findings say ``"hidden_test": true``.

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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cleanlab.filter
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select
from sqlalchemy.orm import Session
from torch import nn

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Image
from synsetlab.curate.decisions import hidden_test_ids
from synsetlab.curate.features import (
    POOL_THRESHOLD,
    Normalize,
    QuickModelConfig,
    default_device,
    embed,
    load_thumbnails,
    standardize_per_image,
    train_quick_model,
)
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import CLASS_OVERLAP, LABEL_ISSUE
from synsetlab.curate.kinds import LABEL_ISSUE_KINDS as KINDS
from synsetlab.errors import UserError
from synsetlab.taxonomy import Taxonomy, TaxonomyError, find_overlaps
from synsetlab.train.hardware import available_cpus, training_threads
from synsetlab.train.weights import Backbone, load_backbone
from synsetlab.workspace import Workspace

if TYPE_CHECKING:
    from synsetlab.synthetic import SyntheticTruth

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
    on_fold: Callable[[], None] | None = None,
) -> np.ndarray:
    """Cross-validated class probabilities ``(N, C)`` of a logistic regression.

    ``features`` is ``(N, D)``; ``labels`` ``(N,)`` holds integers ``0..C-1``, each class at
    least ``folds`` times. Each row comes from a model fitted on the other folds only
    (standardised features, L2-regularised multinomial logistic regression). ``on_fold()`` is
    called as each fold's model is fitted.
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
        model = _fit_logistic(features[train], labels[train])
        probs[np.ix_(held_out, model[-1].classes_)] = model.predict_proba(features[held_out])
        if on_fold is not None:
            on_fold()
    return probs


def _fit_logistic(features: np.ndarray, labels: np.ndarray) -> Pipeline:
    """Standardised features, L2-regularised multinomial logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=LOGISTIC_C, max_iter=2000))
    return model.fit(features, labels)


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
    hidden: Collection[int] = (),
) -> list[NewFinding]:
    """One ``label-issue`` finding per index in ``issues`` (ranked, most likely wrong first).

    ``labels`` ``(N,)`` index ``classes`` (wnids); ``pred_probs`` is ``(N, len(classes))``.
    ``rank`` in the detail starts at 1. Images whose id is in ``hidden`` (the hidden test
    split) say ``"hidden_test": true`` in their detail.
    """
    findings = []
    for rank, i in enumerate(issues, start=1):
        given, best = int(labels[i]), int(np.argmax(pred_probs[i]))
        p_given = float(pred_probs[i, given])
        detail = {
            "given": classes[given],
            "suggested": classes[best],
            "rank": rank,
            "p_given": p_given,
            "p_suggested": float(pred_probs[i, best]),
            "hierarchy": hierarchy_relation(taxonomy, classes[given], classes[best]),
            "lca": lowest_common_ancestor(taxonomy, classes[given], classes[best]),
        }
        if int(image_ids[i]) in hidden:
            detail["hidden_test"] = True
        findings.append(
            NewFinding(
                kind=LABEL_ISSUE,
                image_id=int(image_ids[i]),
                wnid=classes[given],
                score=1.0 - p_given,
                detail=detail,
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


class LabelIssueError(UserError, ValueError):
    """Label issues cannot be looked for as asked; the message names the value to change."""


#: Pictures decoded, and embedded, to time a run before it starts.
PROBE_IMAGES = 64
#: Optimiser steps timed, after one untimed warm-up step, for the same estimate.
PROBE_STEPS = 3

#: The stages of a run, in order, and what one unit of each is.
STAGES = {
    "decode": "pictures decoded",
    "train": "optimiser steps of the quick model",
    "embed": "pictures embedded",
    "fit": "cross-validation folds fitted",
}


@dataclass(frozen=True)
class LabelIssuePlan:
    """What a run of :func:`find_label_issues` is about to do, and how long it should take."""

    #: Images to check, their distinct contents (each decoded once) and their classes.
    images: int
    contents: int
    classes: int
    #: ``"quick"`` or the checkpoint path.
    features: str
    #: Quick models to train (1, or 0 with a checkpoint), the images it learns from, its steps.
    models: int
    train_images: int
    steps: int
    #: Units of work per stage (see :data:`STAGES`).
    units: dict[str, int]
    #: Estimated seconds per stage, from a few units of each timed just before the run; empty
    #: when no ``on_plan`` asked for the estimate (the probe trains a throwaway model).
    seconds: dict[str, float]
    #: Labelled images of the hidden test split left out (see ``include_hidden_test``).
    hidden_test_skipped: int = 0

    @property
    def total_seconds(self) -> float:
        """The whole estimate."""
        return sum(self.seconds.values())

    def describe(self) -> str:
        """The work and its estimated time, in one line."""
        if self.models:
            work = f"a quick model ({self.steps} steps on {self.train_images} images)"
        else:
            work = f"features from {self.features}, {self.units.get('fit', 0)}-fold fits"
        stages = ", ".join(f"{k} {_duration(v)}" for k, v in self.seconds.items())
        return (
            f"checking {self.images} images in {self.classes} classes with {work}: "
            f"about {_duration(self.total_seconds)} ({stages})"
        )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


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
    #: Labelled images of the hidden test split left out (``include_hidden_test=False``).
    hidden_test_skipped: int = 0
    #: Checked images of the hidden test split (``include_hidden_test=True``) among the issues.
    hidden_test_issues: int = 0
    #: The estimate made before the run.
    plan: LabelIssuePlan | None = None
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
    include_hidden_test: bool = False,
    truth: SyntheticTruth | None = None,
    on_plan: Callable[[LabelIssuePlan], None] | None = None,
    on_stage: Callable[[str, int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> LabelIssueReport:
    """Find likely wrong labels and overlapping classes; record them as findings.

    ``features``: ``"auto"`` trains the quick model (see the module docstring); otherwise a
    local weights file, read by :func:`~synsetlab.train.weights.load_backbone` (``arch``
    names its architecture when the file holds bare weights). ``folds``: cross-validation
    folds; classes with fewer images are skipped. ``image_size``: side in pixels the pictures
    are decoded to. ``quick``: the quick model's settings. ``workers``: decode processes
    (default: the workspace's). ``device``: default CUDA when available.
    ``include_hidden_test``: also check the images of the hidden test split (their findings
    say ``"hidden_test": true``); by default they are left out, as their labels are the
    challenge's answer key. ``truth``: a synthetic dataset's truth, to report precision and
    recall.

    Callbacks: ``on_plan(plan)`` once, before the work starts, with its estimated duration;
    ``on_stage(name, units)`` as each stage of :data:`STAGES` starts; ``on_progress(n, total)``
    as ``n`` units are done, of ``total`` in the current stage (or, without ``on_stage``, in
    the whole run).
    """
    start = time.perf_counter()
    if folds < 2:
        raise LabelIssueError(f"folds must be at least 2, got {folds}")
    config = quick or QuickModelConfig()
    backbone = None if features == "auto" else load_backbone(features, arch=arch)  # fail early
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        labelled = [i for i in current_images(s) if i.wnid is not None]
        hidden = hidden_test_ids(s)
    hidden_skipped = 0 if include_hidden_test else sum(i.image_id in hidden for i in labelled)
    if not include_hidden_test:
        labelled = [i for i in labelled if i.image_id not in hidden]
    counts = Counter(i.wnid for i in labelled)
    kept = [i for i in labelled if counts[i.wnid] >= folds]
    classes = sorted({i.wnid for i in kept})
    issues: list[NewFinding] = []
    accuracy = float("nan")
    plan = None
    if len(classes) >= 2:
        index = {wnid: c for c, wnid in enumerate(classes)}
        labels = np.array([index[i.wnid] for i in kept])
        shas = [i.sha256 for i in kept]
        device = default_device() if device is None else device
        # Training's thread choice (train.hardware.choose_threads): on CPUs shared with other
        # work, a thread per CPU makes every operator wait on the busiest core.
        with training_threads(None, workers=0, device=torch.device(device)):
            plan = _plan(
                ws,
                shas,
                classes=len(classes),
                features="quick" if backbone is None else str(features),
                folds=folds,
                config=config,
                backbone=backbone,
                image_size=image_size,
                workers=workers,
                device=device,
                hidden_test_skipped=hidden_skipped,
                timed=on_plan is not None,
            )
            if on_plan is not None:
                on_plan(plan)
            progress = _Progress(plan.units, on_stage, on_progress)
            progress.stage("decode")
            pictures = load_thumbnails(
                ws, shas, size=image_size, workers=workers, on_decoded=progress.advance
            )
            if backbone is None:
                progress.stage("train")
                net: nn.Module = train_quick_model(
                    pictures, labels, num_classes=len(classes), config=config, steps=plan.steps,
                    seed=seed, device=device, on_step=lambda: progress.advance(1),
                )  # fmt: skip
                normalize: Normalize = standardize_per_image
            else:
                net, normalize = backbone.model, backbone.normalize
            progress.stage("embed")
            embedded, _ = embed(
                net, pictures, normalize=normalize, device=device, on_batch=progress.advance
            )
            del pictures  # the fit needs only the features
        progress.stage("fit")
        probs = out_of_sample_probs(
            embedded, labels, folds=folds, seed=seed, groups=shas,
            on_fold=lambda: progress.advance(1),
        )  # fmt: skip
        ranked = rank_label_issues(labels, probs)
        ids = [i.image_id for i in kept]
        issues = label_issue_findings(
            ids, labels, probs, ranked, classes=classes, taxonomy=taxonomy, hidden=hidden
        )
        accuracy = float((probs.argmax(1) == labels).mean())
    overlaps = class_overlap_findings(taxonomy, counts)
    params = {
        "features": "quick" if backbone is None else str(features), "folds": folds, "seed": seed,
        "image_size": image_size, "include_hidden_test": include_hidden_test,
        "steps": None if plan is None else plan.steps,
    }  # fmt: skip
    skipped = len(labelled) - len(kept)
    gap = f"{skipped} images in classes of fewer than {folds} images were not checked"
    run = RunFacts(params, images=len(kept), complete=not skipped, note=gap if skipped else "")
    with ws.session() as s:
        replace_findings(s, KINDS, [*issues, *overlaps], run=run)
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
        hidden_test_skipped=hidden_skipped,
        hidden_test_issues=sum(f.image_id in hidden for f in issues),
        plan=plan,
        precision=scores[0],
        recall=scores[1],
    )


def _score(s: Session, issues: Sequence[NewFinding], truth: SyntheticTruth) -> tuple[float, float]:
    """Precision and recall of the flagged images, found by their source keys."""
    flagged = [f.image_id for f in issues]
    keys = s.scalars(select(Image.source_key).where(Image.id.in_(flagged))) if flagged else []
    return score_against_truth(keys, truth)


class _Progress:
    """Reports a run's progress stage by stage when the caller follows stages (``on_stage``),
    else as one count over the whole run, so that a single bar still fills exactly once."""

    def __init__(
        self,
        units: dict[str, int],
        on_stage: Callable[[str, int], None] | None,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        self.units, self.on_stage, self.on_progress = units, on_stage, on_progress
        self.total = units.get("decode", 0) if on_stage else sum(units.values())

    def stage(self, name: str) -> None:
        if self.on_stage is not None:
            self.total = self.units[name]
            self.on_stage(name, self.total)

    def advance(self, n: int) -> None:
        if self.on_progress is not None:
            self.on_progress(n, self.total)


def _plan(
    ws: Workspace,
    shas: list[str],
    *,
    classes: int,
    features: str,
    folds: int,
    config: QuickModelConfig,
    backbone: Backbone | None,
    image_size: int,
    workers: int | None,
    device: str | torch.device,
    hidden_test_skipped: int,
    timed: bool,
) -> LabelIssuePlan:
    """The run's work, and (``timed``) its duration estimated from a few units of each stage
    timed here: a probe that trains a throwaway model, so only when someone reads the
    estimate (the CLI does, the quickstart does not)."""
    contents = list(dict.fromkeys(shas))
    units = {"decode": len(contents), "embed": len(shas), "fit": folds}
    steps = 0
    if backbone is None:
        steps = units["train"] = config.steps(len(shas))
    units = {stage: units[stage] for stage in STAGES if stage in units}
    plan = LabelIssuePlan(
        images=len(shas), contents=len(contents), classes=classes, features=features,
        models=int(backbone is None), train_images=len(shas) if backbone is None else 0,
        steps=steps, units=units, seconds={}, hidden_test_skipped=hidden_test_skipped,
    )  # fmt: skip
    if not timed:
        return plan
    sample = contents[:PROBE_IMAGES]
    started = time.perf_counter()
    pictures = load_thumbnails(ws, sample, size=image_size, workers=0)
    per_decode = (time.perf_counter() - started) / len(sample)
    workers = ws.settings.resolved_workers() if workers is None else workers
    if len(contents) >= POOL_THRESHOLD and workers > 0:
        per_decode /= min(workers, available_cpus())  # a pool of workers decodes
    if backbone is None:
        per_step, net, normalize = _time_steps(pictures, classes, config, device)
    else:
        per_step, net, normalize = 0.0, backbone.model, backbone.normalize
    embed(net, pictures[:2], normalize=normalize, device=device)  # warm-up: first-call costs
    started = time.perf_counter()
    embedded, _ = embed(net, pictures, normalize=normalize, device=device)
    per_embed = (time.perf_counter() - started) / len(pictures)
    seconds = {
        "decode": per_decode * len(contents),
        "train": per_step * steps,
        "embed": per_embed * len(shas),
        "fit": _time_fits(embedded.shape[1], classes, rows=len(shas), folds=folds),
    }
    return replace(plan, seconds={stage: seconds[stage] for stage in units})


def _time_steps(
    pictures: np.ndarray, classes: int, config: QuickModelConfig, device: str | torch.device
) -> tuple[float, nn.Module, Normalize]:
    """Seconds per optimiser step of a throwaway quick model (after one warm-up step), and
    that model, to time its forward passes."""
    rng = np.random.default_rng(0)
    batch = pictures[rng.integers(0, len(pictures), config.batch_size)]
    labels = np.arange(len(batch)) % classes
    options = {"num_classes": classes, "config": config, "device": device}
    train_quick_model(batch, labels, steps=1, **options)  # warm-up: first-call allocations
    started = time.perf_counter()
    model = train_quick_model(batch, labels, steps=PROBE_STEPS, **options)
    return (time.perf_counter() - started) / PROBE_STEPS, model, standardize_per_image


def _time_fits(dims: int, classes: int, *, rows: int, folds: int) -> float:
    """Estimated seconds of ``folds`` logistic regressions on ``rows`` feature vectors: one
    fit on a sample of random features, timed and scaled by the rows (the solver's cost per
    iteration grows linearly with them)."""
    sample = min(rows, 1000)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(sample, dims))
    labels = np.arange(sample) % classes
    started = time.perf_counter()
    _fit_logistic(features, labels)
    return (time.perf_counter() - started) * (rows * (folds - 1) / folds / sample) * folds


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
