"""Ensembles of trained checkpoints, evaluated as one model: the (weighted) mean of the
members' softmax outputs over a split.

Members may differ in architecture and input size: each runs over the split with its own
evaluation transform and normalisation (:func:`~synsetlab.train.inference.predict_split`), so
they are combined at the level of per-image probabilities, in manifest order. They must
predict the same classes in the same order.

>>> ensemble = load_ensemble(["runs/a/best.pt", "runs/b/best.pt"])
>>> result = evaluate_ensemble(ensemble, version.manifest, ws.blobs, "val", tta_flip=True)
>>> result.report.top1_error, [m.top1_error for m in result.members]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synsetlab.blobs import BlobStore
from synsetlab.data import VersionDataset
from synsetlab.errors import UserError
from synsetlab.manifest import Manifest
from synsetlab.metrics import ClassificationReport, classification_report, topk_error
from synsetlab.taxonomy.wordnet import Taxonomy
from synsetlab.train.inference import predict_split, require_known_labels, write_evaluation
from synsetlab.train.loop import EvalOutput
from synsetlab.train.weights import LoadedModel, load_model


class EnsembleError(UserError, ValueError):
    """Checkpoints cannot be ensembled as asked; the message names the one at fault."""


@dataclass(frozen=True)
class Ensemble:
    """Loaded members, each with its checkpoint path and weight (the weights sum to 1)."""

    paths: tuple[Path, ...]
    members: tuple[LoadedModel, ...]
    weights: tuple[float, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.members[0].classes


@dataclass
class EnsembleOutput:
    """The ensemble's and each member's outputs over one split, in manifest order."""

    dataset: VersionDataset
    #: The weighted mean of the members' ``(N, C)`` probabilities; its loss is their NLL.
    ensemble: EvalOutput
    members: list[EvalOutput]


@dataclass(frozen=True)
class MemberScore:
    """One member's errors on the split, to compare with the ensemble's."""

    path: Path
    weight: float
    top1_error: float
    #: None with fewer than 5 classes.
    top5_error: float | None
    loss: float | None


@dataclass
class EnsembleEvaluation:
    report: ClassificationReport
    #: Mean negative log-likelihood of the ensemble's probabilities.
    loss: float | None
    members: list[MemberScore]


def normalize_weights(weights: Sequence[float] | None, n: int) -> tuple[float, ...]:
    """``n`` equal weights, or ``weights`` (non-negative, not all zero) scaled to sum to 1."""
    if weights is None:
        return (1.0 / n,) * n
    if len(weights) != n:
        raise EnsembleError(f"{len(weights)} weights for {n} checkpoints: give one per checkpoint")
    w = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise EnsembleError(f"weights {list(weights)} must be non-negative and not all zero")
    return tuple(float(v) for v in w / w.sum())


def check_same_classes(paths: Sequence[Path], classes: Sequence[tuple[str, ...]]) -> None:
    """Refuse members whose classes (or their order) differ from the first member's."""
    first = classes[0]
    for path, own in zip(paths[1:], classes[1:], strict=True):
        if own == first:
            continue
        if sorted(own) == sorted(first):
            detail = "the same classes in another order"
        else:
            shared = len(set(own) & set(first))
            detail = f"{len(own)} classes, {shared} of them shared, against {len(first)}"
        raise EnsembleError(
            f"{path} predicts other classes than {paths[0]} ({detail}): an ensemble averages "
            "class probabilities, so every checkpoint must predict the same classes in the same "
            "order; leave it out, or fine-tune it on the same version first"
        )


def load_ensemble(
    paths: Sequence[Path | str],
    *,
    weights: Sequence[float] | None = None,
    device: torch.device | str = "cpu",
) -> Ensemble:
    """Load every checkpoint (:func:`~synsetlab.train.weights.load_model`) onto ``device``
    and check that they share their classes."""
    if not paths:
        raise EnsembleError("no checkpoints to ensemble")
    norm = normalize_weights(weights, len(paths))
    resolved = tuple(Path(p) for p in paths)
    members = tuple(load_model(p, device=device) for p in resolved)
    check_same_classes(resolved, [m.classes for m in members])
    return Ensemble(resolved, members, norm)


def predict_ensemble(
    ensemble: Ensemble, manifest: Manifest, blobs: BlobStore, split: str, **kwargs: Any
) -> EnsembleOutput:
    """Each member's softmax outputs over a split (``kwargs`` as
    :func:`~synsetlab.train.inference.predict_split`: ``tta_flip``, ``batch_size``, ``device``
    ...) and their weighted mean ``sum_i w_i p_i`` (``(N, C)`` float32)."""
    outputs: list[EvalOutput] = []
    dataset: VersionDataset | None = None
    for member in ensemble.members:
        dataset, out = predict_split(member, manifest, blobs, split, **kwargs)
        if outputs and not np.array_equal(out.labels, outputs[0].labels):
            raise AssertionError("members saw the split's images in different orders")
        outputs.append(out)
    assert dataset is not None
    stacked = np.stack([out.probs for out in outputs]).astype(np.float64)  # (M, N, C)
    probs = np.tensordot(np.asarray(ensemble.weights), stacked, axes=1)  # (N, C)
    labels = outputs[0].labels
    mean = EvalOutput(_nll(probs, labels), np.asarray(probs, dtype=np.float32), labels)
    return EnsembleOutput(dataset, mean, outputs)


def _nll(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean negative log-likelihood of ``(N,)`` labels under ``(N, C)`` probabilities, as
    :func:`~synsetlab.train.loop.evaluate` computes it; None where a label is hidden."""
    if not len(labels) or (labels < 0).any():
        return None
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def evaluate_ensemble(
    checkpoints: Ensemble | Sequence[Path | str],
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    taxonomy: Taxonomy | None = None,
    tta_flip: bool = False,
    weights: Sequence[float] | None = None,
    out_dir: Path | None = None,
    batch_size: int = 64,
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> EnsembleEvaluation:
    """ILSVRC metrics of the ensemble on a labelled split, and each member's errors; with
    ``out_dir``, also ``metrics.json`` (with a ``members`` list), ``confusion.png`` and
    ``reliability.png`` there, as :func:`~synsetlab.train.inference.evaluate_split` writes.

    ``checkpoints``: paths (loaded with ``weights``) or a loaded :class:`Ensemble`.
    """
    if isinstance(checkpoints, Ensemble):
        if weights is not None:
            raise EnsembleError("give the weights to load_ensemble, not with a loaded ensemble")
        ensemble = checkpoints
    else:
        ensemble = load_ensemble(checkpoints, weights=weights, device=device)
    out = predict_ensemble(
        ensemble, manifest, blobs, split,
        batch_size=batch_size, workers=workers, tta_flip=tta_flip, device=device,
    )  # fmt: skip
    labels = out.ensemble.labels
    require_known_labels(labels, split)
    classes = list(manifest.classes)
    report = classification_report(out.ensemble.probs, labels, classes=classes, taxonomy=taxonomy)
    members = [
        MemberScore(
            path=path,
            weight=weight,
            top1_error=topk_error(member.probs, labels, k=1),
            top5_error=topk_error(member.probs, labels, k=5) if len(classes) >= 5 else None,
            loss=member.loss,
        )
        for path, weight, member in zip(ensemble.paths, ensemble.weights, out.members, strict=True)
    ]
    result = EnsembleEvaluation(report, out.ensemble.loss, members)
    if out_dir is not None:
        _write(result, out_dir, split=split, images=len(out.dataset), tta_flip=tta_flip,
               taxonomy=taxonomy)  # fmt: skip
    return result


def _write(
    result: EnsembleEvaluation,
    out_dir: Path,
    *,
    split: str,
    images: int,
    tta_flip: bool,
    taxonomy: Taxonomy | None,
) -> None:
    members = [
        {"checkpoint": str(m.path), "weight": m.weight, "top1_error": m.top1_error,
         "top5_error": m.top5_error, "loss": m.loss}
        for m in result.members
    ]  # fmt: skip
    write_evaluation(
        result.report, out_dir, split=split, images=images, loss=result.loss,
        extra={"tta_flip": tta_flip, "members": members}, taxonomy=taxonomy,
    )  # fmt: skip


__all__ = [
    "Ensemble",
    "EnsembleError",
    "EnsembleEvaluation",
    "EnsembleOutput",
    "MemberScore",
    "check_same_classes",
    "evaluate_ensemble",
    "load_ensemble",
    "normalize_weights",
    "predict_ensemble",
]
