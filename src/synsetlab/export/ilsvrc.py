"""The ``ilsvrc`` export: the archives image-net.org distributes for ILSVRC-2012.

Layout (``OUT``), as :func:`synsetlab.ingest.ilsvrc2012.open_ilsvrc2012` reads it::

    ILSVRC2012_img_train.tar            one <wnid>.tar per class, each of <wnid>_<image id>.JPEG
    ILSVRC2012_img_val.tar              ILSVRC2012_val_00000001.JPEG ... (flat)
    ILSVRC2012_img_test.tar             ILSVRC2012_test_00000001.JPEG ... (flat, unlabelled)
    ILSVRC2012_devkit_t12.tar.gz        ILSVRC2012_devkit_t12/data/
        meta.mat                          struct array ``synsets``, one per class, in class
                                          index order: ILSVRC2012_ID = index + 1, WNID, words
                                          ("tench, Tinca tinca"), gloss, num_children = 0,
                                          children = [], wordnet_height = 0, num_train_images
        ILSVRC2012_validation_ground_truth.txt   the ILSVRC2012_ID of val image i on line i
        ILSVRC2012_test_ground_truth.txt         the same for test, only when test labels are
                                                 exported (not in the real devkit)
    ILSVRC2012_bbox_train_v2.tar.gz     PASCAL-VOC boxes <wnid>/<wnid>_<image id>.xml
    ILSVRC2012_bbox_val_v3.tgz          PASCAL-VOC boxes val/ILSVRC2012_val_<8 digits>.xml
    classes.txt, export.json

Archives of splits the version lacks are not written (the reader then needs ``splits=``), and
a box archive only when its split has boxes. ILSVRC2012_IDs number *this* version's classes
1..C: they equal the official IDs only for the full ILSVRC-2012 class set with
``class_order="ilsvrc"``. Val and test images are numbered by content hash, never by class.
Test boxes are not written.

Image bytes are written as stored whatever their format, under .JPEG names, as the real
archives hold a PNG and CMYK JPEGs under .JPEG names: Pillow (and so torchvision and timm)
reads them by content, and re-ingesting the export finds the very same images (same sha256).
Strict JPEG decoders (nvJPEG, ``tf.io.decode_jpeg``) need the care they need for the real
ILSVRC-2012; pass ``short_side`` to get real JPEGs only. torchvision's ``ImageNet`` checks the
md5 sums of the official archives, so it does not read these: export ``imagefolder`` for it.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from synsetlab.export._images import ExportImage
from synsetlab.export._job import (
    ARCHIVE_MTIME,
    ExportJob,
    export_order,
    require_ilsvrc_shape,
)
from synsetlab.export._registry import Exporter, register
from synsetlab.export._voc import voc_xml
from synsetlab.ingest.ilsvrc2012 import (
    BOX_ARCHIVES,
    DEVKIT_DIR,
    DEVKIT_TAR,
    META_MAT,
    TEST_TARS,
    TRAIN_TAR,
    VAL_GROUND_TRUTH,
    VAL_TAR,
)
from synsetlab.manifest import ManifestEntry

#: meta.mat's 116-byte text header, fixed: scipy writes the time of writing there, which made
#: two exports of one version differ.
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by synsetlab".ljust(116, b" ")
TEST_TAR = TEST_TARS[-1]  # "ILSVRC2012_img_test.tar", the name of the original release
TEST_GROUND_TRUTH = "data/ILSVRC2012_test_ground_truth.txt"
_META_FIELDS = (
    "ILSVRC2012_ID",
    "WNID",
    "words",
    "gloss",
    "num_children",
    "children",
    "wordnet_height",
    "num_train_images",
)


def check(job: ExportJob) -> None:
    require_ilsvrc_shape(job, "ilsvrc")


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    class_ids = {wnid: i for i, wnid in enumerate(job.classes, start=1)}
    truth: dict[str, list[int]] = {}
    per_class: dict[str, int] = {}
    for split, entries in job.splits.items():
        if split == "train":
            per_class = write_train(job, entries, out)
        else:
            labels = write_flat(job, split, entries, out)
            if labels is not None:
                truth[split] = [class_ids[wnid] for wnid in labels]
    write_devkit(job, out / DEVKIT_TAR, per_class, truth)
    return {}


# -- images ---------------------------------------------------------------------------------------


def write_train(job: ExportJob, entries: Sequence[ManifestEntry], out: Path) -> dict[str, int]:
    """The train tar of per-class tars, and its boxes; return images per class."""
    by_class = sorted(entries, key=lambda e: (e.wnid, *export_order(e)))
    images = job.images(by_class, job.policy(keep=None))
    per_class: dict[str, int] = {}
    inner_path = out / ".inner.tar"  # one class archive at a time, then copied into the outer
    with _tar(out / TRAIN_TAR) as outer, _box_archive(out / BOX_ARCHIVES["train"], job) as boxes:
        for wnid, group in groupby(images, key=lambda image: image.entry.wnid):
            with _tar(inner_path) as inner:
                for image in group:
                    stem = f"{wnid}_{image.entry.image_id}"
                    _add_bytes(inner, f"{stem}.JPEG", image.data)
                    boxes.add(f"{wnid}/{stem}.xml", stem, wnid, image)
                    per_class[wnid] = per_class.get(wnid, 0) + 1
            _add_file(outer, f"{wnid}.tar", inner_path)
    inner_path.unlink(missing_ok=True)
    return per_class


def write_flat(
    job: ExportJob, split: str, entries: Sequence[ManifestEntry], out: Path
) -> list[str] | None:
    """The val or test tar (images numbered 1..N) and its boxes; return the labels in image
    order, or ``None`` for a test split whose labels stay hidden."""
    labelled = job.is_labelled(entries)
    labels: list[str] = []
    archive = VAL_TAR if split == "val" else TEST_TAR
    box_archive = out / BOX_ARCHIVES["val"] if split == "val" else None
    with _tar(out / archive) as tar, _box_archive(box_archive, job) as boxes:
        for number, image in enumerate(job.images(entries, job.policy(keep=None)), start=1):
            stem = f"ILSVRC2012_{split}_{number:08d}"
            _add_bytes(tar, f"{stem}.JPEG", image.data)
            boxes.add(f"val/{stem}.xml", stem, "val", image)
            if labelled:
                labels.append(image.entry.wnid)
    return labels if labelled else None


class _Boxes:
    """Adds each image's VOC file to a box archive (``tar=None``: drops them, for test)."""

    def __init__(self, tar: tarfile.TarFile | None, job: ExportJob) -> None:
        self.tar, self.job, self.count = tar, job, 0

    def add(self, name: str, stem: str, folder: str, image: ExportImage) -> None:
        boxes = self.job.boxes(image)
        if self.tar is None or not boxes:
            return
        _add_bytes(self.tar, name, voc_xml(stem, folder, (image.width, image.height), boxes))
        self.count += 1


@contextmanager
def _box_archive(path: Path | None, job: ExportJob) -> Iterator[_Boxes]:
    """A gzip'd tar of VOC files written as the images go by; removed if no image had a box."""
    if path is None:
        yield _Boxes(None, job)
        return
    with _tar(path) as tar:
        boxes = _Boxes(tar, job)
        yield boxes
    if boxes.count == 0:
        path.unlink()


# -- the devkit -----------------------------------------------------------------------------------


def write_devkit(
    job: ExportJob, path: Path, per_class: dict[str, int], truth: dict[str, list[int]]
) -> None:
    """The devkit archive: meta.mat and the ground truth files (empty when there is no val)."""
    files = {
        META_MAT: meta_mat_bytes(job, per_class),
        VAL_GROUND_TRUTH: _lines(truth.get("val", [])),
    }
    if "test" in truth:
        files[TEST_GROUND_TRUTH] = _lines(truth["test"])
    with _tar(path) as tar:
        for folder in (DEVKIT_DIR, f"{DEVKIT_DIR}/data"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, ARCHIVE_MTIME
            tar.addfile(info)
        for name, data in files.items():
            _add_bytes(tar, f"{DEVKIT_DIR}/{name}", data)


def meta_mat_bytes(job: ExportJob, per_class: dict[str, int]) -> bytes:
    """meta.mat as the devkit's: an N x 1 struct array ``synsets``, one leaf per class."""
    synsets = np.zeros((len(job.classes), 1), dtype=[(f, object) for f in _META_FIELDS])
    for i, wnid in enumerate(job.classes):
        # MATLAB stores numbers as 1x1 doubles; an empty list of children is 0x0.
        synsets[i, 0] = (
            np.array([[i + 1]], dtype=float),
            wnid,
            job.words(wnid),
            job.gloss(wnid),
            np.array([[0]], dtype=float),
            np.zeros((0, 0)),
            np.array([[0]], dtype=float),
            np.array([[per_class.get(wnid, 0)]], dtype=float),
        )
    out = io.BytesIO()
    scipy.io.savemat(out, {"synsets": synsets})
    return MAT_HEADER + out.getvalue()[len(MAT_HEADER) :]


def _lines(ids: list[int]) -> bytes:
    return "".join(f"{i}\n" for i in ids).encode("ascii")


# -- tar writing ----------------------------------------------------------------------------------


@contextmanager
def _tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A tar open for writing; gzip'd for a .gz/.tgz name, with a fixed gzip time."""
    with path.open("wb") as raw:
        if path.name.endswith((".gz", ".tgz")):
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=ARCHIVE_MTIME) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
            ):
                yield tar
        else:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
                yield tar


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, ARCHIVE_MTIME
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    with path.open("rb") as f:
        tar.addfile(_info(name, path.stat().st_size), f)


EXPORTER = register(
    Exporter(
        name="ilsvrc",
        summary="ILSVRC-2012 train/val/test tars, devkit (meta.mat) and bbox archives",
        write=write,
        check=check,
    )
)
