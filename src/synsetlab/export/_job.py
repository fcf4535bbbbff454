"""What every exporter works from: a version's classes in index order, its splits in a
label-blind order with one image per content, who may see which labels, and the images as the
format wants them.

Entries of a split that share a sha256 (byte-identical files) are one image to whoever reads
the export, and to a challenge, whose ``ImageId`` is that sha256: they are written once, with
the union of their boxes. Only copies whose visible labels differ (one content filed under two
classes in a labelled split) are kept apart, one per class (``<sha256>_1`` ... in flat
layouts), with a warning: a single-label layout cannot hold both, and dropping one would hide
the conflict.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from synsetlab.blobs import BlobStore, sha256_hex
from synsetlab.export._images import ExportImage, ImagePolicy, iter_images
from synsetlab.export._registry import ExportError
from synsetlab.manifest import SPLIT_ORDER, Manifest, ManifestBox, ManifestEntry, merge_copies
from synsetlab.taxonomy import Taxonomy, UnknownSynsetError, ilsvrc2012_id_to_wnid

ClassOrder = Literal["sorted", "ilsvrc"]
CLASS_ORDERS: tuple[str, ...] = ("sorted", "ilsvrc")
#: How images are stored: ``stored``, their own bytes (format and mode kept; re-encoded in
#: their own format only when resized or when the layout cannot hold it); ``jpeg``, every
#: image as an RGB JPEG (quality 90); ``raw``, raw RGB pixels (PPM: lossless, read without
#: decoding, 6-10x the disk of JPEG). Each format says which it takes.
Encoding = Literal["stored", "jpeg", "raw"]
ENCODINGS: tuple[str, ...] = ("stored", "jpeg", "raw")
#: What the ImageNet layouts accept as a class name (their readers match it).
WNID = re.compile(r"n\d{8}")
#: Member time of every archive written: the same version gives the same bytes.
ARCHIVE_MTIME = 0


def order_classes(classes: Iterable[str], order: str) -> tuple[str, ...]:
    """The class index order: ``"sorted"`` wnids (torchvision, timm), or ``"ilsvrc"``, by
    ILSVRC2012_ID (the devkit's order), which needs every class to be an ILSVRC-2012 class."""
    if order == "sorted":
        return tuple(sorted(classes))
    if order == "ilsvrc":
        ids = {wnid: i for i, wnid in ilsvrc2012_id_to_wnid().items()}
        outside = sorted(c for c in classes if c not in ids)
        if outside:
            raise ExportError(
                f"class_order='ilsvrc' numbers classes by their ILSVRC2012_ID, but "
                f"{len(outside)} class(es) are not ILSVRC-2012 classes (e.g. {outside[0]}): "
                f"use class_order='sorted'"
            )
        return tuple(sorted(classes, key=ids.__getitem__))
    raise ExportError(f"unknown class_order {order!r}: use one of {', '.join(CLASS_ORDERS)}")


def export_order(entry: ManifestEntry) -> tuple[str, int]:
    """Exports write and number images by content hash, never by class.

    The manifest groups entries by wnid: numbering test images in that order would give their
    hidden labels away, and shards in that order would hold one class each.
    """
    return entry.sha256, entry.image_id


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote."""

    format: str
    out_dir: Path
    #: The version's id: the sha256 of its manifest.
    version: str
    #: The class index order the export uses (written to ``classes.txt``).
    classes: tuple[str, ...]
    #: Images written, per split.
    images: dict[str, int]
    #: Of those, images written with their label, per split.
    labelled: dict[str, int]
    #: Images re-encoded (resized, or a format the layout cannot hold) rather than copied.
    reencoded: int
    bytes_written: int
    #: Entries not written because a byte-identical entry of their split (same sha256, same
    #: visible label) was: each content is written once per split.
    merged: int = 0
    #: Format-specific facts, e.g. the webdataset shards of each split.
    details: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass
class ExportJob:
    """A version to export and the options that shape it.

    Exporters read it; only :meth:`images` (counting re-encodes) and ``warnings`` change.
    """

    manifest: Manifest
    blobs: BlobStore
    #: Class index order: position = class index.
    classes: tuple[str, ...]
    taxonomy: Taxonomy
    include_hidden: bool = False
    short_side: int | None = None
    shard_size: int = 1000
    class_order: str = "sorted"
    encoding: str = "stored"
    workers: int = 0
    #: Images re-encoded so far.
    reencoded: int = 0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted({e.wnid for e in self.manifest.entries} - set(self.classes))
        if unknown:
            raise ExportError(
                f"the manifest labels images with {len(unknown)} wnid(s) missing from its class "
                f"list (e.g. {unknown[0]}): it is not a valid version; freeze it again"
            )
        outside = Counter(
            b.wnid for e in self.manifest.entries for b in e.boxes if b.wnid not in self.class_index
        )
        if outside:
            self.warnings.append(
                f"{sum(outside.values())} box(es) name a class outside the version "
                f"(e.g. {min(outside)}) and were left out"
            )

    @cached_property
    def version(self) -> str:
        """The version's id: the sha256 of its manifest."""
        return sha256_hex(self.manifest.to_bytes())

    @cached_property
    def class_index(self) -> dict[str, int]:
        return {wnid: i for i, wnid in enumerate(self.classes)}

    @cached_property
    def splits(self) -> dict[str, tuple[ManifestEntry, ...]]:
        """Non-empty splits (train, val, test, then others), each in :func:`export_order`,
        with one entry per content and visible label (see the module docstring)."""
        by_split: dict[str, list[ManifestEntry]] = {}
        for entry in self.manifest.entries:
            by_split.setdefault(entry.split, []).append(entry)
        names = [s for s in SPLIT_ORDER if s in by_split]
        names += sorted(set(by_split) - set(SPLIT_ORDER))
        out = {}
        for name in names:
            entries = sorted(by_split[name], key=export_order)
            out[name] = tuple(self._merge_copies(name, entries))
        return out

    @property
    def merged(self) -> int:
        """Entries written as one with a byte-identical entry of their split."""
        return len(self.manifest.entries) - sum(len(e) for e in self.splits.values())

    def _merge_copies(self, split: str, entries: list[ManifestEntry]) -> list[ManifestEntry]:
        """``entries`` (in export order) with byte-identical ones of one visible label merged
        (:func:`~synsetlab.manifest.merge_copies`): the first (lowest image id) stands for
        them, with all their boxes. Warns of contents filed under two visible labels."""
        merged = merge_copies(entries, self.label)
        labels = Counter(e.sha256 for e in merged)
        conflicts = sum(1 for n in labels.values() if n > 1)
        if conflicts:
            self.warnings.append(
                f"{conflicts} image(s) of the {split} split are filed under two or more "
                "classes (byte-identical files, different labels): each class's copy is "
                "written (named <sha256>_1 ... in flat layouts); settle them with `synsetlab "
                "findings list --kind exact-duplicate` and a relabel or exclude decision"
            )
        return merged

    # -- labels: hidden ones stay hidden ---------------------------------------------------------

    def label(self, entry: ManifestEntry) -> str | None:
        """The entry's wnid, or ``None`` when its label is hidden and not asked for."""
        if entry.hidden and not self.include_hidden:
            return None
        return entry.wnid

    def is_labelled(self, entries: Iterable[ManifestEntry]) -> bool:
        """Every entry is exported with its label."""
        return all(self.label(e) is not None for e in entries)

    def boxes(self, image: ExportImage) -> tuple[ManifestBox, ...]:
        """The image's boxes (scaled with it); none when its label is hidden, since each box
        names a class."""
        if self.label(image.entry) is None:
            return ()
        return tuple(b for b in image.boxes if b.wnid in self.class_index)

    # -- class names -----------------------------------------------------------------------------

    def lemmas(self, wnid: str) -> tuple[str, ...]:
        """The class's lemmas; a class the taxonomy lacks is named by its id."""
        try:
            return self.taxonomy.get(wnid).lemmas
        except UnknownSynsetError:
            return (wnid,)

    def class_name(self, wnid: str) -> str:
        return self.lemmas(wnid)[0]

    def words(self, wnid: str) -> str:
        """ "tench, Tinca tinca": the lemmas as ILSVRC's meta.mat and Kaggle's mapping give them."""
        return ", ".join(self.lemmas(wnid))

    def gloss(self, wnid: str) -> str:
        try:
            return self.taxonomy.get(wnid).gloss
        except UnknownSynsetError:
            return ""

    # -- images ----------------------------------------------------------------------------------

    def policy(self, **kw: Any) -> ImagePolicy:
        """The image policy of a format (``keep``, ``fallback``) with the asked resize."""
        return ImagePolicy(short_side=self.short_side, **kw)

    def images(
        self, entries: Iterable[ManifestEntry], policy: ImagePolicy
    ) -> Iterator[ExportImage]:
        """The images of ``entries`` in order, prepared as ``policy`` asks."""
        for image in iter_images(entries, self.blobs, policy, workers=self.workers):
            self.reencoded += image.reencoded
            yield image


def file_stems(entries: Sequence[ManifestEntry]) -> list[str]:
    """A unique file name stem per entry: its sha256, with ``_1``, ``_2`` ... for repeats.

    Content names carry no label. A split holds a content once (:attr:`ExportJob.splits`)
    except under two different visible labels: only those copies get ``_1`` ...
    """
    seen: Counter[str] = Counter()
    stems = []
    for entry in entries:
        n = seen[entry.sha256]
        seen[entry.sha256] += 1
        stems.append(entry.sha256 if n == 0 else f"{entry.sha256}_{n}")
    return stems


def require_ilsvrc_shape(job: ExportJob, format: str) -> None:
    """The checks of the ImageNet layouts: wnid classes, train/val/test splits, labelled
    train and val (their layouts have no place for an unlabelled image)."""
    not_wnids = [c for c in job.classes if not WNID.fullmatch(c)]
    if not_wnids:
        raise ExportError(
            f"the {format} layout names classes by wnid ('n' and 8 digits), but {len(not_wnids)} "
            f"class(es) are workspace classes (e.g. {not_wnids[0]!r}): use the imagefolder, "
            f"webdataset, parquet or coco format"
        )
    other = sorted(set(job.splits) - set(SPLIT_ORDER))
    if other:
        raise ExportError(
            f"the {format} layout has only train, val and test splits, not {', '.join(other)}: "
            f"use the imagefolder, webdataset, parquet or coco format"
        )
    for split in ("train", "val"):
        if not job.is_labelled(job.splits.get(split, ())):
            raise ExportError(
                f"the {split} split has images with hidden labels, which the {format} layout "
                f"cannot hold without their label: pass include_hidden=True to export them"
            )
