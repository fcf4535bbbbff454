"""The manifest of a frozen dataset version: its exact content, as canonical JSON Lines.

Line 1 is a header ``{"format": "synsetlab-version-1", "classes": [...], "params": {...},
"excluded": [...]}``; each further line is one image, sorted by (split, wnid, sha256, image id).
After them come the version's unlabelled images, lines marked ``"unlabelled": true`` and sorted
by (sha256, image id): what self-supervised pretraining may add (``pretrain --use-unlabelled``).
A version without any has no such line, so its bytes, and id, are what they were before the
unlabelled pool was recorded.
The version's id is the sha256 of these bytes, which the blob store keeps under that address:
the same catalog state and split give the same id, and a version can never change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any

from synsetlab.ingest.records import Box

#: A box in pixel coordinates of the stored image (before EXIF rotation): the same record as
#: an ingested box.
ManifestBox = Box

FORMAT = "synsetlab-version-1"
SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredImage:
    """What every image line of a manifest says of the image itself."""

    image_id: int
    sha256: str
    #: Where the image came from: source kind and path or archive member.
    source: str
    source_key: str
    format: str
    width: int
    height: int
    exif_orientation: int | None = None

    def stored_fields(self) -> dict[str, Any]:
        """These fields by name, to build another record of the same image."""
        return {f.name: getattr(self, f.name) for f in fields(StoredImage)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEntry(StoredImage):
    """One image of a version."""

    wnid: str
    split: str
    #: True for test labels that only scoring code may read.
    hidden: bool
    boxes: tuple[ManifestBox, ...] = ()
    #: The class the sources gave, when a curator relabelled the image.
    relabelled_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlabelledEntry(StoredImage):
    """An image the catalog held, not excluded, but without one label: no source gave it a
    class, or candidate classes compete and no vote or decision settled them. It has no split
    and no place in training or scoring; only self-supervised pretraining reads its pixels."""

    #: The competing candidate classes, sorted; empty when no source proposed one.
    candidates: tuple[str, ...] = ()

    def as_entry(self, split: str) -> ManifestEntry:
        """This image as an entry of ``split`` whose label reads as hidden: it has none."""
        return ManifestEntry(**self.stored_fields(), wnid="", split=split, hidden=True)


@dataclass(frozen=True)
class Manifest:
    """A version's classes (sorted wnids: the class index order) and images."""

    classes: tuple[str, ...]
    entries: tuple[ManifestEntry, ...]
    params: dict[str, Any] = field(default_factory=dict)
    #: Image ids that decisions excluded from this version.
    excluded: tuple[int, ...] = ()
    #: Images without one label when the version was frozen (see :class:`UnlabelledEntry`).
    unlabelled: tuple[UnlabelledEntry, ...] = ()

    def __post_init__(self) -> None:
        # Canonical order whatever the caller's, so equal content means equal manifests.
        object.__setattr__(self, "entries", tuple(sorted(self.entries, key=_entry_order)))
        object.__setattr__(self, "excluded", tuple(sorted(self.excluded)))
        pool = sorted(self.unlabelled, key=lambda u: (u.sha256, u.image_id))
        object.__setattr__(self, "unlabelled", tuple(pool))

    @cached_property
    def class_index(self) -> dict[str, int]:
        """wnid -> class index (position in the sorted class list)."""
        return {wnid: i for i, wnid in enumerate(self.classes)}

    @property
    def pool_recorded(self) -> bool:
        """Whether the manifest lists its unlabelled images: versions frozen before synsetlab
        kept them only counted them (``params["unlabelled_or_conflicting"]``)."""
        return bool(self.unlabelled) or not self.params.get("unlabelled_or_conflicting")

    def split(self, name: str) -> list[ManifestEntry]:
        """The entries of one split, in manifest order."""
        return [e for e in self.entries if e.split == name]

    @property
    def splits(self) -> dict[str, int]:
        """Images per split, in train/val/test order."""
        counts = {name: 0 for name in SPLIT_ORDER}
        for e in self.entries:
            counts[e.split] = counts.get(e.split, 0) + 1
        return {k: v for k, v in counts.items() if v}

    def to_bytes(self) -> bytes:
        """The canonical encoding: the same manifest always gives the same bytes."""
        header = {
            "format": FORMAT,
            "classes": list(self.classes),
            "params": self.params,
            "excluded": list(self.excluded),
        }
        lines = [_dump(header)]
        for e in self.entries:
            record = asdict(e)
            record["boxes"] = [[b.wnid, b.xmin, b.ymin, b.xmax, b.ymax] for b in e.boxes]
            lines.append(_dump(record))
        for u in self.unlabelled:
            lines.append(_dump({**asdict(u), "candidates": list(u.candidates), "unlabelled": True}))
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        lines = data.decode("utf-8").splitlines()
        header = json.loads(lines[0])
        if header.get("format") != FORMAT:
            raise ValueError(f"not a synsetlab version manifest (format {header.get('format')!r})")
        entries, unlabelled = [], []
        for line in lines[1:]:
            record = json.loads(line)
            if record.pop("unlabelled", False):
                record["candidates"] = tuple(record["candidates"])
                unlabelled.append(UnlabelledEntry(**record))
                continue
            record["boxes"] = tuple(ManifestBox(*b) for b in record["boxes"])
            entries.append(ManifestEntry(**record))
        return cls(
            classes=tuple(header["classes"]),
            entries=tuple(entries),
            params=header["params"],
            excluded=tuple(header["excluded"]),
            unlabelled=tuple(unlabelled),
        )


def _entry_order(e: ManifestEntry) -> tuple:
    rank = SPLIT_ORDER.index(e.split) if e.split in SPLIT_ORDER else len(SPLIT_ORDER)
    return (rank, e.split, e.wnid, e.sha256, e.image_id)


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: What makes two copies of one content two images: their class as a reader sees it (the
#: wnid, or ``None`` where the label is hidden from that reader).
LabelFn = Callable[[ManifestEntry], str | None]


def _wnid(entry: ManifestEntry) -> str | None:
    return entry.wnid


def copies(
    entries: Iterable[ManifestEntry], label: LabelFn = _wnid
) -> dict[tuple[str, str | None], list[ManifestEntry]]:
    """``entries`` grouped by content and label: ``(sha256, label(entry))`` -> the entries
    holding those bytes under that label, in the order given; groups in the order of their
    first entry.

    A group is one image to whoever reads a version (an export writes it once, a challenge
    scores it as one ``ImageId``, evaluation counts it once); a content in two groups is
    filed under two classes, a conflict each reader settles its own way.
    """
    groups: dict[tuple[str, str | None], list[ManifestEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.sha256, label(entry)), []).append(entry)
    return groups


def merge_copies(entries: Iterable[ManifestEntry], label: LabelFn = _wnid) -> list[ManifestEntry]:
    """One entry per group of :func:`copies`, where the group first comes: its first entry,
    with the boxes that the group's other entries add (first seen first)."""
    merged = []
    for first, *others in copies(entries, label).values():
        boxes = first.boxes
        for other in others:
            boxes += tuple(b for b in other.boxes if b not in boxes)
        merged.append(replace(first, boxes=boxes) if boxes != first.boxes else first)
    return merged


def sorted_classes(wnids: Iterable[str]) -> tuple[str, ...]:
    """The class index order of every export: sorted wnids, as torchvision's ImageFolder."""
    return tuple(sorted(set(wnids)))
