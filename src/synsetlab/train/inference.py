"""Using a trained checkpoint: evaluation on a version's split, prediction on image files,
challenge submissions. All take a :class:`~synsetlab.train.weights.LoadedModel`
(:func:`~synsetlab.train.weights.load_model`) and read its own
config for the transform."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from synsetlab.atomic import atomic_file
from synsetlab.blobs import BlobStore
from synsetlab.data import VersionDataset, create_loader, create_transform
from synsetlab.data.dataset import decode_image
from synsetlab.data.transforms import TransformConfig
from synsetlab.errors import UserError
from synsetlab.manifest import Manifest
from synsetlab.metrics import ClassificationReport, classification_report, topk_predictions
from synsetlab.submission_files import kaggle_csv
from synsetlab.taxonomy.wordnet import Taxonomy
from synsetlab.train.checkpoint import CheckpointError
from synsetlab.train.loop import EvalOutput, evaluate
from synsetlab.train.weights import LoadedModel


class EvaluationError(UserError, ValueError):
    """An evaluation or prediction that cannot run as asked (hidden labels, no images, an
    unknown format or option); the message says what to do instead."""


#: Image file suffixes ``predict`` picks up in folders (Pillow reads them all).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def check_classes(loaded: LoadedModel, manifest: Manifest) -> None:
    if tuple(manifest.classes) != loaded.classes:
        shared = len(set(manifest.classes) & set(loaded.classes))
        raise CheckpointError(
            f"the checkpoint predicts {len(loaded.classes)} classes and the version has "
            f"{len(manifest.classes)} ({shared} shared): evaluate on a version with its classes, "
            "or fine-tune it first (synsetlab finetune)"
        )


def split_loader(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    batch_size: int = 64,
    workers: int = 0,
    reveal_hidden: bool = False,
) -> tuple[VersionDataset, DataLoader]:
    """A split as the model's evaluation transform sees it: dataset and loader, in manifest
    order. Refuses a version whose classes are not the model's."""
    check_classes(loaded, manifest)
    dataset = VersionDataset.with_transform(
        manifest, split, blobs, loaded.config.data, train=False, reveal_hidden=reveal_hidden
    )
    return dataset, create_loader(dataset, batch_size=batch_size, workers=workers)


def predict_split(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    batch_size: int = 64,
    workers: int = 0,
    tta_flip: bool = False,
    device: torch.device | str = "cpu",
    reveal_hidden: bool = False,
) -> tuple[VersionDataset, EvalOutput]:
    """Softmax outputs of the model over a split (evaluation transform), in manifest order."""
    dataset, loader = split_loader(
        loaded, manifest, blobs, split, batch_size=batch_size, workers=workers,
        reveal_hidden=reveal_hidden,
    )  # fmt: skip
    device = torch.device(device)
    out = evaluate(
        loaded.model, loader, normalize=loaded.normalizer(device), device=device, tta_flip=tta_flip
    )
    return dataset, out


def evaluate_split(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    taxonomy: Taxonomy | None = None,
    out_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    tta_flip: bool = False,
    **kwargs: Any,
) -> ClassificationReport:
    """ILSVRC metrics of the model on a labelled split; with ``out_dir``, also
    ``metrics.json`` (naming the checkpoint, its weights and the TTA, and ``extra``, e.g. the
    version), ``confusion.png`` and ``reliability.png`` there."""
    dataset, out = predict_split(loaded, manifest, blobs, split, tta_flip=tta_flip, **kwargs)
    require_known_labels(out.labels, split)
    report = classification_report(
        out.probs, out.labels, classes=list(manifest.classes), taxonomy=taxonomy
    )
    if out_dir is not None:
        how = {"checkpoint": str(loaded.path), "weights": loaded.weights,
               "tta": "flip" if tta_flip else "none", **(extra or {})}  # fmt: skip
        write_evaluation(report, out_dir, split=split, images=len(dataset), loss=out.loss,
                         extra=how, taxonomy=taxonomy)  # fmt: skip
    return report


def evaluation_dir(checkpoint: Path, version: str, split: str, *, tta_flip: bool = False) -> Path:
    """Where an evaluation's files go by default: ``eval-VERSION-SPLIT[-flip]/`` beside the
    checkpoint (one folder per way of evaluating, so none overwrites another)."""
    return Path(checkpoint).parent / (f"eval-{version}-{split}" + ("-flip" if tta_flip else ""))


def require_known_labels(labels: np.ndarray, split: str) -> None:
    """Refuse to score a split whose labels are hidden (-1)."""
    if (labels < 0).any():
        raise EvaluationError(
            f"the {split!r} split's labels are hidden: only the challenge scorer reads them; "
            "evaluate on val, or make a submission (synsetlab submission)"
        )


def write_evaluation(
    report: ClassificationReport,
    out_dir: Path,
    *,
    split: str,
    images: int,
    loss: float | None,
    extra: dict[str, Any] | None = None,
    taxonomy: Taxonomy | None = None,
) -> None:
    """``metrics.json`` (the report, split, image count, loss and ``extra``), ``confusion.png``
    and ``reliability.png`` in ``out_dir``. With ``taxonomy``, the confusion matrix names each
    class by its first lemma and wnid ("heart n13865904"), not its wnid alone."""
    from synsetlab.metrics.plots import plot_confusion_matrix, plot_reliability_diagram

    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"split": split, "images": images, "loss": loss, **report.to_dict(), **(extra or {})}
    (out_dir / "metrics.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    names = display_names(report.classes, taxonomy)
    plot_confusion_matrix(report.confusion_matrix, names, out_dir / "confusion.png")
    plot_reliability_diagram(report.reliability, out_dir / "reliability.png")


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image file."""

    path: str
    #: ``(wnid, lemma, probability)`` best first; empty when the file cannot be decoded.
    top: tuple[tuple[str, str, float], ...]


#: The label :class:`_FilesDataset` gives a file it cannot decode.
UNREADABLE = -2


class _FilesDataset(Dataset):
    def __init__(self, paths: Sequence[Path], transform: Any, data: TransformConfig) -> None:
        self.paths, self.transform, self.data = paths, transform, data

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        try:
            data = self.paths[index].read_bytes()
            image = decode_image(data, min_side=self.data.decode_size(train=False))
        except (OSError, ValueError, SyntaxError):  # Pillow's ways of refusing a file
            size = self.data.eval_size
            return torch.zeros((3, size, size), dtype=torch.uint8), UNREADABLE
        return self.transform(image), -1


def image_files(inputs: Iterable[Path]) -> list[Path]:
    """Files given, and image files found (recursively, sorted) in folders given."""
    found: list[Path] = []
    for item in inputs:
        item = Path(item).expanduser()
        if item.is_dir():
            found += sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        elif item.is_file():
            found.append(item)
        elif not item.exists():
            raise FileNotFoundError(f"{item} does not exist")
        else:
            raise FileNotFoundError(f"{item} is neither a file nor a folder")
    return found


def predict_files(
    loaded: LoadedModel,
    paths: Sequence[Path],
    *,
    taxonomy: Taxonomy,
    topk: int = 5,
    batch_size: int = 64,
    tta_flip: bool = False,
    device: torch.device | str = "cpu",
) -> list[Prediction]:
    """Top-``topk`` classes (wnid, first lemma, probability) of each image file; files that
    cannot be decoded get an empty ``top`` (a ``ValueError`` when none can)."""
    if not paths:
        raise EvaluationError("no image files to predict")
    if topk < 1:
        raise EvaluationError(f"--topk {topk}: give at least 1")
    data = loaded.config.data
    dataset = _FilesDataset(paths, create_transform(data, train=False), data)
    device = torch.device(device)
    loader = create_loader(dataset, batch_size=batch_size)
    out = evaluate(
        loaded.model, loader, normalize=loaded.normalizer(device), device=device, tta_flip=tta_flip
    )
    k = min(topk, len(loaded.classes))
    best = topk_predictions(out.probs, k)
    results = []
    for path, row, probs, label in zip(paths, best, out.probs, out.labels, strict=True):
        top = tuple(
            (loaded.classes[c], taxonomy.name_of(loaded.classes[c]), float(probs[c])) for c in row
        )
        results.append(Prediction(str(path), () if label == UNREADABLE else top))
    if all(not p.top for p in results):
        raise EvaluationError(
            f"none of the {len(results)} file(s) could be decoded as an image, e.g. {paths[0]}"
        )
    return results


def display_names(classes: Sequence[str], taxonomy: Taxonomy | None) -> list[str]:
    """Each wnid as "first-lemma wnid" ("tench n01440764") where ``taxonomy`` knows it."""
    if taxonomy is None:
        return list(classes)
    return [f"{taxonomy.name_of(w)} {w}" if w in taxonomy else w for w in classes]


#: What :func:`write_predictions` writes.
PREDICTION_FORMATS = ("csv", "json", "kaggle")


def check_prediction_format(fmt: str) -> None:
    """Raise ValueError unless ``fmt`` is one of :data:`PREDICTION_FORMATS` (before predicting)."""
    if fmt not in PREDICTION_FORMATS:
        raise EvaluationError(f"unknown format {fmt!r}: {', '.join(PREDICTION_FORMATS)}")


def write_predictions(predictions: Sequence[Prediction], fmt: str) -> str:
    """Predictions as ``csv`` (``path,rank,wnid,lemma,probability`` rows), ``json``, or ``kaggle``:
    a challenge submission (``ImageId,PredictionString``) whose ImageId is each file's name
    without its extension, as the hidden test images of an export are named
    (``<split>/<sha256>.<ext>``, see ``synsetlab export V --format imagefolder``). Files that
    could not be decoded (an empty ``top``) are left out of every format."""
    predictions = [p for p in predictions if p.top]
    if fmt == "kaggle":
        return kaggle_csv((Path(p.path).stem, [wnid for wnid, _, _ in p.top]) for p in predictions)
    if fmt == "json":
        rows = [
            {
                "path": p.path,
                "top": [dict(zip(("wnid", "lemma", "probability"), t, strict=True)) for t in p.top],
            }
            for p in predictions
        ]
        return json.dumps(rows, indent=1) + "\n"
    check_prediction_format(fmt)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "rank", "wnid", "lemma", "probability"])
    for p in predictions:
        for rank, (wnid, lemma, prob) in enumerate(p.top, start=1):
            writer.writerow([p.path, rank, wnid, lemma, f"{prob:.6f}"])
    return buf.getvalue()


def write_submission(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    out: Path,
    *,
    split: str = "test",
    topk: int = 5,
    **kwargs: Any,
) -> int:
    """A challenge submission for a split: CSV ``ImageId,PredictionString`` where ImageId is
    the image's sha256 and PredictionString its top-``topk`` wnids, best first, separated
    by spaces (ILSVRC scores five guesses). Written atomically; returns the rows written."""
    dataset, output = predict_split(loaded, manifest, blobs, split, **kwargs)
    best = topk_predictions(output.probs, min(topk, len(loaded.classes)))
    rows: dict[str, list[str]] = {}
    for entry, row in zip(dataset.entries, best, strict=True):
        rows.setdefault(entry.sha256, [loaded.classes[c] for c in row])
    with atomic_file(out, "w", newline="", encoding="utf-8") as f:
        f.write(kaggle_csv(rows.items()))
    return len(rows)


__all__ = [
    "Prediction",
    "evaluate_split",
    "image_files",
    "predict_files",
    "predict_split",
    "write_predictions",
    "write_submission",
]
