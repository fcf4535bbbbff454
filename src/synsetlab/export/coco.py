"""The ``coco`` export: COCO detection annotations and image folders, as ``pycocotools`` reads them.

Layout (``OUT``)::

    annotations/instances_<split>.json
    <split>/<sha256>.<ext>            the images (stored bytes; GIF and others as PNG)
    classes.txt, export.json

``instances_<split>.json``::

    info          {"description", "version": <version id>}
    licenses      []
    categories    [{"id": class index + 1, "name": <wnid>, "supercategory": <first hypernym
                  wnid, or "">, "words": "tench, Tinca tinca"}], in class index order
    images        [{"id": 1.., "file_name": "<sha256>.<ext>", "width", "height",
                  "category_id": <the image's class>}]; every image, boxed or not, numbered
                  by content hash. "category_id" is a synsetlab addition (COCO has no image
                  labels), absent where the label is hidden.
    annotations   [{"id": 1.., "image_id", "category_id", "bbox": [x, y, w, h], "area": w * h,
                  "iscrowd": 0}]: one per box, ``x = xmin``, ``w = xmax - xmin``, in pixels of
                  the written image; none for images whose label is hidden

Read with ``pycocotools.coco.COCO("OUT/annotations/instances_val.json")``.
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
        record = write_split(job, split, entries, out)
        record = {"info": info, "licenses": [], "categories": categories, **record}
        path = out / "annotations" / f"instances_{split}.json"
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return {}


def write_split(
    job: ExportJob, split: str, entries: Sequence[ManifestEntry], out: Path
) -> dict[str, list[dict[str, Any]]]:
    """Write the split's images; return its ``images`` and ``annotations`` lists."""
    folder = out / split
    folder.mkdir()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    pairs = zip(file_stems(entries), job.images(entries, job.policy()), strict=True)
    for image_id, (stem, image) in enumerate(pairs, start=1):
        file_name = f"{stem}{image.extension}"
        (folder / file_name).write_bytes(image.data)
        images.append(image_record(job, image_id, file_name, image))
        for box in job.boxes(image):
            w, h = box.xmax - box.xmin, box.ymax - box.ymin
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": job.class_index[box.wnid] + 1,
                    "bbox": [box.xmin, box.ymin, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations}


def image_record(
    job: ExportJob, image_id: int, file_name: str, image: ExportImage
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": image_id,
        "file_name": file_name,
        "width": image.width,
        "height": image.height,
    }
    wnid = job.label(image.entry)
    if wnid is not None:
        record["category_id"] = job.class_index[wnid] + 1
    return record


def category(job: ExportJob, wnid: str) -> dict[str, Any]:
    """A COCO category: id = class index + 1 (COCO keeps 0 for the background)."""
    try:
        parents = job.taxonomy.get(wnid).parents
    except UnknownSynsetError:
        parents = ()
    return {
        "id": job.class_index[wnid] + 1,
        "name": wnid,
        "supercategory": parents[0] if parents else "",
        "words": job.words(wnid),
    }


EXPORTER = register(
    Exporter(
        name="coco",
        summary="annotations/instances_<split>.json (COCO boxes) and <split>/ image folders",
        write=write,
    )
)
