"""A split of a frozen version as a torch ``Dataset`` of images and their boxes, the form
torchvision's detectors take.

Boxes: the catalog and the manifests hold ILSVRC's 0-based inclusive pixels of the stored
image (``xmax`` is the last pixel inside); torchvision's detectors take continuous edges
(``xmax`` is the right edge of that pixel). :func:`to_edges` and :func:`to_pixels` convert,
and are each other's inverse. Images are read as stored, without their EXIF rotation: the
boxes are in stored pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from synsetlab.blobs import BlobStore
from synsetlab.data.dataset import decode_tensor, seeded, single_threaded
from synsetlab.data.loader import create_loader
from synsetlab.detect.config import DetectorError
from synsetlab.manifest import Manifest, ManifestEntry

__all__ = [
    "DetectionDataset",
    "collate",
    "create_detection_loader",
    "entry_targets",
    "to_edges",
    "to_pixels",
]

#: The orientation that reads pixels as stored (no EXIF rotation).
AS_STORED = 1


def to_edges(boxes: np.ndarray | torch.Tensor) -> Any:
    """``(N, 4)`` inclusive pixels ``xmin, ymin, xmax, ymax`` -> continuous edges
    (``xmax + 1``, ``ymax + 1``), torchvision's form."""
    out = boxes.clone() if isinstance(boxes, torch.Tensor) else np.array(boxes, dtype=np.float64)
    out[..., 2:] += 1
    return out


def to_pixels(boxes: np.ndarray | torch.Tensor) -> Any:
    """The inverse of :func:`to_edges`: continuous edges -> inclusive pixels."""
    out = boxes.clone() if isinstance(boxes, torch.Tensor) else np.array(boxes, dtype=np.float64)
    out[..., 2:] -= 1
    return out


def entry_targets(entry: ManifestEntry, class_index: dict[str, int]) -> dict[str, torch.Tensor]:
    """An entry's boxes as torchvision's target: ``boxes`` ``(N, 4)`` float32 edges and
    ``labels`` ``(N,)`` int64 class index + 1 (0 is the background). Boxes of classes the
    version does not have are left out."""
    kept = [b for b in entry.boxes if b.wnid in class_index]
    boxes = torch.tensor([[b.xmin, b.ymin, b.xmax, b.ymax] for b in kept], dtype=torch.float32)
    return {
        "boxes": to_edges(boxes.reshape(-1, 4)),
        "labels": torch.tensor([class_index[b.wnid] + 1 for b in kept], dtype=torch.int64),
    }


class DetectionDataset(Dataset):
    """The images of one split of a version with their boxes, as ``(image, target)``:
    ``image`` a ``(3, H, W)`` uint8 tensor as stored, ``target`` a dict of ``boxes``
    (continuous edges) and ``labels`` (1..C) as torchvision's detectors take them.

    ``entries`` defaults to the whole split, in manifest order. ``targets=False`` (a hidden
    split, prediction) reads no boxes. ``hflip`` flips images with their boxes with that
    probability, drawn from an item's seed (items fetched as ``(index, seed)``, what
    :class:`synsetlab.data.ResumableSampler` yields).
    """

    def __init__(
        self,
        manifest: Manifest,
        split: str,
        blobs: BlobStore,
        *,
        entries: Sequence[ManifestEntry] | None = None,
        targets: bool = True,
        hflip: float = 0.0,
    ) -> None:
        self.entries = list(manifest.split(split) if entries is None else entries)
        if not self.entries:
            have = ", ".join(f"{k} ({v})" for k, v in manifest.splits.items()) or "none"
            raise DetectorError(
                f"the version has no {split!r} images; its splits: {have}. Pick one of those"
            )
        if targets and any(e.hidden for e in self.entries):
            raise DetectorError(f"the {split!r} split has hidden labels: train on another")
        self.split = split
        self.classes = manifest.classes
        self.class_index = manifest.class_index
        self.blobs = blobs
        self.targets = targets
        self.flip = v2.RandomHorizontalFlip(hflip) if hflip > 0 else None

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        entry = self.entries[index]
        image = decode_tensor(self.blobs.get(entry.sha256), orientation=AS_STORED)
        if not self.targets:
            return image, {}
        target = entry_targets(entry, self.class_index)
        if self.flip is not None:
            boxes = tv_tensors.BoundingBoxes(
                target["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:])
            )
            with single_threaded(), seeded(seed) if seed is not None else nullcontext():
                image, boxes = self.flip(tv_tensors.Image(image), boxes)
            image, target["boxes"] = (
                image.as_subclass(torch.Tensor),
                boxes.as_subclass(torch.Tensor),
            )
        return image, target

    def box_count(self) -> int:
        return sum(len(entry_targets(e, self.class_index)["labels"]) for e in self.entries)


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """Images of different sizes stay a list (the detector resizes and batches them)."""
    return [image for image, _ in batch], [target for _, target in batch]


def create_detection_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    sampler: Sampler | None = None,
    workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent: bool = False,
) -> DataLoader:
    """:func:`synsetlab.data.create_loader` with the list :func:`collate` of detection."""
    return create_loader(
        dataset, batch_size=batch_size, sampler=sampler, workers=workers, drop_last=drop_last,
        pin_memory=pin_memory, persistent=persistent, collate_fn=collate,
    )  # fmt: skip


def training_entries(
    manifest: Manifest, split: str, *, box_fraction: float, seed: int
) -> list[ManifestEntry]:
    """The entries a detector trains on: every image of ``split`` without boxes (negatives)
    and a seeded ``box_fraction`` of those with boxes, in manifest order. Refuses a split
    without any box."""
    entries = manifest.split(split)
    index = manifest.class_index
    boxed = [i for i, e in enumerate(entries) if any(b.wnid in index for b in e.boxes)]
    if entries and not boxed:
        raise DetectorError(
            f"the {split!r} split has no boxes to train a detector on: draw them (synsetlab "
            "annotate create NAME --kind boxes, then serve or simulate) or ingest them "
            "(ingest kaggle-loc, ingest ilsvrc2012 with its bbox archives, or a manifest "
            "with xmin,ymin,xmax,ymax), then freeze a new version"
        )
    if box_fraction >= 1:
        return entries
    keep = max(1, round(box_fraction * len(boxed)))
    chosen = np.random.default_rng([seed, 7]).choice(len(boxed), keep, replace=False)
    dropped = set(boxed) - {boxed[i] for i in chosen}
    return [e for i, e in enumerate(entries) if i not in dropped]
