"""ImageNet as Kaggle's "ImageNet Object Localization Challenge" ships it: extracted JPEGs + CSVs.

Directory contract (``root``, the unzipped competition download)::

    LOC_synset_mapping.txt        "n01440764 tench, Tinca tinca", one class a line, sorted by wnid
    LOC_train_solution.csv        ImageId,PredictionString  ("n01440764_10026",
                                  "wnid xmin ymin xmax ymax" repeated); only the train images
                                  that have boxes (about 545k of 1.28M) have a row
    LOC_val_solution.csv          the same for every val image ("ILSVRC2012_val_00000001")
    LOC_sample_submission.csv     not read
    ILSVRC/Data/CLS-LOC/train/<wnid>/<wnid>_<n>.JPEG
    ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_<8 digits>.JPEG
    ILSVRC/Data/CLS-LOC/test/ILSVRC2012_test_<8 digits>.JPEG     unlabelled
    ILSVRC/Annotations/CLS-LOC/{train,val}/...xml                 the same boxes as the CSVs;
                                                                  not read

A train image's label is its folder's wnid; a val image's label is the wnid of its first box
(all boxes of a val image name its class; should they disagree, every box keeps its own
wnid). Box corners are pixels, as in the CSVs. Items are paths (the pipeline reads the files
in its workers); keys are paths relative to ``root``, e.g.
``ILSVRC/Data/CLS-LOC/train/n01440764/n01440764_10026.JPEG``.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path

from synsetlab.ingest.records import Box, SkipFn, SourceError, SourceItem, SourceSpec

KIND = "kaggle-loc"
SYNSET_MAPPING = "LOC_synset_mapping.txt"
SOLUTIONS = {"train": "LOC_train_solution.csv", "val": "LOC_val_solution.csv"}
DATA_DIR = "ILSVRC/Data/CLS-LOC"

_WNID = re.compile(r"n\d{8}")

BoxIndex = dict[str, tuple[Box, ...]]


def open_kaggle_loc(
    root: Path,
    *,
    splits: Collection[str] = ("train", "val"),
    include_test: bool = False,
) -> SourceSpec:
    """Open an unzipped Kaggle LOC download (see the module docstring for its contract).

    ``splits`` picks among "train" and "val" ("test" there is the same as ``include_test``).
    The CSVs and folders are all read and checked here, so a missing or inconsistent file
    raises :class:`SourceError` before any item is listed.
    """
    root = Path(root).expanduser().resolve()  # item paths are opened by worker processes
    if not (root / DATA_DIR).is_dir():
        raise SourceError(
            f"{root / DATA_DIR} not found: pass the folder where the Kaggle download "
            f"(imagenet-object-localization-challenge.zip) was unzipped"
        )
    wanted = _check_splits(splits, include_test)
    classes = read_synset_mapping(root / SYNSET_MAPPING)
    data = root / DATA_DIR

    # (split, folder, label of every image or None, boxes): one entry per folder to list.
    folders: list[tuple[str, Path, str | None, BoxIndex]] = []
    val_label: dict[str, str] = {}
    total = 0
    if "train" in wanted:
        train_boxes = read_solution(root / SOLUTIONS["train"], classes)
        for wnid in list_class_folders(data / "train", classes):
            folders.append(("train", data / "train" / wnid, wnid, train_boxes))
            # Listing 1.28M names twice (here and when listing items) costs seconds on a
            # local disk; keeping them would cost hundreds of MB.
            total += len(list_images(data / "train" / wnid, "train"))
    if "val" in wanted:
        val_boxes = read_solution(root / SOLUTIONS["val"], classes)
        names = list_images(data / "val", "val")
        val_label = val_labels(names, val_boxes, SOLUTIONS["val"])
        folders.append(("val", data / "val", None, val_boxes))
        total += len(names)
    if "test" in wanted:
        folders.append(("test", data / "test", None, {}))
        total += len(list_images(data / "test", "test"))

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        for split, folder, folder_label, boxes in folders:
            for name in list_images(folder, split):
                path = folder / name
                key = path.relative_to(root).as_posix()
                if skip(key):
                    continue
                label = folder_label if split == "train" else None
                if split == "val":
                    label = val_label.get(path.stem)  # every val image has one when opened
                yield SourceItem(
                    key=key,
                    path=str(path),
                    label=label,
                    split=split,
                    boxes=boxes.get(path.stem, ()),
                )

    return SourceSpec(
        kind=KIND,
        uri=str(root),
        items=items,
        total=total,
        options={},  # a key means the same whichever splits a run reads
        label_state="verified",
    )


def read_synset_mapping(path: Path) -> set[str]:
    """The wnids of ``LOC_synset_mapping.txt`` ("n01440764 tench, Tinca tinca" lines)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise SourceError(
            f"cannot read {path} ({e}): it lists the 1000 classes; restore it from the Kaggle "
            f"download"
        ) from e
    wnids = set()
    for number, line in enumerate(lines, start=1):
        wnid = line.split(maxsplit=1)[0] if line.strip() else ""
        if not _WNID.fullmatch(wnid):
            raise SourceError(f"{path}, line {number}: {line!r} does not start with a wnid")
        wnids.add(wnid)
    return wnids


def read_solution(path: Path, classes: set[str]) -> BoxIndex:
    """ImageId -> boxes, from a ``LOC_*_solution.csv`` (``ImageId,PredictionString``)."""
    index: BoxIndex = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            if next(rows, None) != ["ImageId", "PredictionString"]:
                raise SourceError(
                    f"{path} does not start with the header ImageId,PredictionString: "
                    f"restore it from the Kaggle download"
                )
            for row in rows:
                where = f"{path}, line {rows.line_num}"
                if len(row) != 2:
                    raise SourceError(f"{where}: expected ImageId,PredictionString")
                index[row[0]] = parse_prediction_string(row[1], classes, where=where)
    except OSError as e:
        raise SourceError(f"cannot read {path} ({e}): restore it from the Kaggle download") from e
    except (csv.Error, UnicodeDecodeError) as e:
        raise SourceError(f"{path} is not a UTF-8 CSV file ({e})") from e
    return index


def parse_prediction_string(text: str, classes: set[str], *, where: str) -> tuple[Box, ...]:
    """``"wnid xmin ymin xmax ymax ..."`` -> boxes, in order."""
    fields = text.split()
    if len(fields) % 5:
        raise SourceError(f"{where}: {text!r} is not groups of 'wnid xmin ymin xmax ymax'")
    boxes = []
    for i in range(0, len(fields), 5):
        wnid = fields[i]
        if wnid not in classes:
            raise SourceError(f"{where}: {wnid!r} is not a class of {SYNSET_MAPPING}")
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in fields[i + 1 : i + 5])
        except ValueError:
            raise SourceError(
                f"{where}: box {fields[i : i + 5]} has a non-numeric corner"
            ) from None
        boxes.append(Box(wnid, xmin, ymin, xmax, ymax))
    return tuple(boxes)


def list_class_folders(folder: Path, classes: set[str]) -> list[str]:
    """The wnids of the train class folders, sorted; each must be a class of the mapping."""
    wnids = _sorted_names(folder, "train", dirs=True)
    for wnid in wnids:
        if wnid not in classes:
            raise SourceError(
                f"{folder / wnid} is not a class of {SYNSET_MAPPING}: the train folder must "
                f"hold only <wnid> folders"
            )
    return wnids


def list_images(folder: Path, split: str) -> list[str]:
    """The names of the image files in ``folder``, sorted."""
    return _sorted_names(folder, split, dirs=False)


def val_labels(names: list[str], boxes: BoxIndex, solution: str) -> dict[str, str]:
    """Val image stem -> label, the wnid of its first box. Every image must have a row."""
    labels = {}
    unlabelled = []
    for name in names:
        stem = Path(name).stem
        image_boxes = boxes.get(stem)
        if image_boxes:
            labels[stem] = image_boxes[0].wnid
        else:
            unlabelled.append(name)
    if unlabelled:
        raise SourceError(
            f"{len(unlabelled)} val image(s) have no box in {solution} (e.g. {unlabelled[0]}), "
            f"so no label: restore {solution} from the Kaggle download, or ingest only "
            f"--split train"
        )
    return labels


def _sorted_names(folder: Path, split: str, *, dirs: bool) -> list[str]:
    """Names of the non-hidden subfolders (``dirs``) or files of ``folder``, sorted."""
    try:
        with os.scandir(folder) as entries:
            found = [
                e.name
                for e in entries
                if not e.name.startswith(".") and (e.is_dir() if dirs else e.is_file())
            ]
    except OSError as e:
        raise SourceError(
            f"cannot list {folder} ({e}): the {split} images should be there; "
            f"unzip the Kaggle download again, or leave out that split"
        ) from e
    return sorted(found)


def _check_splits(splits: Collection[str], include_test: bool) -> set[str]:
    wanted = set(splits) | ({"test"} if include_test else set())
    unknown = wanted - {"train", "val", "test"}
    if unknown:
        raise SourceError(
            f"unknown split(s) {', '.join(sorted(unknown))}: the Kaggle LOC data has train, "
            f"val and test"
        )
    if not wanted:
        raise SourceError("no split asked for: pass train and/or val (or include the test split)")
    return wanted
