"""Exports of a frozen dataset version into the layouts other tools read.

::

    report = export_version(manifest, blobs, "out/tiny-imagenet", "webdataset", short_side=160)
    report.images  # {"train": 1200, "val": 100, "test": 100}

Formats (:data:`EXPORTERS`; each module's docstring states its layout):

- ``imagefolder``: ``<split>/<wnid>/<sha256>.<ext>``, read by torchvision's ``ImageFolder``;
- ``ilsvrc``: the ILSVRC-2012 tars and devkit, read by
  :func:`synsetlab.ingest.ilsvrc2012.open_ilsvrc2012`;
- ``kaggle-loc``: Kaggle's ImageNet Object Localization layout, read by
  :func:`synsetlab.ingest.kaggle_loc.open_kaggle_loc`;
- ``webdataset``: tar shards of (optionally pre-resized) images as stored, JPEGs or raw
  pixels, labels and boxes;
- ``parquet``: Hugging Face ``datasets`` Parquet files (``Image`` and ``ClassLabel`` features);
- ``coco``: COCO ``labels_<split>.json`` (one annotation per labelled image: its class) and
  ``instances_<split>.json`` (its boxes), read by ``pycocotools``.

Every export:

- numbers classes explicitly: ``classes.txt`` (``index wnid name`` lines, 0-based) in the
  output folder, sorted wnids unless ``class_order="ilsvrc"`` (ILSVRC2012_ID order); every
  class number in the export is that index;
- writes images as their stored bytes unless a resize (``short_side``), JPEGs
  (``encoding="jpeg"``) or raw pixels (``encoding="raw"``) are asked, or the layout cannot
  hold the format (each module says which);
- writes each content once per split: entries with one sha256 (byte-identical files) are one
  image, named by that sha256 (the ``ImageId`` of a challenge), with their boxes together;
- writes hidden (test) labels only with ``include_hidden=True``: otherwise those images are
  exported without label or boxes, named and ordered by content hash so nothing gives their
  class away;
- appears whole or not at all: it is written into ``<OUT>.partial-<random>`` beside ``OUT``
  and renamed at the end, with ``export.json`` (format, version id, options, counts) last.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from synsetlab import __version__ as synsetlab_version
from synsetlab.blobs import BlobStore
from synsetlab.export import coco, ilsvrc, imagefolder, kaggle_loc, parquet, webdataset
from synsetlab.export._atomic import MARKER, OutputExistsError, check_target, staged_folder
from synsetlab.export._job import (
    CLASS_ORDERS,
    ENCODINGS,
    ClassOrder,
    Encoding,
    ExportJob,
    ExportReport,
    order_classes,
)
from synsetlab.export._registry import EXPORTERS, Exporter, ExportError, get_exporter
from synsetlab.manifest import Manifest
from synsetlab.taxonomy import Taxonomy

__all__ = [
    "CLASS_ORDERS",
    "DEFAULT_SHARD_SIZE",
    "ENCODINGS",
    "EXPORTERS",
    "ClassOrder",
    "Encoding",
    "ExportError",
    "ExportReport",
    "Exporter",
    "OutputExistsError",
    "export_version",
]

# The format modules register themselves on import.
_FORMATS = (imagefolder, ilsvrc, kaggle_loc, webdataset, parquet, coco)

#: Samples per webdataset shard and rows per Parquet file: ~100 MB of full-size ImageNet JPEGs.
DEFAULT_SHARD_SIZE = 1000


def export_version(
    manifest: Manifest,
    blobs: BlobStore,
    out_dir: str | os.PathLike[str],
    format: str,
    *,
    force: bool = False,
    short_side: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    include_hidden: bool = False,
    taxonomy: Taxonomy | None = None,
    class_order: ClassOrder = "sorted",
    encoding: Encoding = "stored",
    workers: int = 0,
) -> ExportReport:
    """Write the version ``manifest`` (images from ``blobs``) to ``out_dir`` as ``format``.

    ``out_dir`` must not exist or be empty; ``force=True`` replaces an earlier export there
    (only once the new one is complete). ``short_side`` resizes every image so its shorter side
    has that many pixels (JPEG, quality 90; boxes scaled to match). ``shard_size`` is the
    number of images per webdataset shard or Parquet file. ``taxonomy`` names the classes
    (WordNet 3.0 by default; pass ``Taxonomy.wordnet().with_custom(...)`` for a workspace's
    own classes). ``encoding`` (webdataset only; the others keep the stored bytes):
    ``"stored"`` keeps each image's bytes, format and mode; ``"jpeg"`` makes every image an
    RGB JPEG (quality 90); ``"raw"`` stores raw RGB pixels (PPM): lossless and read without
    decoding, at 6-10x the disk (~260 kB an image at a 256 px short side). ``workers``
    processes read and re-encode images (0: this process).

    Raises :class:`ExportError` for an unknown format or option, or a version the format
    cannot hold (e.g. non-wnid classes in the ILSVRC layout); :class:`OutputExistsError` for
    a taken ``out_dir``; ``FileNotFoundError`` for an image missing from ``blobs``, which
    leaves nothing behind.
    """
    exporter = get_exporter(format)
    if short_side is not None and short_side < 1:
        raise ExportError(f"short_side must be a positive number of pixels, not {short_side}")
    if shard_size < 1:
        raise ExportError(f"shard_size must be at least 1, not {shard_size}")
    if workers < 0:
        raise ExportError(f"workers must be 0 (this process) or more, not {workers}")
    if encoding not in ENCODINGS:
        raise ExportError(f"unknown encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    if encoding not in exporter.encodings:
        raise ExportError(
            f"the {exporter.name} export cannot store images as {encoding!r}: "
            f"use encoding {' or '.join(map(repr, exporter.encodings))}, or the webdataset format"
        )
    out = Path(out_dir).expanduser()
    check_target(out, force=force)  # before any work: a taken folder fails fast
    job = ExportJob(
        manifest=manifest,
        blobs=blobs,
        classes=order_classes(manifest.classes, class_order),
        taxonomy=taxonomy if taxonomy is not None else Taxonomy.wordnet(),
        include_hidden=include_hidden,
        short_side=short_side,
        shard_size=shard_size,
        class_order=class_order,
        encoding=encoding,
        workers=workers,
    )
    exporter.check(job)
    with staged_folder(out, force=force) as staging:
        details = exporter.write(job, staging)
        write_classes(job, staging / "classes.txt")
        report = ExportReport(
            format=exporter.name,
            out_dir=out,
            version=job.version,
            classes=job.classes,
            images={split: len(entries) for split, entries in job.splits.items()},
            labelled={
                split: sum(job.label(e) is not None for e in entries)
                for split, entries in job.splits.items()
            },
            reencoded=job.reencoded,
            bytes_written=0,
            merged=job.merged,
            details=details,
            warnings=tuple(job.warnings),
        )
        write_marker(job, report, staging / MARKER)
        size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    return replace(report, bytes_written=size)


def write_classes(job: ExportJob, path: Path) -> None:
    """``classes.txt``: ``<index> <wnid> <name>`` per class, in class index order."""
    lines = [f"{i} {wnid} {job.class_name(wnid)}\n" for i, wnid in enumerate(job.classes)]
    path.write_text("".join(lines), encoding="utf-8")


def write_marker(job: ExportJob, report: ExportReport, path: Path) -> None:
    """``export.json``: what was exported and how, so the export can be reproduced."""
    record = {
        "format": report.format,
        "version": report.version,
        "synsetlab": synsetlab_version,
        "options": {
            "class_order": job.class_order,
            "include_hidden": job.include_hidden,
            "short_side": job.short_side,
            "shard_size": job.shard_size,
            "encoding": job.encoding,
        },
        "classes": list(job.classes),
        "images": report.images,
        "labelled": report.labelled,
        "reencoded": report.reencoded,
        "merged": report.merged,
        "details": report.details,
        "warnings": list(report.warnings),
    }
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
