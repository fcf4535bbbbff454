"""What the sources of pixel arrays (IDX, CIFAR) share: lossless encoding.

Their classes files are read by :mod:`synsetlab.ingest.classes`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of an H x W (grey), H x W x 1 (grey) or H x W x 3 (RGB) uint8 array."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    out = io.BytesIO()
    # A fixed compression level keeps the bytes (and so the content hash) the same run to run.
    Image.fromarray(pixels).save(out, format="PNG", compress_level=6)
    return out.getvalue()
