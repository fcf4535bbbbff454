"""Challenge submissions from a detector: detection files and localization files, in the
formats :func:`synsetlab.challenge.formats.parse_submission` reads (its module docstring
defines them).

The writers know the split only through :class:`~synsetlab.detect.evaluate.SplitImages`
(sha256 ids and stored sizes): they never read a label, so the hidden test split is what they
are for. Numbers are written as Python's ``repr`` writes floats (``12`` for ``12.0``), so the
scorer reads back exactly what was predicted.

Detection:

- ``devkit`` (``.txt``): ILSVRC DET lines ``image class score xmin ymin xmax ymax``, image and
  class 1-based indices into the sorted image ids and class list;
- ``kaggle`` (``.csv``): ``ImageId,PredictionString`` with ``wnid score xmin ymin xmax ymax``
  groups, a row for every image (empty without detections);
- ``json`` (``.json``): ``{"predictions": {ImageId: [{"wnid", "score", "box"}, ...]}}``.

Localization (up to five guesses an image, :mod:`synsetlab.detect.localization`):

- ``kaggle`` (``.csv``): ``ImageId,PredictionString`` with ``wnid xmin ymin xmax ymax`` groups;
- ``json`` (``.json``): ``{"predictions": {ImageId: [{"wnid", "box"}, ...]}}``;
- ``devkit`` (``.txt``): a line per image in sorted-id order, ``label xmin ymin xmax ymax``
  groups with 1-based class numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synsetlab.atomic import atomic_file
from synsetlab.challenge.formats import KAGGLE_HEADER, MAX_DETECTIONS
from synsetlab.detect.evaluate import (
    DetectionEvaluationError,
    SplitImages,
    align_detections,
    check_classes,
    detection_rows,
    split_images,
)
from synsetlab.detect.localization import (
    GUESSES,
    LocalizationGuesses,
    classifier_guesses,
    detector_guesses,
)
from synsetlab.detect.records import ImageDetections
from synsetlab.manifest import Manifest

if TYPE_CHECKING:
    from synsetlab.blobs import BlobStore
    from synsetlab.detect.predict import LoadedDetector
    from synsetlab.train.weights import LoadedModel

__all__ = [
    "SUFFIX_FORMATS",
    "classifier_top_classes",
    "detection_submission",
    "localization_submission",
    "submission_format",
    "write_detection_submission",
    "write_localization_submission",
    "write_text",
]

#: The format a submission file's suffix asks for.
SUFFIX_FORMATS = {".txt": "devkit", ".csv": "kaggle", ".json": "json"}


def submission_format(path: Path | str) -> str:
    """``devkit``, ``kaggle`` or ``json`` from the file's suffix (:data:`SUFFIX_FORMATS`).

    Raises:
        DetectionEvaluationError: another suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise DetectionEvaluationError(
            f"cannot tell the submission format from {Path(path).name!r}: name the file "
            ".txt (devkit), .csv (kaggle) or .json"
        )
    return SUFFIX_FORMATS[suffix]


def detection_submission(
    detections: Sequence[ImageDetections],
    images: SplitImages,
    classes: Sequence[str],
    *,
    fmt: str,
) -> str:
    """A detection submission's text.

    Args:
        detections: the detector's, at least one per image of ``images`` (labels index
            ``classes``), each image's best first.
        images: the split's images (:func:`~synsetlab.detect.evaluate.split_images`).
        classes: the version's classes, sorted.
        fmt: ``devkit``, ``kaggle`` or ``json``.

    Raises:
        DetectionEvaluationError: detections that do not fit the split, or more than
            :data:`~synsetlab.challenge.formats.MAX_DETECTIONS` for one image (predict with
            ``max_per_image`` at most that).
    """
    _check_format(fmt)
    aligned = align_detections(detections, images)
    rows = detection_rows(aligned, num_classes=len(classes))
    counts = np.bincount(rows[:, 0].astype(np.int64), minlength=images.n_images)
    if counts.size and counts.max() > MAX_DETECTIONS:
        i = int(np.argmax(counts))
        raise DetectionEvaluationError(
            f"image {images.image_ids[i][:16]}... has {counts[i]} detections, more than the "
            f"{MAX_DETECTIONS} a submission may give: keep each image's {MAX_DETECTIONS} best"
        )
    starts = np.r_[0, np.cumsum(counts)]
    if fmt == "devkit":
        lines = (
            f"{int(r[0]) + 1} {int(r[1]) + 1} {' '.join(map(_number, r[2:].tolist()))}"
            for r in rows
        )
        return "".join(line + "\n" for line in lines)
    per_image = {
        image_id: rows[starts[i] : starts[i + 1]] for i, image_id in enumerate(images.image_ids)
    }
    if fmt == "json":
        predictions = {
            image_id: [
                {"wnid": classes[int(r[1])], "score": float(r[2]), "box": r[3:].tolist()}
                for r in part
            ]
            for image_id, part in per_image.items()
        }
        return json.dumps({"predictions": predictions}, separators=(",", ":"), allow_nan=False)
    return _kaggle(
        (
            image_id,
            " ".join(
                f"{classes[int(r[1])]} {' '.join(map(_number, r[2:].tolist()))}" for r in part
            ),
        )
        for image_id, part in per_image.items()
    )


def localization_submission(
    guesses: LocalizationGuesses, images: SplitImages, classes: Sequence[str], *, fmt: str
) -> str:
    """A localization submission's text: each image's guesses (missing ones, -1, left out).

    Args:
        guesses: row ``i`` is ``images.image_ids[i]``
            (:func:`~synsetlab.detect.localization.classifier_guesses`,
            :func:`~synsetlab.detect.localization.detector_guesses`).
        images: the split's images.
        classes: the version's classes, sorted.
        fmt: ``kaggle``, ``json`` or ``devkit``.
    """
    _check_format(fmt)
    labels, boxes = guesses.labels, guesses.boxes
    if labels.shape[0] != images.n_images:
        raise ValueError(f"{labels.shape[0]} rows of guesses for {images.n_images} images")
    given = labels >= 0
    if not np.isfinite(boxes[given]).all():
        raise DetectionEvaluationError("a guess has a box that is not finite")
    rows = [
        list(zip(labels[i][given[i]].tolist(), boxes[i][given[i]].tolist(), strict=True))
        for i in range(images.n_images)
    ]
    if fmt == "devkit":
        return "".join(
            " ".join(f"{c + 1} {' '.join(map(_number, b))}" for c, b in row) + "\n" for row in rows
        )
    if fmt == "json":
        predictions = {
            image_id: [{"wnid": classes[c], "box": b} for c, b in row]
            for image_id, row in zip(images.image_ids, rows, strict=True)
        }
        return json.dumps({"predictions": predictions}, separators=(",", ":"), allow_nan=False)
    return _kaggle(
        (image_id, " ".join(f"{classes[c]} {' '.join(map(_number, b))}" for c, b in row))
        for image_id, row in zip(images.image_ids, rows, strict=True)
    )


def write_text(text: str, out: Path) -> Path:
    """Write a submission atomically (a crash leaves no half file); return ``out``."""
    with atomic_file(out, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    return out


def classifier_top_classes(
    entry_images: Sequence[str], probs: np.ndarray, images: SplitImages, *, k: int = GUESSES
) -> np.ndarray:
    """``(N, k)`` each image's ``k`` most probable classes, best first (ties to the lower
    index), row ``i`` being ``images.image_ids[i]``.

    Args:
        entry_images: the sha256 of each row of ``probs`` (a split's manifest entries, copies
            of one file included: the first copy's row is used).
        probs: ``(E, C)`` a classifier's class probabilities.
        images: the split's images.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) != len(entry_images):
        raise ValueError(f"probs {probs.shape} must have a row for each of {len(entry_images)}")
    first: dict[str, int] = {}
    for row, image_id in enumerate(entry_images):
        first.setdefault(image_id, row)
    missing = [i for i in images.image_ids if i not in first]
    if missing:
        raise ValueError(f"{len(missing)} images have no class probabilities, e.g. {missing[0]}")
    rows = probs[[first[i] for i in images.image_ids]]
    return np.argsort(-rows, axis=1, kind="stable")[:, : min(k, probs.shape[1])]


def _detect(
    detector: LoadedDetector,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> list[ImageDetections]:
    from synsetlab.detect.predict import predict_split  # torch, only to predict

    check_classes(detector.classes, manifest)
    return predict_split(
        detector, manifest, blobs, split=split, batch_size=batch_size,
        max_per_image=MAX_DETECTIONS, progress=progress,
    )  # fmt: skip


def write_detection_submission(
    detector: LoadedDetector,
    manifest: Manifest,
    blobs: BlobStore,
    out: Path,
    *,
    split: str = "test",
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Detect every image of ``split`` (at most 100 detections each) and write the
    submission to ``out`` in the format its suffix names (:func:`submission_format`),
    atomically. Returns the images written."""
    fmt = submission_format(out)
    images = split_images(manifest, split)
    detections = _detect(detector, manifest, blobs, split, batch_size, progress)
    write_text(detection_submission(detections, images, manifest.classes, fmt=fmt), out)
    return images.n_images


def write_localization_submission(
    detector: LoadedDetector,
    manifest: Manifest,
    blobs: BlobStore,
    out: Path,
    *,
    classifier: LoadedModel | None = None,
    split: str = "test",
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
    **classifier_kwargs: Any,
) -> int:
    """A localization submission of ``split`` written to ``out`` (format by suffix): the
    ``classifier``'s five best classes with the detector's best box of each, or with no
    classifier the detector's own five best classes
    (:mod:`synsetlab.detect.localization`). ``classifier_kwargs`` go to the classifier's
    :func:`~synsetlab.train.inference.predict_split` (``tta_flip``, ``workers``,
    ``device``). Returns the images written."""
    fmt = submission_format(out)
    images = split_images(manifest, split)
    detections = _detect(detector, manifest, blobs, split, batch_size, progress)
    aligned = align_detections(detections, images)
    c = len(manifest.classes)
    if classifier is None:
        guesses = detector_guesses(aligned, num_classes=c)
    else:
        from synsetlab.train.inference import predict_split as classify_split

        dataset, output = classify_split(classifier, manifest, blobs, split, **classifier_kwargs)
        entry_images = [e.sha256 for e in dataset.entries]
        top = classifier_top_classes(entry_images, output.probs, images)
        guesses = classifier_guesses(top, aligned, images, num_classes=c)
    write_text(localization_submission(guesses, images, manifest.classes, fmt=fmt), out)
    return images.n_images


def _check_format(fmt: str) -> None:
    if fmt not in SUFFIX_FORMATS.values():
        raise ValueError(f"unknown format {fmt!r}: devkit, kaggle or json")


def _kaggle(rows: object) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(KAGGLE_HEADER)
    writer.writerows(rows)  # type: ignore[arg-type]
    return buf.getvalue()


def _number(value: float) -> str:
    """Shortest text that reads back as ``value`` (``12`` for 12.0)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
