"""A split of a frozen version as a torch map-style ``Dataset`` over the blob store."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import pil_to_tensor

from synsetlab.blobs import BlobStore
from synsetlab.data.transforms import TransformConfig, create_transform
from synsetlab.errors import UserError
from synsetlab.manifest import Manifest, ManifestEntry, merge_copies


class DataError(UserError, ValueError):
    """Training input that cannot be read as asked: a split the version does not have, a
    folder that is not a webdataset export; the message says what to pick instead."""


#: The label of an image whose label is hidden (test split): what scoring code alone reads.
HIDDEN = -1
#: What turns a picture with EXIF orientation 2-8 upright (as ``ImageOps.exif_transpose``).
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: The header of a binary 8-bit RGB PPM as Pillow writes it (and the webdataset export's raw
#: encoding): magic number, width, height, maxval 255, one whitespace byte, then the pixels.
_PPM_HEADER = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+255\s")


def decode_image(
    data: bytes, *, min_side: int | None = None, exif: bool = True, orientation: int | None = None
) -> Image.Image:
    """Encoded bytes -> RGB PIL image, upright (EXIF orientation applied when ``exif``).

    With ``min_side``, JPEGs are decoded at the smallest 1/2, 1/4 or 1/8 scale (DCT scaling,
    several times faster) whose short side still is at least ``min_side`` pixels.
    ``orientation`` (EXIF 1-8) is for pixels stored without their EXIF (raw PPM exports
    record it beside them): it is applied instead of the image's own.
    """
    with Image.open(io.BytesIO(data)) as img:
        if min_side is not None:
            w, h = img.size
            img.draft("RGB", (max(1, min_side * w // min(w, h)), max(1, min_side * h // min(w, h))))
        img.load()
        if orientation is not None:
            img = img.transpose(TRANSPOSE[orientation]) if _needs_turn(orientation) else img
        elif exif:
            img = ImageOps.exif_transpose(img)
        return img.convert("RGB")


def decode_tensor(
    data: bytes, *, min_side: int | None = None, orientation: int | None = None
) -> torch.Tensor:
    """Encoded bytes -> upright RGB ``(3, H, W)`` uint8 tensor: :func:`decode_image`'s pixels.

    A binary 8-bit RGB PPM (the webdataset export's raw encoding) skips PIL: its pixels are
    copied once (~30 us at 341x256, against ~500 us to decode a JPEG of that size) and come
    as a view with channels-last strides, which torch's resize reads as fast as a contiguous
    tensor. Other formats go through :func:`decode_image`.
    """
    header = _PPM_HEADER.match(data)
    if header is not None:
        width, height = int(header[1]), int(header[2])
        if len(data) - header.end() == 3 * width * height:
            pixels = torch.frombuffer(
                bytearray(memoryview(data)[header.end() :]), dtype=torch.uint8
            )
            return orient(pixels.view(height, width, 3).permute(2, 0, 1), orientation)
    image = decode_image(data, min_side=min_side, orientation=orientation)
    return pil_to_tensor(image)


def orient(image: torch.Tensor, orientation: int | None) -> torch.Tensor:
    """A ``(..., H, W)`` tensor stored with EXIF ``orientation`` (1-8, ``None``: 1), upright."""
    if not _needs_turn(orientation):
        return image
    if orientation in (5, 6, 7, 8):
        image = image.transpose(-2, -1)  # a quarter turn is a transpose and a flip
    flip = {2: (-1,), 3: (-2, -1), 4: (-2,), 6: (-1,), 7: (-2, -1), 8: (-2,)}.get(orientation)
    return image.flip(flip) if flip else image


def _needs_turn(orientation: int | None) -> bool:
    """Whether pixels with EXIF ``orientation`` need turning; raise for values outside 1-8."""
    if orientation is None or orientation == 1:
        return False
    if orientation not in TRANSPOSE:
        raise ValueError(f"EXIF orientation must be 1 to 8, not {orientation!r}")
    return True


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

    Byte-identical entries of the split with the same label (as this dataset shows it) are
    one item, as they are one file in an export and one ``ImageId`` to a challenge
    (:func:`synsetlab.manifest.merge_copies`); ``entries`` lists the items, in manifest order.

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
        entries = manifest.split(split)
        if not entries:
            have = ", ".join(f"{k} ({v})" for k, v in manifest.splits.items()) or "none"
            raise DataError(
                f"the version has no {split!r} images; its splits: {have}. Pick one of those"
            )
        self.split = split
        self.classes = manifest.classes
        self.blobs = blobs
        self.transform = transform
        self.decode_min_side = decode_min_side

        def label(entry: ManifestEntry) -> str | None:
            return None if entry.hidden and not reveal_hidden else entry.wnid

        # One item per image as the export and the challenge see it: byte-identical copies of
        # one (visible) label are one image, so evaluation counts it once, as the answer key
        # does, and training sees it as often as from the export's shards.
        self.entries: list[ManifestEntry] = merge_copies(entries, label)
        index = manifest.class_index
        self.labels = torch.tensor(
            [HIDDEN if (wnid := label(e)) is None else index[wnid] for e in self.entries],
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
