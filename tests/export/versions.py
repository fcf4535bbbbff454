"""A tiny frozen version with real images in a real blob store, and what each export must hold.

Three ILSVRC-2012 classes whose ILSVRC2012_IDs (449, 386, 1) run against their sorted order;
train has JPEG, PNG and GIF images, boxes, and an exact duplicate (two images, one content);
val lacks one class, has an image without boxes and one whose first box names another class;
test labels are hidden, one test image has a box that must not leak, and one is there twice
(byte-identical files: one ImageId). Every export writes a content once per split.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest, ManifestBox, ManifestEntry
from tests.images import jpeg, png, rgb

TENCH, BRAMBLING, FOX = "n01440764", "n01530575", "n02119789"
CLASSES = (TENCH, BRAMBLING, FOX)  # sorted
ILSVRC_ORDER = (FOX, BRAMBLING, TENCH)  # by ILSVRC2012_ID: 1, 386, 449

#: (sha256, split, label or None, boxes as sorted tuples) of one exported image.
Seen = tuple[str, str, str | None, tuple[tuple[str, float, float, float, float], ...]]


def gif(size: tuple[int, int], seed: int) -> bytes:
    out = io.BytesIO()
    rgb(size, seed).convert("P").save(out, "GIF")
    return out.getvalue()


@dataclass(frozen=True)
class Version:
    manifest: Manifest
    blobs: BlobStore

    def entry(self, sha256: str) -> ManifestEntry:
        return next(e for e in self.manifest.entries if e.sha256 == sha256)


def make_version(blobs: BlobStore) -> Version:
    """Write the images into ``blobs``; return the version's manifest with them."""
    entries: list[ManifestEntry] = []

    def add(
        data: bytes,
        fmt: str,
        wnid: str,
        split: str,
        boxes: Iterable[tuple[str, float, float, float, float]] = (),
        *,
        hidden: bool = False,
    ) -> None:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
        image_id = 101 + len(entries)
        entries.append(
            ManifestEntry(
                image_id=image_id,
                sha256=blobs.put(data),
                wnid=wnid,
                split=split,
                hidden=hidden,
                source="synthetic",
                source_key=f"{split}/{wnid}/{image_id}",  # names the class: must not leak
                format=fmt,
                width=width,
                height=height,
                boxes=tuple(ManifestBox(*b) for b in boxes),
            )
        )

    add(jpeg((64, 48), 1), "JPEG", TENCH, "train", [(TENCH, 3, 4, 50.5, 40)])
    add(jpeg((40, 56), 2), "JPEG", TENCH, "train")
    add(jpeg((40, 56), 2), "JPEG", TENCH, "train")  # exact duplicate of the one above
    add(png((48, 40), 3), "PNG", BRAMBLING, "train", [(BRAMBLING, 1, 2, 30, 35)] * 2)
    add(jpeg((72, 40), 4), "JPEG", BRAMBLING, "train")
    add(gif((36, 36), 5), "GIF", FOX, "train", [(FOX, 0, 0, 20, 20)])
    add(jpeg((50, 50), 6), "JPEG", FOX, "train")
    add(jpeg((60, 44), 7), "JPEG", TENCH, "val", [(FOX, 1, 1, 9, 9), (TENCH, 10, 10, 40, 40)])
    add(jpeg((44, 60), 8), "JPEG", BRAMBLING, "val")  # no box
    add(jpeg((52, 48), 9), "JPEG", TENCH, "val", [(TENCH, 2, 2, 20, 30)])
    add(jpeg((46, 42), 10), "JPEG", FOX, "test", [(FOX, 5, 5, 30, 30)], hidden=True)
    add(jpeg((42, 46), 11), "JPEG", TENCH, "test", hidden=True)
    add(jpeg((42, 46), 11), "JPEG", TENCH, "test", hidden=True)  # the same file again
    return Version(Manifest(classes=CLASSES, entries=tuple(entries)), blobs)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def box_tuples(boxes: Iterable[object]) -> tuple[tuple[str, float, float, float, float], ...]:
    """Boxes (any object with wnid/xmin/...) as sorted plain tuples, order-free."""
    return tuple(sorted((b.wnid, b.xmin, b.ymin, b.xmax, b.ymax) for b in boxes))  # type: ignore[attr-defined]


def distinct(entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """``entries`` with one per (split, sha256): what an export writes when copies agree."""
    return list({(e.split, e.sha256): e for e in reversed(list(entries))}.values())[::-1]


def expected(version: Version, *, include_hidden: bool = False) -> Counter[Seen]:
    """What an export of ``version`` must hold, image by image: each content once a split."""
    seen: Counter[Seen] = Counter()
    for e in distinct(version.manifest.entries):
        visible = include_hidden or not e.hidden
        seen[
            (e.sha256, e.split, e.wnid if visible else None, box_tuples(e.boxes) if visible else ())
        ] += 1
    return seen
