"""A split of a frozen version as a torch map-style ``Dataset`` over the blob store."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from synsetlab.blobs import BlobStore
from synsetlab.data.transforms import TransformConfig, create_transform
from synsetlab.manifest import Manifest, ManifestEntry

#: The label of an image whose label is hidden (test split): what scoring code alone reads.
HIDDEN = -1


def decode_image(data: bytes, *, min_side: int | None = None, exif: bool = True) -> Image.Image:
    """Encoded bytes -> RGB PIL image, upright (EXIF orientation applied when ``exif``).

    With ``min_side``, JPEGs are decoded at the smallest 1/2, 1/4 or 1/8 scale (DCT scaling,
    several times faster) whose short side still is at least ``min_side`` pixels.
    """
    with Image.open(io.BytesIO(data)) as img:
        if min_side is not None:
            w, h = img.size
            img.draft("RGB", (max(1, min_side * w // min(w, h)), max(1, min_side * h // min(w, h))))
        img.load()
        if exif:
            img = ImageOps.exif_transpose(img)
        return img.convert("RGB")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU RNG and Python's ``random`` seeded, then restore them.

    torchvision's random transforms draw from these global RNGs; seeding them per sample makes
    a sample's augmentation depend on the sample alone, not on the worker or resume point.
    Only the CPU generator is seeded (~20 us): ``torch.manual_seed`` also seeds every device
    backend, ~150 us a sample.
    """
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    torch.default_generator.manual_seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        random.setstate(python_state)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block on one torch thread. A transform of one small picture gains nothing from
    more, and when torch's threads contend for busy cores (training in the same process),
    colour jitter and blur ran ~50x slower. Loader workers run on one thread already."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class VersionDataset(Dataset):
    """The images of one split of a version, as ``(image, label)`` pairs.

    ``image`` is what ``transform`` makes of the decoded RGB PIL image (usually a uint8
    tensor); ``label`` the class index in ``manifest.classes`` order, or :data:`HIDDEN` (-1)
    where the label is hidden, unless ``reveal_hidden``.

    Items are fetched by index or by ``(index, seed)``: with a seed (what
    :class:`synsetlab.data.ResumableSampler` yields) the transform's randomness is drawn
    from that seed alone.
    """

    def __init__(
        self,
        manifest: Manifest,
        split: str,
        blobs: BlobStore,
        *,
        transform: Callable[[Image.Image], Any] | None = None,
        decode_min_side: int | None = None,
        reveal_hidden: bool = False,
    ) -> None:
        self.entries: list[ManifestEntry] = manifest.split(split)
        if not self.entries:
            have = ", ".join(f"{k} ({v})" for k, v in manifest.splits.items()) or "none"
            raise ValueError(f"the version has no {split!r} images; its splits: {have}")
        self.split = split
        self.classes = manifest.classes
        self.blobs = blobs
        self.transform = transform
        self.decode_min_side = decode_min_side
        index = manifest.class_index
        self.labels = torch.tensor(
            [HIDDEN if e.hidden and not reveal_hidden else index[e.wnid] for e in self.entries],
            dtype=torch.long,
        )

    @classmethod
    def with_transform(
        cls,
        manifest: Manifest,
        split: str,
        blobs: BlobStore,
        data: TransformConfig,
        *,
        train: bool,
        reveal_hidden: bool = False,
    ) -> VersionDataset:
        """The split through :func:`create_transform` of ``data`` (training or evaluation),
        JPEGs decoded at the reduced scale that transform allows."""
        return cls(
            manifest,
            split,
            blobs,
            transform=create_transform(data, train=train),
            decode_min_side=data.decode_size(train=train),
            reveal_hidden=reveal_hidden,
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Any, int]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        entry = self.entries[index]
        image = decode_image(self.blobs.get(entry.sha256), min_side=self.decode_min_side)
        if self.transform is not None:
            with single_threaded(), seeded(seed) if seed is not None else nullcontext():
                image = self.transform(image)
        return image, int(self.labels[index])

    def class_counts(self) -> torch.Tensor:
        """``(C,)`` images per class (hidden labels not counted)."""
        known = self.labels[self.labels >= 0]
        return torch.bincount(known, minlength=len(self.classes))
