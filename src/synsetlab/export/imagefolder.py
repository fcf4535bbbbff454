"""The ``imagefolder`` export: one folder per class, as torchvision's ``ImageFolder`` reads it.

Layout (``OUT``)::

    classes.txt                     "<index> <wnid> <name>", one class a line, in index order
    export.json
    <split>/<wnid>/<sha256>.<ext>   e.g. train/n01440764/3f2a...e1.jpg
    <split>/<sha256>.<ext>          images whose label is hidden (test), outside any class folder

``ImageFolder(OUT / "train")`` numbers classes by their sorted folder names, which is this
export's class index only because every labelled split holds a folder for *every* class of the
version, empty where the split has no image of it. ImageFolder refuses empty class folders
unless given ``allow_empty=True``: pass it when a split lacks a class, and the class indices
still match ``classes.txt``. (Without the empty folders ImageFolder would silently renumber the
classes it sees.) Hence this format takes only ``class_order="sorted"``.

A split without labels (hidden test labels) has no class folders: ImageFolder cannot read it;
list its files instead. Extensions follow the stored format (.jpg, .png, .webp, .bmp, .tif);
other formats, which ImageFolder would skip (GIF), are re-encoded to PNG, losslessly (an
animation keeps its first frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synsetlab.export._job import ExportJob, file_stems
from synsetlab.export._registry import Exporter, ExportError, register


def check(job: ExportJob) -> None:
    if job.class_order != "sorted":
        raise ExportError(
            f"the imagefolder format numbers classes in sorted order, as torchvision's ImageFolder "
            f"does; class_order={job.class_order!r} cannot be kept: use class_order='sorted'"
        )


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    policy = job.policy()
    for split, entries in job.splits.items():
        folder = out / split
        folder.mkdir()
        if any(job.label(e) is not None for e in entries):
            for wnid in job.classes:
                (folder / wnid).mkdir()
        stems = file_stems(entries)
        for stem, image in zip(stems, job.images(entries, policy), strict=True):
            wnid = job.label(image.entry)
            where = folder if wnid is None else folder / wnid
            (where / f"{stem}{image.extension}").write_bytes(image.data)
    return {}


EXPORTER = register(
    Exporter(
        name="imagefolder",
        summary="<split>/<wnid>/<sha256>.<ext> folders for torchvision's ImageFolder",
        write=write,
        check=check,
    )
)
