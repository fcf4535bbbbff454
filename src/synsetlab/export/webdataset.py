"""The ``webdataset`` export: tar shards for streaming training input.

Layout (``OUT``)::

    <split>/<split>-000000.tar ...   ``shard_size`` samples each, in content-hash order (a
                                     fixed shuffle: no shard holds one class)
        <key>.<ext>                  the image, by default as stored: the very bytes, format
                                     and mode of the source (a greyscale PNG stays a
                                     greyscale PNG), so ``ext`` is jpg, png, webp, bmp, tif or
                                     gif; other formats become lossless PNGs. Resized to
                                     ``short_side``, a JPEG stays a JPEG (quality 90) and any
                                     other image becomes a PNG, each in its own mode
        <key>.jpg                    with ``encoding="jpeg"``: every image as an RGB JPEG
                                     (quality 90), the stored bytes where they are one already
        <key>.ppm                    with ``encoding="raw"``: the (resized) pixels as binary
                                     PPM (P6, 8-bit RGB), lossless
        <key>.cls                    the class index, as ASCII digits (labelled images only)
        <key>.json                   {"sha256", "width", "height", and for labelled images
                                     "wnid" and "boxes": [{"wnid", "xmin", "ymin", "xmax",
                                     "ymax"}] in pixels of the written image; for .ppm
                                     samples of EXIF-rotated photos "orientation" (2-8)}
    classes.txt, export.json         export.json's details list each split's shards and counts

``key`` is the image's sha256: byte-identical images of a split are one sample (``_1``, ``_2``
... only for copies filed under different classes). Read with::

    wds.WebDataset("OUT/train/train-{000000..000012}.tar").decode("pil").to_tuple(
        "jpg;png;webp;bmp;tif;gif", "cls")

(``to_tuple("jpg", "cls")`` for an export of JPEGs only, or with ``encoding="jpeg"``).
Images whose label is hidden (test) have no ``.cls``: read them with ``to_tuple(...,
"json")``. ``short_side`` resizes every image so its shorter side has exactly that many
pixels (up or down, bicubic), the usual pre-resize before a random-resized crop. The whole
export is staged and renamed at the end, so no shard is ever seen half written.

``encoding="raw"`` writes every image as raw pixels (``.ppm``; read with ``to_tuple("ppm",
"cls")``), FFCV's ``RGBImageField(write_mode="raw")``: reading one is a copy, not a JPEG
decode, which makes training input several times faster when decoding is what limits it
(``bench/loader.py``), at 6-10x the disk of JPEG q90 (~260 kB an image at a 256 px short side,
~560 kB at 500x375): pair it with ``short_side``. PPM holds no EXIF, so the pixels stay as
stored, like the boxes, and ``"orientation"`` in the json says how to turn them upright
(:func:`synsetlab.data.shard_dataset` does; the other samples carry their EXIF instead).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synsetlab.export._images import COMMON_FORMATS, JPEG_FORMATS, SAME, ExportImage, ImagePolicy
from synsetlab.export._job import ARCHIVE_MTIME, ExportJob, file_stems
from synsetlab.export._registry import Exporter, register
from synsetlab.manifest import ManifestEntry

#: Formats written as stored: what ``webdataset``'s "pil" decoder and
#: :func:`synsetlab.data.shard_dataset` read by extension.
STORED_FORMATS = COMMON_FORMATS | {"GIF"}


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    if job.encoding == "raw":
        policy = job.policy(keep=frozenset(), fallback="PPM", resize_format="PPM")
    elif job.encoding == "jpeg":
        policy = job.policy(keep=JPEG_FORMATS, fallback="JPEG")
    else:
        policy = job.policy(keep=STORED_FORMATS, fallback="PNG", resize_format=SAME)
    shards = {}
    for split, entries in job.splits.items():
        (out / split).mkdir()
        shards[split] = write_split(job, entries, policy, out / split / f"{split}-%06d.tar")
    return {"shards": shards}


def write_split(
    job: ExportJob, entries: Sequence[ManifestEntry], policy: ImagePolicy, pattern: Path
) -> list[dict[str, Any]]:
    """Write one split's shards; return ``{"url", "nsamples"}`` per shard, ``url`` relative
    to the export folder."""
    # Imported here: webdataset imports torch (seconds), which no other export needs.
    import webdataset as wds

    written: list[dict[str, Any]] = []
    root = pattern.parent.parent

    def finished(fname: str) -> None:
        written.append({"url": Path(fname).relative_to(root).as_posix(), "nsamples": sink.count})

    # ShardWriter opens its first shard at once: only splits with images get here.
    with wds.ShardWriter(
        str(pattern),
        maxcount=job.shard_size,
        maxsize=float("inf"),
        post=finished,
        verbose=0,
        encoder=False,
        mtime=ARCHIVE_MTIME,
        user="",
        group="",
        mode=0o644,
    ) as sink:
        for key, image in zip(file_stems(entries), job.images(entries, policy), strict=True):
            sink.write(sample(job, key, image))
    return written


def sample(job: ExportJob, key: str, image: ExportImage) -> dict[str, Any]:
    """One webdataset sample: ``__key__``, the image under its extension (``jpg``, ``png``,
    ``ppm`` ...), ``json`` and, when labelled, ``cls``."""
    meta: dict[str, Any] = {
        "sha256": image.entry.sha256,
        "width": image.width,
        "height": image.height,
    }
    raw = image.format == "PPM"
    record: dict[str, Any] = {"__key__": key, image.extension[1:]: image.data}
    if raw and image.entry.exif_orientation not in (None, 1):
        meta["orientation"] = image.entry.exif_orientation
    wnid = job.label(image.entry)
    if wnid is not None:
        record["cls"] = str(job.class_index[wnid]).encode("ascii")
        meta["wnid"] = wnid
        meta["boxes"] = [
            {"wnid": b.wnid, "xmin": b.xmin, "ymin": b.ymin, "xmax": b.xmax, "ymax": b.ymax}
            for b in job.boxes(image)
        ]
    record["json"] = json.dumps(meta, sort_keys=True).encode("utf-8")
    return record


EXPORTER = register(
    Exporter(
        name="webdataset",
        summary="<split>/<split>-%06d.tar shards of image/.cls/.json samples, optionally resized",
        write=write,
        encodings=("stored", "jpeg", "raw"),
    )
)
