"""The ``kaggle-loc`` export: Kaggle's "ImageNet Object Localization Challenge" download, unzipped.

Layout (``OUT``), as :func:`synsetlab.ingest.kaggle_loc.open_kaggle_loc` reads it::

    LOC_synset_mapping.txt        "<wnid> <words>" ("n01440764 tench, Tinca tinca"), one class
                                  a line, in class index order
    LOC_train_solution.csv        ImageId,PredictionString ("n01440764_17", "wnid xmin ymin
                                  xmax ymax " repeated): the train images that have boxes
    LOC_val_solution.csv          the same for *every* val image: Kaggle gives a val image's
                                  label only as the wnid of its first box
    LOC_test_solution.csv         the same for test, only when test labels are exported
                                  (not in the real download)
    LOC_sample_submission.csv     ImageId,PredictionString, one row per test image
    ILSVRC/Data/CLS-LOC/train/<wnid>/<wnid>_<image id>.JPEG
    ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_<8 digits>.JPEG
    ILSVRC/Data/CLS-LOC/test/ILSVRC2012_test_<8 digits>.JPEG
    ILSVRC/Annotations/CLS-LOC/{train/<wnid>,val}/<image>.xml   the CSVs' boxes as PASCAL-VOC
    ILSVRC/ImageSets/CLS-LOC/train_cls.txt   "<wnid>/<image> <n>": every train image by name,
                                             n = 1..
    ILSVRC/ImageSets/CLS-LOC/train_loc.txt   the same over the train images that have boxes
    ILSVRC/ImageSets/CLS-LOC/{val,test}.txt  "<image> <n>"
    classes.txt, export.json

Val (and labelled test) images are numbered by content hash. Since the label is the first
box's wnid, boxes of the image's own class come first; an image without boxes gets one box
over the whole image, ``wnid 0 0 <width-1> <height-1>`` (counted in the report's warnings),
or its label would be lost. The three data folders are always there, empty for a missing
split. Image bytes are written as stored under .JPEG names, as in the ``ilsvrc`` export.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synsetlab.export._images import ExportImage
from synsetlab.export._job import ExportJob, export_order, require_ilsvrc_shape
from synsetlab.export._registry import Exporter, register
from synsetlab.export._voc import number, voc_xml
from synsetlab.ingest.kaggle_loc import DATA_DIR, SOLUTIONS, SYNSET_MAPPING
from synsetlab.manifest import ManifestBox, ManifestEntry

ANNOTATIONS_DIR = "ILSVRC/Annotations/CLS-LOC"
IMAGE_SETS_DIR = "ILSVRC/ImageSets/CLS-LOC"
TEST_SOLUTION = "LOC_test_solution.csv"
SAMPLE_SUBMISSION = "LOC_sample_submission.csv"
HEADER = ("ImageId", "PredictionString")

Rows = list[tuple[str, str]]


def check(job: ExportJob) -> None:
    require_ilsvrc_shape(job, "kaggle-loc")


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    mapping = "".join(f"{wnid} {job.words(wnid)}\n" for wnid in job.classes)
    (out / SYNSET_MAPPING).write_text(mapping, encoding="utf-8")
    for split in ("train", "val", "test"):
        (out / DATA_DIR / split).mkdir(parents=True)
    splits = job.splits
    train_rows, train_names = write_train(job, splits.get("train", ()), out)
    _write_csv(out / SOLUTIONS["train"], train_rows)
    val_rows, val_images = write_flat(job, "val", splits.get("val", ()), out)
    _write_csv(out / SOLUTIONS["val"], val_rows)
    test_rows, test_images = write_flat(job, "test", splits.get("test", ()), out)
    if test_rows:
        _write_csv(out / TEST_SOLUTION, test_rows)
    _write_csv(out / SAMPLE_SUBMISSION, test_images)
    boxed = {stem for stem, _ in train_rows}
    train_names.sort()  # as in the real lists: by name, not in the order written
    image_sets = {
        "train_cls": train_names,
        "train_loc": [name for name in train_names if name.rpartition("/")[2] in boxed],
        "val": [stem for stem, _ in val_images],
        "test": [stem for stem, _ in test_images],
    }
    (out / IMAGE_SETS_DIR).mkdir(parents=True)
    for name, images in image_sets.items():
        lines = "".join(f"{image} {n}\n" for n, image in enumerate(images, start=1))
        (out / IMAGE_SETS_DIR / f"{name}.txt").write_text(lines, encoding="utf-8")
    return {}


def write_train(
    job: ExportJob, entries: Sequence[ManifestEntry], out: Path
) -> tuple[Rows, list[str]]:
    """The train images in class folders; return the solution rows of those with boxes and
    every image's "<wnid>/<image>" name."""
    rows: Rows = []
    names: list[str] = []
    made: set[str] = set()
    ordered = sorted(entries, key=lambda e: (e.wnid, *export_order(e)))
    for image in job.images(ordered, job.policy(keep=None)):
        wnid = image.entry.wnid
        stem = f"{wnid}_{image.entry.image_id}"
        if wnid not in made:
            (out / DATA_DIR / "train" / wnid).mkdir()
            made.add(wnid)
        (out / DATA_DIR / "train" / wnid / f"{stem}.JPEG").write_bytes(image.data)
        names.append(f"{wnid}/{stem}")
        boxes = job.boxes(image)
        if boxes:
            rows.append((stem, prediction_string(boxes)))
            _write_xml(
                out / ANNOTATIONS_DIR / "train" / wnid / f"{stem}.xml", stem, wnid, image, boxes
            )
    return rows, names


def write_flat(
    job: ExportJob, split: str, entries: Sequence[ManifestEntry], out: Path
) -> tuple[Rows, Rows]:
    """Val or test images numbered 1..N; return (solution rows, sample submission rows).

    Solution rows are empty for a split whose labels stay hidden (test); sample submission
    rows name every image, in order.
    """
    labelled = job.is_labelled(entries)
    rows: Rows = []
    sample: Rows = []
    invented = 0
    for index, image in enumerate(job.images(entries, job.policy(keep=None)), start=1):
        stem = f"ILSVRC2012_{split}_{index:08d}"
        (out / DATA_DIR / split / f"{stem}.JPEG").write_bytes(image.data)
        whole = ManifestBox(job.classes[0], 0, 0, image.width - 1, image.height - 1)
        sample.append((stem, prediction_string([whole])))
        if not labelled:
            continue
        boxes = label_first(image.entry.wnid, job.boxes(image))
        if not boxes:
            boxes = (ManifestBox(image.entry.wnid, 0, 0, image.width - 1, image.height - 1),)
            invented += 1
        rows.append((stem, prediction_string(boxes)))
        _write_xml(out / ANNOTATIONS_DIR / split / f"{stem}.xml", stem, split, image, boxes)
    if invented:
        job.warnings.append(
            f"{invented} {split} image(s) had no box: each got one box over the whole image, "
            f"which is how the Kaggle layout carries a {split} label"
        )
    return rows, sample


def label_first(wnid: str, boxes: Sequence[ManifestBox]) -> tuple[ManifestBox, ...]:
    """Boxes of the image's own class first (the reader takes the first box's wnid as label)."""
    return tuple(sorted(boxes, key=lambda b: b.wnid != wnid))


def prediction_string(boxes: Sequence[ManifestBox]) -> str:
    """ "wnid xmin ymin xmax ymax " per box; the real files end every box with a space."""
    return "".join(
        f"{b.wnid} {number(b.xmin)} {number(b.ymin)} {number(b.xmax)} {number(b.ymax)} "
        for b in boxes
    )


def _write_xml(
    path: Path, stem: str, folder: str, image: ExportImage, boxes: Sequence[ManifestBox]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(voc_xml(stem, folder, (image.width, image.height), boxes))


def _write_csv(path: Path, rows: Rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


EXPORTER = register(
    Exporter(
        name="kaggle-loc",
        summary="Kaggle ImageNet Object Localization: LOC_*.csv and ILSVRC/Data/CLS-LOC folders",
        write=write,
        check=check,
    )
)
