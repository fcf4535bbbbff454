"""Model assistance: a trained classifier's evidence as each question's prior.

A question asks "is the candidate label S of image I right?". :func:`assist_project` answers
it with a ``synsetlab train`` checkpoint, before any vote, and stores the answer as the
question's ``prior``, which dynamic consensus puts in place of the class's prevalence in the
posterior (:func:`~synsetlab.annotate.consensus.posterior`) and by which
:func:`~synsetlab.annotate.assign.next_task` orders the queue (the questions one vote is most
likely to settle first). An image the model is sure of then needs one agreeing vote instead
of three or four. Steps:

1. the model's softmax over the project's images, through the inference loop
   (:func:`synsetlab.train.loop.evaluate`) over the bytes in the blob store;
2. P(S | image) = the probability of S where the model predicts S, plus that of every class
   of the model below S (a model of beagles and poodles answers "is it a dog?"). A question
   gets no prior, and is counted, when its synset has no such class, or when every class of
   the model is one (a model of shapes calls anything a "plane figure": it cannot tell);
3. temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"): one
   T for the model, fitted by the binary cross-entropy of P(S | image) on known answers:
   the project's verified labels (gold positives among them) and its gold negatives whose
   image holds a verified label, when there are :data:`MIN_KNOWN` of them (they come from
   the images being verified); else the labels of the checkpoint's own val split (its version
   in this workspace); else none (T = 1);
4. from the model's population to the candidates' (label shift; Saerens, Latinne and
   Decaestecker 2002, "Adjusting the outputs of a classifier to new a priori
   probabilities"): the calibrated P(S | image) holds the model's own prior of S, its share
   of the training images, while a candidate labelled S was put there by a source that is
   mostly right. Each image's evidence is the likelihood ratio odds(P(S | image)) /
   odds(share of S), and its prior that ratio times the odds of a right candidate in its
   class: the prevalence of the class's consensus table once its initial subset has its
   votes (what the posterior divides out again), before that the share EM finds that the
   ratios imply (a Beta(1, 1) prior on it, as
   :func:`~synsetlab.annotate.consensus.fit_independence` has). Without this step a weak
   model pulls every prior towards 1/C: measured on 3 shapes, a model at val error 0.5 gave
   median priors of 0.34 for candidates 80% right, and the crowd spent 6% more votes than
   with no prior at all;
5. held within [1 - target, target] of the project's precision target (:func:`cap`).

The model never decides alone. Consensus decides a question past the initial subset only
after one vote (``min_votes`` 1 in :func:`~synsetlab.annotate.decide.refresh_class`), and
the cap adds that a model's 0.999 cannot carry an image past one "no": at the cap, one yes
vote accepts and one no vote does not (the votes' odds ratio is below 1).

Questions about images the checkpoint trained on get no prior: a network reproduces the
labels it was trained with, wrong ones included, so its probability there is the candidate
label again, not evidence about it. They are known when the checkpoint's version is in this
workspace; calibration leaves them out too.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer
from torch.utils.data import Dataset

from synsetlab.annotate.assign import lock_project
from synsetlab.annotate.decide import refresh_class
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.projects import get_project
from synsetlab.catalog.annotation import AnnotationClass, AnnotationItem, ItemStatus
from synsetlab.catalog.models import Image, Label, LabelState, SplitAssignment, utcnow
from synsetlab.taxonomy import Taxonomy

if TYPE_CHECKING:
    from synsetlab.blobs import BlobStore
    from synsetlab.data import TransformConfig
    from synsetlab.manifest import Manifest
    from synsetlab.train.weights import LoadedModel
    from synsetlab.workspace import Workspace

__all__ = [
    "MIN_KNOWN",
    "MIN_KNOWN_YES",
    "AssistReport",
    "Calibration",
    "ClassPriors",
    "StoredPriors",
    "assist_project",
    "candidate_priors",
    "cap",
    "fit_temperature",
    "question_log_probs",
    "require_shared",
    "shared_classes",
    "store_priors",
]

#: Known answers (and of them "yes" answers) a temperature is fitted on; fewer: the next source.
MIN_KNOWN = 30
MIN_KNOWN_YES = 10
#: Bounds of the fitted temperature. Below 1 sharpens a timid model, above 1 softens an
#: overconfident one; a fit at the lower bound means the known answers were all predicted
#: right, which says nothing of overconfidence (the cap still holds).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: The priors' histogram: tenths of [0, 1].
BINS = 10
#: Questions whose probabilities are computed at once.
CHUNK = 4096


@dataclass(frozen=True)
class Calibration:
    """How the model's probabilities were calibrated before becoming priors."""

    #: ``project`` (its gold questions and verified labels), ``val`` (the checkpoint's val
    #: split) or ``none`` (T = 1).
    method: Literal["project", "val", "none"]
    temperature: float
    #: Known answers the temperature was fitted on, and of them "yes".
    answers: int
    yes: int
    #: Mean binary cross-entropy of P(S) on those answers at T = 1 and at the fitted T (nats).
    loss_before: float | None
    loss_after: float | None
    #: Why this source, in words.
    reason: str


@dataclass(frozen=True)
class StoredPriors:
    """What :func:`store_priors` changed."""

    #: Questions given a prior, and of them those that had one before.
    set: int
    replaced: int
    #: Questions whose earlier prior was removed without a new one.
    cleared: int
    #: Pending questions decided at once by their votes so far and the new prior.
    decided: int


@dataclass(frozen=True)
class ClassPriors:
    """One class's priors."""

    #: Candidate questions, and those given a prior.
    questions: int
    priors: int
    #: The class's share of the model's training images (its classes below it included): the
    #: prior the model's probabilities hold. NaN where the model cannot answer the class.
    model_share: float
    #: The share of right candidates that the priors rest on: the class's consensus table's
    #: prevalence once its initial subset is voted, else what the model's evidence implies
    #: (EM); NaN as above.
    right_share: float
    #: ``table`` or ``model``: where ``right_share`` comes from (``""`` without priors).
    share_from: str
    #: Mean of the stored priors (NaN if none).
    mean: float


@dataclass(frozen=True)
class AssistReport:
    """What :func:`assist_project` did to a project's priors."""

    project: str
    checkpoint: str
    #: Classes the model predicts.
    model_classes: int
    #: The project's candidate questions, and those given a prior.
    questions: int
    priors: int
    #: Of the priors, those summed over the model's classes below the question's synset.
    via_descendants: int
    #: Questions without a prior: synsets the model knows nothing of (and which), synsets
    #: that take in every class of the model (and which), images the checkpoint trained on,
    #: images whose bytes could not be decoded.
    unknown: int
    unknown_classes: tuple[str, ...]
    uninformative: int
    uninformative_classes: tuple[str, ...]
    trained_on: int
    unreadable: int
    #: Whether the checkpoint's version is in this workspace (else images it trained on could
    #: not be told apart).
    trained_known: bool
    #: Priors held at 1 - target or target by :func:`cap`.
    capped: int
    #: Priors on questions of the initial subsets, which get all their votes whatever the
    #: prior (each class's table rests on them).
    in_subsets: int
    calibration: Calibration
    #: The priors' ``min``, ``p10``, ``p50``, ``p90``, ``max`` and ``mean`` (empty if none).
    quantiles: dict[str, float]
    #: Priors per tenth of [0, 1] (the last holds 1.0).
    histogram: tuple[int, ...]
    #: Per class (wnid), in the project's order.
    by_class: dict[str, ClassPriors]
    stored: StoredPriors
    seconds: float
    notes: list[str] = field(default_factory=list)


# Arithmetic over arrays ------------------------------------------------------------------------


def shared_classes(
    model_classes: Sequence[str], wnids: Sequence[str], taxonomy: Taxonomy
) -> dict[str, np.ndarray]:
    """For each of ``wnids``, the indices of ``model_classes`` that say "yes, it shows it":
    the synset itself and the model's classes below it; empty where there are none."""
    ancestors = {c: taxonomy.ancestors(c) if c in taxonomy else set() for c in model_classes}
    return {
        wnid: np.array(
            [i for i, c in enumerate(model_classes) if c == wnid or wnid in ancestors[c]],
            dtype=np.int64,
        )
        for wnid in wnids
    }


def question_log_probs(
    log_probs: np.ndarray,
    columns: Sequence[np.ndarray],
    synset: np.ndarray,
    *,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """log P(yes) and log P(no) of ``n`` questions at ``temperature``, each ``(n,)``.

    ``log_probs``: ``(n, C)`` the model's log-softmax of each question's image (any per-row
    shift of the logits is the same); ``columns[k]``: the classes that mean yes for synset
    k; ``synset``: ``(n,)`` each question's k. P(yes) = sum over those classes of
    softmax(log_probs / T).
    """
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    total = logsumexp(z, axis=1)
    log_yes = np.full(len(z), -np.inf)
    log_no = np.full(len(z), -np.inf)
    for k, cols in enumerate(columns):
        rows = np.flatnonzero(synset == k)
        if not len(rows) or not len(cols):
            continue
        inside = np.zeros(z.shape[1], dtype=bool)
        inside[cols] = True
        log_yes[rows] = logsumexp(z[np.ix_(rows, np.flatnonzero(inside))], axis=1) - total[rows]
        if (~inside).any():
            log_no[rows] = logsumexp(z[np.ix_(rows, np.flatnonzero(~inside))], axis=1) - total[rows]
    return log_yes, log_no


def fit_temperature(
    log_probs: np.ndarray,
    columns: Sequence[np.ndarray],
    synset: np.ndarray,
    answers: np.ndarray,
) -> tuple[float, float, float]:
    """Temperature scaling on known answers: ``(T, loss at T = 1, loss at T)``.

    Arguments as :func:`question_log_probs`, with ``answers`` ``(n,)`` bool. The loss is the
    mean binary cross-entropy of P(yes) (nats); T is searched on a log scale within
    :data:`TEMPERATURE_BOUNDS`. Guo et al. fit T by the multi-class NLL of the true class; for
    a "yes" whose synset is one model class this is the same term, and it also takes "no"
    answers (gold negatives) and synsets the model covers by their descendants. A
    one-parameter search is all it needs: scipy's bounded scalar minimiser, no framework.
    """
    answers = np.asarray(answers, dtype=bool)

    def loss(log_t: float) -> float:
        log_yes, log_no = question_log_probs(
            log_probs, columns, synset, temperature=math.exp(log_t)
        )
        # Clipped so that one certain mistake costs a lot but not infinitely.
        picked = np.where(answers, log_yes, log_no)
        return float(-np.maximum(picked, math.log(1e-12)).mean())

    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    found = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return math.exp(found.x), loss(0.0), float(found.fun)


def candidate_priors(
    log_ratio: np.ndarray,
    *,
    share: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-10,
) -> tuple[np.ndarray, float]:
    """P(right) of ``n`` candidate labels of one class and the share of right ones, from the
    model's log likelihood ratio of each, ``(n,)``: P(right)_i = sigmoid(log_ratio_i +
    logit(share)).

    ``share``: the share of right candidates when it is known (the prevalence of the class's
    consensus table, which the posterior divides out again); otherwise EM over it (Saerens et
    al. 2002), share = the mean P(right), with a Beta(1, 1) prior so that a class of a few
    candidates that all look right does not reach 1. Hand-written: the fixed point is a few
    array operations, and no installed library offers the prior shift alone.
    """
    log_ratio = np.asarray(log_ratio, dtype=float)
    if share is not None:
        return _sigmoid(log_ratio + math.log(share / (1.0 - share))), share
    share = 0.5
    right = np.full(len(log_ratio), share)
    for _ in range(max_iter):
        right = _sigmoid(log_ratio + math.log(share / (1.0 - share)))
        new = (float(right.sum()) + 1.0) / (len(right) + 2.0)
        done = abs(new - share) < tol
        share = new
        if done:
            break
    return _sigmoid(log_ratio + math.log(share / (1.0 - share))), share


def cap(priors: np.ndarray, target_precision: float) -> np.ndarray:
    """``priors`` held within [1 - target, target]: the model alone never reaches the
    project's precision target, so an acceptance needs a vote that agrees with it."""
    return np.clip(np.asarray(priors, dtype=float), 1.0 - target_precision, target_precision)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))  # no overflow warnings


# The catalog ------------------------------------------------------------------------------------


def store_priors(
    s: Session, project: str, priors: Mapping[int, float], *, now: datetime | None = None
) -> StoredPriors:
    """Replace every prior of ``project``'s candidate questions with ``priors`` (question id
    -> probability in [0, 1]; a question left out has none afterwards), under the project's
    lock, and decide the pending questions again with them.

    Decided questions keep their decision (their prior is recorded all the same); pending
    ones whose votes, with the new prior, reach a decision are decided now. Refused
    (:class:`AnnotationError`, nothing written): ids that are not candidate questions of the
    project, values outside [0, 1]. The caller commits.
    """
    p = get_project(s, project)
    item = AnnotationItem
    rows = s.execute(
        select(item.id, item.class_id, item.prior, item.status).where(
            item.project_id == p.id, item.gold.is_(None)
        )
    ).all()
    known = {r.id: r for r in rows}
    strangers = sorted(set(priors) - set(known))
    if strangers:
        raise AnnotationError(
            f"{len(strangers)} question id(s) are not candidate questions of project "
            f"{p.slug!r} (e.g. {strangers[0]}): priors are given to its candidate labels only"
        )
    bad = [i for i, v in priors.items() if not _probability(v)]
    if bad:
        raise AnnotationError(
            f"prior {priors[bad[0]]!r} of question {bad[0]}: give a probability in [0, 1]"
        )
    lock_project(s, p)
    s.execute(
        update(AnnotationItem)
        .where(AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(None))
        .values(prior=None, value=None)
        .execution_options(synchronize_session=False)
    )
    if priors:
        s.execute(
            update(AnnotationItem),
            [{"id": int(i), "prior": float(v), "value": None} for i, v in sorted(priors.items())],
        )
    pending: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r.status is ItemStatus.pending:
            pending[r.class_id].append(r.id)
    decided = 0
    now = now or utcnow()
    for class_id, ids in sorted(pending.items()):
        klass = s.get(AnnotationClass, class_id, options=[defer(AnnotationClass.consensus)])
        assert klass is not None
        decided += refresh_class(s, p, klass, ids, now=now)
    had = {i for i, r in known.items() if r.prior is not None}
    return StoredPriors(
        set=len(priors),
        replaced=len(had & set(priors)),
        cleared=len(had - set(priors)),
        decided=decided,
    )


def _probability(value: object) -> bool:
    try:
        return 0.0 <= float(value) <= 1.0  # type: ignore[arg-type]  # NaN fails it too
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class _Questions:
    """What the catalog says of a project: its candidate questions and its known answers."""

    slug: str
    target_precision: float
    wnids: list[str]
    #: Candidate questions: (question id, image sha256, wnid).
    candidates: list[tuple[int, str, str]]
    #: Of them, those in an initial subset.
    initial: set[int]
    #: Known answers: (image sha256, wnid, answer), one per (image, wnid).
    known: list[tuple[str, str, bool]]
    #: The prevalence of the consensus table of each class that has one.
    prevalence: dict[str, float]


def _read_project(s: Session, project: str) -> _Questions:
    p = get_project(s, project)
    classes = s.execute(
        select(AnnotationClass.wnid, AnnotationClass.consensus)
        .where(AnnotationClass.project_id == p.id)
        .order_by(AnnotationClass.id)
    ).all()
    wnids = [w for w, _ in classes]
    prevalence = {w: float(table["prevalence"]) for w, table in classes if table}
    items = s.execute(
        select(
            AnnotationItem.id,
            AnnotationItem.image_id,
            Image.sha256,
            AnnotationItem.wnid,
            AnnotationItem.gold,
            AnnotationItem.initial,
        )
        .join(Image, Image.id == AnnotationItem.image_id)
        .where(AnnotationItem.project_id == p.id)
        .order_by(AnnotationItem.id)
    ).all()
    candidates = [(i, sha, w) for i, _, sha, w, gold, _ in items if gold is None]
    initial = {i for i, *_, gold, first in items if gold is None and first}
    # Known answers: verified labels of the project's classes (gold positives among them),
    # and gold negatives whose image holds a verified label. A gold negative that rests on
    # candidate labels alone is as unsure as the labels being verified (a planted triangle
    # filed as a circle is a "known negative" for triangle); never a hidden test image.
    hidden = select(SplitAssignment.image_id).where(SplitAssignment.hidden)
    visible_verified = (Label.state == LabelState.verified) & Label.image_id.not_in(hidden)
    positives = s.execute(
        select(Image.sha256, Label.wnid)
        .join(Image, Image.id == Label.image_id)
        .where(visible_verified, Label.wnid.in_(wnids))
    ).all()
    known: dict[tuple[str, str], bool] = {(sha, w): True for sha, w in positives}
    negatives = select(AnnotationItem.image_id).where(
        AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(False)
    )
    sure = set(
        s.scalars(select(Label.image_id).where(visible_verified, Label.image_id.in_(negatives)))
    )
    for _, image_id, sha, w, gold, _ in items:
        if gold is False and image_id in sure:
            known.setdefault((sha, w), False)
    return _Questions(
        p.slug,
        p.target_precision,
        wnids,
        candidates,
        initial,
        [(sha, w, answer) for (sha, w), answer in known.items()],
        prevalence,
    )


def _trained_images(
    ws: Workspace, loaded: LoadedModel
) -> tuple[Manifest | None, set[str], np.ndarray]:
    """The checkpoint's version (if this workspace holds it), its training images' sha256,
    and each model class's share of them, ``(C,)`` (uniform when the version is not here)."""
    from synsetlab.manifest import Manifest

    classes = len(loaded.classes)
    uniform = np.full(classes, 1.0 / classes)
    if not loaded.version_id or not ws.blobs.exists(loaded.version_id):
        return None, set(), uniform
    manifest = Manifest.from_bytes(ws.blobs.get(loaded.version_id))
    train = manifest.split("train")
    index = {c: i for i, c in enumerate(loaded.classes)}
    counts = np.bincount([index[e.wnid] for e in train if e.wnid in index], minlength=classes)
    share = counts / counts.sum() if counts.sum() else uniform
    return manifest, {e.sha256 for e in train}, share


def _predict(
    loaded: LoadedModel,
    blobs: BlobStore,
    shas: Sequence[str],
    *,
    device: torch.device,
    batch_size: int,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, C)`` log-softmax of the images ``shas`` and ``(N,)`` bool: decoded."""
    from synsetlab.data import create_loader
    from synsetlab.train.inference import UNREADABLE
    from synsetlab.train.loop import evaluate

    if not shas:
        return np.zeros((0, len(loaded.classes))), np.zeros(0, dtype=bool)
    dataset = _BlobImages(blobs, shas, loaded.config.data)
    loader = create_loader(dataset, batch_size=batch_size, workers=workers)
    out = evaluate(loaded.model, loader, normalize=loaded.normalizer(device), device=device)
    return _log(out.probs), out.labels != UNREADABLE


def _log(probs: np.ndarray) -> np.ndarray:
    """log of ``evaluate``'s float32 probabilities: logit gaps up to ~87 are kept exactly."""
    tiny = np.finfo(np.float32).tiny
    return np.log(np.maximum(probs, tiny), dtype=np.float32)


class _BlobImages(Dataset):
    """Images by sha256 from the blob store, as the model's evaluation transform sees them;
    label :data:`~synsetlab.train.inference.UNREADABLE` where the bytes cannot be decoded (as
    ``predict_files`` treats a file it cannot read)."""

    def __init__(self, blobs: BlobStore, shas: Sequence[str], data: TransformConfig) -> None:
        from synsetlab.data import create_transform

        self.blobs, self.shas, self.data = blobs, list(shas), data
        self.transform = create_transform(data, train=False)

    def __len__(self) -> int:
        return len(self.shas)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from synsetlab.data import decode_image
        from synsetlab.train.inference import UNREADABLE

        try:
            data = self.blobs.get(self.shas[index])
            image = decode_image(data, min_side=self.data.decode_size(train=False))
        except (OSError, ValueError, SyntaxError):  # a missing blob, or Pillow refusing it
            size = self.data.eval_size
            return torch.zeros((3, size, size), dtype=torch.uint8), UNREADABLE
        return self.transform(image), 0


# The whole step ----------------------------------------------------------------------------------


def assist_project(
    ws: Workspace,
    project: str,
    checkpoint: Path | str | LoadedModel,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    workers: int = 0,
) -> AssistReport:
    """Run ``checkpoint`` (a ``synsetlab train`` checkpoint, or one loaded already) over the
    images of ``project``'s candidate questions and store each question's P(label right)
    from the model as its prior, replacing every earlier prior (the module docstring gives
    each step). ``device``: where the model runs; ``batch_size``: images per forward pass;
    ``workers``: loader processes.

    Refused with :class:`AnnotationError` before any inference (see :func:`require_shared`):
    a checkpoint with no class among the project's classes or below one, or with every class
    below one of them. A file that is not a classifier checkpoint raises
    :class:`~synsetlab.train.checkpoint.CheckpointError` (also a user error).
    """
    from synsetlab.train.weights import LoadedModel, load_model

    started = time.perf_counter()
    device = torch.device(device)
    if isinstance(checkpoint, LoadedModel):
        loaded = checkpoint
        loaded.model.to(device)
    else:
        loaded = load_model(checkpoint, device=device)
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        q = _read_project(s, project)
    columns_of = require_shared(loaded, q.slug, q.wnids, taxonomy)
    informative = {w for w, cols in columns_of.items() if 0 < len(cols) < len(loaded.classes)}

    manifest, trained, model_share = _trained_images(ws, loaded)
    answerable = [c for c in q.candidates if c[2] in informative]
    asked = [c for c in answerable if c[1] not in trained]
    known = [k for k in q.known if len(columns_of[k[1]]) and k[0] not in trained]
    if not _enough(known):
        known = []
    shas = sorted({sha for _, sha, _ in asked} | {sha for sha, _, _ in known})
    log_probs, readable = _predict(
        loaded, ws.blobs, shas, device=device, batch_size=batch_size, workers=workers
    )
    row_of = {sha: i for i, sha in enumerate(shas)}
    synset_index = {w: k for k, w in enumerate(q.wnids)}
    columns = [columns_of[w] for w in q.wnids]
    calibration = _calibrate(
        ws, loaded, manifest, [k for k in known if readable[row_of[k[0]]]], log_probs, row_of,
        synset_index, columns, device=device, batch_size=batch_size, workers=workers,
    )  # fmt: skip

    unreadable = sum(not readable[row_of[sha]] for _, sha, _ in asked)
    asked = [c for c in asked if readable[row_of[c[1]]]]
    synset = np.array([synset_index[w] for *_, w in asked], dtype=np.int64)
    rows = np.array([row_of[sha] for _, sha, _ in asked], dtype=np.int64)
    log_yes, log_no = np.empty(len(asked)), np.empty(len(asked))
    for start in range(0, len(asked), CHUNK):  # (CHUNK, C) float64 at a time, not (n, C)
        part = slice(start, start + CHUNK)
        log_yes[part], log_no[part] = question_log_probs(
            log_probs[rows[part]], columns, synset[part], temperature=calibration.temperature
        )
    # The model's evidence: its odds of S over the odds its training share gives S.
    share_of = np.clip([model_share[cols].sum() for cols in columns], 1e-6, 1.0 - 1e-6)
    log_ratio = log_yes - log_no - np.log(share_of[synset] / (1.0 - share_of[synset]))
    raw = np.zeros(len(asked))
    right_share = np.full(len(q.wnids), np.nan)
    for k in np.unique(synset):
        rows = synset == k
        raw[rows], right_share[k] = candidate_priors(
            log_ratio[rows], share=q.prevalence.get(q.wnids[k])
        )
    priors = cap(raw, q.target_precision)
    with ws.session() as s:
        given = dict(zip([c[0] for c in asked], priors.tolist(), strict=True))
        stored = store_priors(s, q.slug, given)

    own_index = {c: i for i, c in enumerate(loaded.classes)}
    via_descendants = sum(
        not np.array_equal(columns_of[w], [own_index.get(w, -1)]) for *_, w in asked
    )
    unknown = [w for w in q.wnids if not len(columns_of[w])]
    whole = [w for w in q.wnids if len(columns_of[w]) == len(loaded.classes)]
    report = AssistReport(
        project=q.slug,
        checkpoint=str(loaded.path),
        model_classes=len(loaded.classes),
        questions=len(q.candidates),
        priors=len(asked),
        via_descendants=int(via_descendants),
        unknown=sum(w in unknown for *_, w in q.candidates),
        unknown_classes=tuple(unknown),
        uninformative=sum(w in whole for *_, w in q.candidates),
        uninformative_classes=tuple(whole),
        trained_on=len(answerable) - len(asked) - unreadable,
        unreadable=unreadable,
        trained_known=manifest is not None,
        capped=int(((raw < 1.0 - q.target_precision) | (raw > q.target_precision)).sum()),
        in_subsets=sum(i in q.initial for i, *_ in asked),
        calibration=calibration,
        quantiles=_quantiles(priors),
        histogram=tuple(np.histogram(priors, bins=BINS, range=(0.0, 1.0))[0].tolist()),
        by_class=_by_class(q, asked, priors, informative, share_of, right_share),
        stored=stored,
        seconds=time.perf_counter() - started,
    )
    report.notes.extend(_notes(report, loaded))
    return report


def _enough(known: Sequence[tuple[str, str, bool]]) -> bool:
    return len(known) >= MIN_KNOWN and sum(a for *_, a in known) >= MIN_KNOWN_YES


def require_shared(
    loaded: LoadedModel, project: str, wnids: Sequence[str], taxonomy: Taxonomy
) -> dict[str, np.ndarray]:
    """:func:`shared_classes` of the model and the project's classes ``wnids``; refused
    (:class:`AnnotationError` naming both sides' classes and what to do) when the model can
    answer none of them: no class of it is one of theirs or below one, or every class of it
    is (then it calls every image one). Cheap: a command checks it before creating a project."""
    columns_of = shared_classes(loaded.classes, wnids, taxonomy)
    if any(0 < len(columns_of[w]) < len(loaded.classes) for w in wnids):
        return columns_of

    def named(classes: Sequence[str]) -> str:
        shown = ", ".join(
            f"{w} ({taxonomy.name_of(w)})" if w in taxonomy else w for w in classes[:4]
        )
        return shown + (f" and {len(classes) - 4} more" if len(classes) > 4 else "")

    model = (
        f"checkpoint {loaded.path} predicts {len(loaded.classes)} classes ({named(loaded.classes)})"
    )
    if any(len(columns_of[w]) for w in wnids):
        why = (
            f"all of them below the class(es) of project {project!r} ({named(list(wnids))}), "
            "so it calls every image one and cannot tell"
        )
    else:
        why = f"none of them a class of project {project!r} ({named(list(wnids))}) or below one"
    raise AnnotationError(
        f"{model}, {why}: assist with a checkpoint that tells these classes from others "
        "(synsetlab train, or synsetlab finetune from this one on a version that holds them)"
    )


def _calibrate(
    ws: Workspace,
    loaded: LoadedModel,
    manifest: Manifest | None,
    known: list[tuple[str, str, bool]],
    log_probs: np.ndarray,
    row_of: Mapping[str, int],
    synset_index: Mapping[str, int],
    columns: Sequence[np.ndarray],
    *,
    device: torch.device,
    batch_size: int,
    workers: int,
) -> Calibration:
    """The temperature, from the first source with enough known answers (module docstring)."""
    yes = sum(a for *_, a in known)
    if _enough(known):
        rows = np.array([row_of[sha] for sha, _, _ in known], dtype=np.int64)
        synset = np.array([synset_index[w] for _, w, _ in known], dtype=np.int64)
        answers = np.array([a for *_, a in known], dtype=bool)
        t, before, after = fit_temperature(log_probs[rows], columns, synset, answers)
        return Calibration(
            "project", t, len(known), yes, before, after,
            f"{len(known)} known answers of the project ({yes} yes: verified labels and gold "
            f"positives; {len(known) - yes} no: gold negatives) on images the model did not "
            "train on: the images being verified",
        )  # fmt: skip
    short = (
        f"the project has fewer than {MIN_KNOWN} known answers ({MIN_KNOWN_YES} of them yes) on "
        "images the model did not train on"
    )
    if manifest is None:
        return Calibration(
            "none", 1.0, 0, 0, None, None,
            f"{short}, and the checkpoint's version is not in this workspace: the model's own "
            "probabilities, held within the target by the cap",
        )  # fmt: skip
    val = manifest.split("val")
    if len(val) < MIN_KNOWN:
        return Calibration(
            "none", 1.0, 0, 0, None, None,
            f"{short}, and the checkpoint's val split holds {len(val)} images (fewer than "
            f"{MIN_KNOWN}): the model's own probabilities, held within the target by the cap",
        )  # fmt: skip
    from synsetlab.train.inference import predict_split

    _, out = predict_split(
        loaded, manifest, ws.blobs, "val", batch_size=batch_size, workers=workers, device=device
    )
    val_log_probs = _log(out.probs)
    own = [np.array([c], dtype=np.int64) for c in range(len(loaded.classes))]
    t, before, after = fit_temperature(
        val_log_probs, own, out.labels.astype(np.int64), np.ones(len(out.labels), dtype=bool)
    )
    return Calibration(
        "val", t, len(out.labels), len(out.labels), before, after,
        f"{short}; fitted on the {len(out.labels)} images of the checkpoint's val split "
        f"(version {loaded.version_id[:12] if loaded.version_id else '?'})",
    )  # fmt: skip


def _quantiles(priors: np.ndarray) -> dict[str, float]:
    if not len(priors):
        return {}
    points = np.quantile(priors, [0.0, 0.1, 0.5, 0.9, 1.0])
    names = ("min", "p10", "p50", "p90", "max")
    return {**dict(zip(names, map(float, points), strict=True)), "mean": float(priors.mean())}


def _by_class(
    q: _Questions,
    asked: list[tuple[int, str, str]],
    priors: np.ndarray,
    informative: set[str],
    model_share: np.ndarray,
    right_share: np.ndarray,
) -> dict[str, ClassPriors]:
    questions = Counter(w for *_, w in q.candidates)
    given: dict[str, list[float]] = defaultdict(list)
    for (*_, w), prior in zip(asked, priors.tolist(), strict=True):
        given[w].append(prior)
    nan = float("nan")
    return {
        w: ClassPriors(
            questions=questions[w],
            priors=len(given[w]),
            model_share=float(model_share[k]) if w in informative else nan,
            right_share=float(right_share[k]),
            share_from=("table" if w in q.prevalence else "model") if given[w] else "",
            mean=float(np.mean(given[w])) if given[w] else nan,
        )
        for k, w in enumerate(q.wnids)
    }


def _notes(report: AssistReport, loaded: LoadedModel) -> list[str]:
    """What a user should know about the priors, in words."""
    notes = []
    if report.unknown:
        notes.append(
            f"{report.unknown} questions of {len(report.unknown_classes)} classes the model "
            f"does not predict, nor any class below them ({', '.join(report.unknown_classes[:5])})"
            ": no prior; they get votes as before"
        )
    if report.uninformative:
        notes.append(
            f"{report.uninformative} questions of classes that take in every class of the model "
            f"({', '.join(report.uninformative_classes[:5])}): no prior (it calls every image one)"
        )
    if report.trained_on:
        notes.append(
            f"{report.trained_on} questions are about images the checkpoint trained on: no "
            "prior (a model repeats the labels it learnt, wrong ones too); assist them with a "
            "model trained on a version without them, e.g. of verified labels only"
        )
    if not report.trained_known:
        notes.append(
            f"the checkpoint's version ({loaded.version_id or 'not recorded'}) is not in this "
            "workspace: priors were set on every image, whether the model trained on it or not"
        )
    if report.priors and report.in_subsets > report.priors / 2:
        notes.append(
            f"{report.in_subsets} of the {report.priors} questions with a prior are in the "
            "initial subsets, which get all their votes whatever the prior: the model saves "
            "votes on the rest only (a smaller --initial-items leaves it more)"
        )
    if report.unreadable:
        notes.append(f"{report.unreadable} images could not be decoded: no prior")
    c = report.calibration
    if c.method != "none" and c.temperature <= TEMPERATURE_BOUNDS[0] * 1.01:
        notes.append(
            "the temperature fit reached its lower bound: the known answers were all predicted "
            "right, which says nothing of over-confidence; the cap still holds every prior "
            "within the target"
        )
    return notes
