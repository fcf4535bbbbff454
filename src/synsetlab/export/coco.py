"""The ``coco`` export: COCO annotation files and image folders, as ``pycocotools`` reads them.

Layout (``OUT``)::

    annotations/labels_<split>.json      classification: one annotation per labelled image
    annotations/instances_<split>.json   detection: one annotation per box
    <split>/<sha256>.<ext>               the images (stored bytes; GIF and others as PNG)
    classes.txt, export.json

Both files of a split hold the same ``info``, ``licenses``, ``categories`` and ``images``::

    categories    [{"id": <class index>, "name": <wnid>, "supercategory": <first hypernym
                  wnid, or "">, "words": "tench, Tinca tinca"}], in class index order: the
                  ids are the 0-based indices of ``classes.txt`` (and of every other export)
    images        [{"id": 1.., "file_name": "<sha256>.<ext>", "width", "height"}]; every
                  image, labelled or not, numbered by content hash

``labels_<split>.json`` (the layout of Datumaro's ``coco_labels`` task) gives each labelled
image's class as an annotation without geometry, ``{"id": 1.., "image_id", "category_id"}``,
so ``COCO(labels).getImgIds(catIds=[c])`` finds the images of class ``c``;
``instances_<split>.json`` holds the boxes, ``{"id": 1.., "image_id", "category_id", "bbox":
[x, y, w, h], "area": w * h, "iscrowd": 0}`` with ``x = xmin``, ``w = xmax - xmin`` in pixels
of the written image: only real boxes, which detection readers (``COCOeval``, torchvision,
Detectron2, MMDetection) need each annotation to be. Images whose label is hidden have no
annotation in either file.

Category ids are the class indices, from 0, as the Hugging Face Hub's ``ClassLabel`` and its
COCO-style detection datasets number them (``pycocotools`` takes any integer). Detection
models that keep 0 for the background (torchvision's Faster R-CNN) need ``category_id + 1``
and ``num_classes = len(categories) + 1``.

Read with ``pycocotools.coco.COCO("OUT/annotations/labels_val.json")`` (or
``instances_val.json`` for the boxes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synsetlab.export._images import ExportImage
from synsetlab.export._job import ExportJob, file_stems
from synsetlab.export._registry import Exporter, register
from synsetlab.manifest import ManifestEntry
from synsetlab.taxonomy import UnknownSynsetError


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    (out / "annotations").mkdir()
    categories = [category(job, wnid) for wnid in job.classes]
    info = {"description": "synsetlab export", "version": job.version}
    for split, entries in job.splits.items():
        images, labels, boxes = write_split(job, split, entries, out)
        for kind, records in (("labels", labels), ("instances", boxes)):
            record = {
                "info": info,
                "licenses": [],
                "categories": categories,
                "images": images,
                "annotations": records,
            }
            path = out / "annotations" / f"{kind}_{split}.json"
            path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return {}


Records = list[dict[str, Any]]


def write_split(
    job: ExportJob, split: str, entries: Sequence[ManifestEntry], out: Path
) -> tuple[Records, Records, Records]:
    """Write the split's images; return its ``images``, its label annotations and its box
    annotations."""
    folder = out / split
    folder.mkdir()
    images: Records = []
    labels: Records = []
    boxes: Records = []
    pairs = zip(file_stems(entries), job.images(entries, job.policy()), strict=True)
    for image_id, (stem, image) in enumerate(pairs, start=1):
        file_name = f"{stem}{image.extension}"
        (folder / file_name).write_bytes(image.data)
        images.append(image_record(image_id, file_name, image))
        wnid = job.label(image.entry)
        if wnid is not None:
            labels.append(
                {"id": len(labels) + 1, "image_id": image_id, "category_id": job.class_index[wnid]}
            )
        for box in job.boxes(image):
            w, h = box.xmax - box.xmin, box.ymax - box.ymin
            boxes.append(
                {
                    "id": len(boxes) + 1,
                    "image_id": image_id,
                    "category_id": job.class_index[box.wnid],
                    "bbox": [box.xmin, box.ymin, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return images, labels, boxes


def image_record(image_id: int, file_name: str, image: ExportImage) -> dict[str, Any]:
    return {"id": image_id, "file_name": file_name, "width": image.width, "height": image.height}


def category(job: ExportJob, wnid: str) -> dict[str, Any]:
    """A COCO category: id = class index, as in ``classes.txt``."""
    try:
        parents = job.taxonomy.get(wnid).parents
    except UnknownSynsetError:
        parents = ()
    return {
        "id": job.class_index[wnid],
        "name": wnid,
        "supercategory": parents[0] if parents else "",
        "words": job.words(wnid),
    }


EXPORTER = register(
    Exporter(
        name="coco",
        summary="annotations/{labels,instances}_<split>.json (classes, boxes) and <split>/ images",
        write=write,
    )
)
