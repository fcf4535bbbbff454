"""What the sources of pixel arrays (IDX, CIFAR) share: class files and lossless encoding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from synsetlab.ingest.records import SourceError


def read_class_lines(path: Path) -> list[str]:
    """The classes of a classes file: the first word of each line, skipping blanks and "#"."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read the classes file {path} ({e})") from e
    stripped = (line.strip() for line in text.splitlines())
    return [line.split()[0] for line in stripped if line and not line.startswith("#")]


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of an H x W (grey), H x W x 1 (grey) or H x W x 3 (RGB) uint8 array."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    out = io.BytesIO()
    # A fixed compression level keeps the bytes (and so the content hash) the same run to run.
    Image.fromarray(pixels).save(out, format="PNG", compress_level=6)
    return out.getvalue()
