"""Scenes: several figures an image at many scales, overlapping, with their true boxes and
planted box faults, written in Kaggle's ImageNet Object Localization layout.

Directory contract of a generated scene dataset (what ``synsetlab ingest kaggle-loc`` reads)::

    out_dir/
      LOC_synset_mapping.txt                       "<wnid> <name>", one class a line
      LOC_train_solution.csv                       ImageId,PredictionString: the annotated boxes,
                                                   "wnid xmin ymin xmax ymax" repeated (faults in)
      LOC_val_solution.csv                         header only: every image is in train
      ILSVRC/Data/CLS-LOC/train/<wnid>/<wnid>_<n>.JPEG   folder = label = largest object's class
      ILSVRC/Data/CLS-LOC/val/                     empty
      truth.json                                   config, counts, every true box and fault

Box corners are inclusive 0-based pixels, as ILSVRC's files give them and the metrics read
them: a box of the whole image is ``0 0 W-1 H-1``. An image whose every box is missing has no
row in the solution CSV, as in Kaggle's file.
"""

from __future__ import annotations

import csv
import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synsetlab.synthetic._config import SHAPE_CLASSES, SceneConfig, planted_count
from synsetlab.synthetic._generate import _prepare_out_dir, _rng
from synsetlab.synthetic._render import (
    SUPERSAMPLE,
    _add_noise,
    _background,
    _clutter,
    encode,
    paint_figure,
    transform_outline,
)
from synsetlab.synthetic._scene_truth import (
    BoxCorners,
    ObjectTruth,
    SceneImageTruth,
    SceneTruth,
    count_scenes,
    write_scene_truth,
)
from synsetlab.synthetic._shapes import OUTLINES
from synsetlab.synthetic._truth import TRUTH_NAME

SYNSET_MAPPING = "LOC_synset_mapping.txt"
TRAIN_SOLUTION = "LOC_train_solution.csv"
VAL_SOLUTION = "LOC_val_solution.csv"
DATA_DIR = "ILSVRC/Data/CLS-LOC"
#: What :func:`generate_scenes` writes at the top of its folder (and ``--force`` replaces).
WRITTEN = ("ILSVRC", SYNSET_MAPPING, TRAIN_SOLUTION, VAL_SOLUTION, TRUTH_NAME)

#: Random streams, apart from those of the figure generator (see ``_generate``).
_STREAM_SCENE_PLAN, _STREAM_SCENE = 10, 11
#: Tries to place one more object before the image makes do with fewer.
_PLACEMENT_TRIES = 20
_JPEG_QUALITY = (80, 96)


@dataclass(frozen=True)
class SceneReport:
    """What :func:`generate_scenes` wrote."""

    out_dir: Path
    #: The train solution CSV: the annotated boxes, faults included.
    solution: Path
    truth: Path
    #: Same as ``truth.json``'s counts.
    counts: dict[str, int]
    #: Wall-clock time of the whole generation, in seconds.
    seconds: float = 0.0


@dataclass(frozen=True)
class _Placed:
    wnid: str
    points: np.ndarray  # supersampled pixels
    radius: float
    scale: float
    box: np.ndarray  # (xmin, ymin, xmax, ymax), supersampled pixels, before the stroke


def generate_scenes(
    out_dir: Path, config: SceneConfig = SceneConfig(), *, overwrite: bool = False
) -> SceneReport:
    """Write a scene dataset to ``out_dir`` (see the module docstring) and return what was
    written; ``truth.json`` is read back by :func:`~synsetlab.synthetic.load_scene_truth`.

    Raises ``FileExistsError`` if ``out_dir`` is not empty, unless ``overwrite`` is set: then
    only what this function writes there is removed first.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, overwrite=overwrite, names=WRITTEN)
    train = out_dir / DATA_DIR / "train"
    (out_dir / DATA_DIR / "val").mkdir(parents=True)
    digits = max(5, len(str(config.per_class - 1)))
    images: list[SceneImageTruth] = []
    for wnid in config.classes:
        (train / wnid).mkdir(parents=True)
        for index in range(config.per_class):
            path = f"{DATA_DIR}/train/{wnid}/{wnid}_{index:0{digits}d}.JPEG"
            images.append(_write_scene(out_dir, path, wnid, index, config))
    planted = tuple(sorted(plant_box_faults(images, config), key=lambda image: image.path))
    truth = SceneTruth(config=config, images=planted, counts=count_scenes(planted))
    solution = _write_annotations(out_dir, truth)
    truth_path = write_scene_truth(out_dir, truth)
    return SceneReport(
        out_dir=out_dir,
        solution=solution,
        truth=truth_path,
        counts=truth.counts,
        seconds=time.perf_counter() - started,
    )


def render_scene(
    wnid: str, config: SceneConfig, rng: np.random.Generator
) -> tuple[Image.Image, tuple[ObjectTruth, ...]]:
    """One scene of ``config.image_size`` whose largest object is of class ``wnid``, and its
    objects with their true boxes (largest first; no faults yet)."""
    size = config.image_size
    big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
    unit = float(min(big))
    canvas, base = _background(big, rng)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 4))):
        _clutter(draw, big, unit, rng)
    placed = _place_objects(wnid, config, big, unit, rng)
    objects = []
    for item in placed:  # largest first, so smaller ones are not hidden behind it
        reach = paint_figure(draw, SHAPE_CLASSES[item.wnid], item.points, item.radius, base, rng)
        box = _pixel_box(item.box + np.array([-reach, -reach, reach, reach]), size)
        objects.append(ObjectTruth(wnid=item.wnid, box=box, scale=round(item.scale, 4)))
    if rng.random() < 0.3:
        _clutter(draw, big, unit, rng)
    small = canvas.resize(size, Image.Resampling.LANCZOS)
    return _add_noise(small, rng), tuple(objects)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _place_objects(
    wnid: str, config: SceneConfig, big: tuple[int, int], unit: float, rng: np.random.Generator
) -> list[_Placed]:
    """The first object, of class ``wnid``, is the largest; the others overlap it and each
    other by at most ``config.max_iou`` and have smaller true boxes."""
    low, high = config.scale_range
    wanted = int(rng.integers(1, config.max_objects + 1))
    # The largest object sits in the upper half of the (log) scale range, so that others
    # fit below it; they span the whole range down to ``low``.
    first = _log_uniform(rng, math.sqrt(low * high), high)
    placed = [_place_one(wnid, first, big, unit, rng)]
    largest = _area(placed[0].box)
    for _ in range(wanted - 1):
        other = config.classes[int(rng.integers(len(config.classes)))]
        for _ in range(_PLACEMENT_TRIES):
            scale = _log_uniform(rng, low, max(low, placed[0].scale))
            candidate = _place_one(other, scale, big, unit, rng)
            fits = _area(candidate.box) < largest and all(
                _iou(candidate.box, item.box) <= config.max_iou for item in placed
            )
            if fits:
                placed.append(candidate)
                break
    # Painted largest first, so that small objects are drawn over large ones, not hidden.
    return sorted(placed, key=lambda item: _area(item.box), reverse=True)


def _place_one(
    wnid: str, scale: float, big: tuple[int, int], unit: float, rng: np.random.Generator
) -> _Placed:
    name = SHAPE_CLASSES[wnid]
    radius = scale * unit / 2
    centre = rng.uniform(radius, np.asarray(big, dtype=float) - radius)
    points = transform_outline(OUTLINES[name](rng), name, radius, big, unit, rng, centre=centre)
    box = np.concatenate([points.min(axis=0), points.max(axis=0)])
    return _Placed(wnid=wnid, points=points, radius=radius, scale=scale, box=box)


def _area(box: np.ndarray | BoxCorners) -> float:
    return max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inner = _area(np.array([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]))
    union = _area(a) + _area(b) - inner
    return inner / union if union > 0 else 0.0


def _pixel_box(big_box: np.ndarray, size: tuple[int, int]) -> BoxCorners:
    """A supersampled box -> the final image's pixels it touches, clipped, as ILSVRC's files
    give boxes and ``metrics.localization`` reads them: inclusive, 0-based (the first and last
    pixel of each side; width ``xmax - xmin + 1``)."""
    xmin, ymin, xmax, ymax = (big_box / SUPERSAMPLE).tolist()
    left, top = max(0, math.floor(xmin)), max(0, math.floor(ymin))
    return (
        left,
        top,
        max(left, min(size[0], math.ceil(xmax)) - 1),
        max(top, min(size[1], math.ceil(ymax)) - 1),
    )


def _write_scene(
    out_dir: Path, path: str, wnid: str, index: int, config: SceneConfig
) -> SceneImageTruth:
    rng = _rng(config.seed, _STREAM_SCENE, int(wnid[1:]), index)
    image, objects = render_scene(wnid, config, rng)
    data = encode(image, "JPEG", quality=int(rng.integers(*_JPEG_QUALITY)))
    (out_dir / path).write_bytes(data)
    return SceneImageTruth(
        path=path,
        wnid=wnid,
        sha256=hashlib.sha256(data).hexdigest(),
        size=config.image_size,
        objects=objects,
    )


def plant_box_faults(images: list[SceneImageTruth], config: SceneConfig) -> list[SceneImageTruth]:
    """``images`` with every object's annotated box and class set: most as true, and the
    planted counts of loose, missing and wrong-class boxes among all objects, each object
    getting at most one fault."""
    rng = _rng(config.seed, _STREAM_SCENE_PLAN)
    where = [(i, j) for i, image in enumerate(images) for j in range(len(image.objects))]
    order = rng.permutation(len(where)).tolist()
    counts = [
        planted_count(rate, len(where))
        for rate in (config.loose_box_rate, config.missing_box_rate, config.wrong_class_rate)
    ]
    fault_at: dict[tuple[int, int], str] = {}
    start = 0
    for fault, count in zip(("loose", "missing", "wrong-class"), counts, strict=True):
        for position in order[start : start + count]:
            fault_at[where[position]] = fault
        start += count
    planted = []
    for i, image in enumerate(images):
        objects = []
        for j, obj in enumerate(image.objects):
            fault = fault_at.get((i, j))
            if fault == "missing":
                objects.append(replace(obj, fault="missing"))
            elif fault == "loose":
                factor = rng.uniform(*config.loose_factor)
                box = _grown(obj.box, factor, image.size)
                objects.append(
                    replace(obj, fault="loose", annotated_box=box, annotated_wnid=obj.wnid)
                )
            elif fault == "wrong-class":
                others = [wnid for wnid in config.classes if wnid != obj.wnid]
                wrong = others[int(rng.integers(len(others)))]
                objects.append(
                    replace(obj, fault="wrong-class", annotated_box=obj.box, annotated_wnid=wrong)
                )
            else:
                objects.append(replace(obj, annotated_box=obj.box, annotated_wnid=obj.wnid))
        planted.append(replace(image, objects=tuple(objects)))
    return planted


def _grown(box: BoxCorners, factor: float, size: tuple[int, int]) -> BoxCorners:
    """``box`` with width and height multiplied by ``factor`` about its centre, clipped."""
    xmin, ymin, xmax, ymax = box
    dx, dy = (xmax - xmin) * (factor - 1) / 2, (ymax - ymin) * (factor - 1) / 2
    grown = np.array([xmin - dx, ymin - dy, xmax + dx, ymax + dy]) * SUPERSAMPLE
    return _pixel_box(grown, size)


def _write_annotations(out_dir: Path, truth: SceneTruth) -> Path:
    """The Kaggle LOC files: synset mapping, train solution (annotated boxes), empty val."""
    mapping = "".join(f"{wnid} {SHAPE_CLASSES[wnid]}\n" for wnid in sorted(truth.config.classes))
    (out_dir / SYNSET_MAPPING).write_text(mapping, encoding="utf-8")
    header = ["ImageId", "PredictionString"]
    with (out_dir / VAL_SOLUTION).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow(header)
    solution = out_dir / TRAIN_SOLUTION
    with solution.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for image in truth.images:
            boxes = [
                " ".join([obj.annotated_wnid or "", *(str(v) for v in obj.annotated_box)])
                for obj in image.objects
                if obj.annotated_box is not None
            ]
            if boxes:
                writer.writerow([Path(image.path).stem, " ".join(boxes)])
    return solution
