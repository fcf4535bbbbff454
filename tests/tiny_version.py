"""A tiny learnable version for data and training tests: 3 classes told apart by colour and
shape, written to a real blob store."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest, ManifestEntry

#: tench, goldfish, great white shark: real ILSVRC classes, in sorted (class index) order.
CLASSES = ("n01440764", "n01443537", "n01484850")
COLOURS = ((200, 40, 40), (40, 170, 60), (50, 70, 210))
#: The tiny-cpu recipe at a quarter of its width and 32 px: ~9 ms a step of 12 images.
SMALL = {
    "model_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8},
    "data.image_size": 32,
}


@dataclass(frozen=True)
class TinyVersion:
    manifest: Manifest
    blobs: BlobStore
    version_id: str


def picture(label: int, seed: int, size: int = 40) -> bytes:
    """A JPEG: a disc, square or triangle (by class) in the class's colour, jittered."""
    rng = np.random.default_rng(seed)
    background = tuple(int(v) for v in rng.integers(90, 160, 3))
    img = Image.new("RGB", (size + int(rng.integers(0, 9)), size), background)
    draw = ImageDraw.Draw(img)
    x, y = (int(v) for v in rng.integers(4, 12, 2))
    r = int(rng.integers(12, 18))
    colour = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in COLOURS[label])
    if label == 0:
        draw.ellipse((x, y, x + 2 * r, y + 2 * r), fill=colour)
    elif label == 1:
        draw.rectangle((x, y, x + 2 * r, y + 2 * r), fill=colour)
    else:
        draw.polygon([(x + r, y), (x, y + 2 * r), (x + 2 * r, y + 2 * r)], fill=colour)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def make_tiny_version(
    root: Path, *, train_per_class: int = 16, val_per_class: int = 4, test_per_class: int = 2
) -> TinyVersion:
    blobs = BlobStore(str(root / "blobs"))
    entries = []
    image_id = 0
    for split, count in (("train", train_per_class), ("val", val_per_class),
                         ("test", test_per_class)):  # fmt: skip
        for label, wnid in enumerate(CLASSES):
            for i in range(count):
                image_id += 1
                data = picture(label, seed=image_id)
                with Image.open(io.BytesIO(data)) as img:
                    width, height = img.size
                entries.append(
                    ManifestEntry(
                        image_id=image_id,
                        sha256=blobs.put(data),
                        wnid=wnid,
                        split=split,
                        hidden=split == "test",
                        source="test",
                        source_key=f"{split}/{i}",
                        format="JPEG",
                        width=width,
                        height=height,
                    )
                )
    manifest = Manifest(classes=CLASSES, entries=tuple(entries))
    version_id = blobs.put(manifest.to_bytes())
    return TinyVersion(manifest, blobs, version_id)
