"""Per-content signals that curation reads: perceptual hashes and simple picture statistics.

Each distinct image content (sha256) is decoded once, at reduced size (JPEG DCT scaling), to a
thumbnail of at most 256 px, and measured:

* sharpness: variance of the Laplacian of the grey thumbnail;
* on a box reduction of the thumbnail to about 64 px (statistics of the whole picture need no
  more pixels, and hashes are computed from 32 px): pHash (``imagehash.phash``'s rule) of the
  picture and of its mirror, dHash, the grey-level mean, the largest R/G/B standard deviation
  and the colourfulness;
* the pHash and dHash of the picture's centre, :data:`INSET` of each side trimmed (from a
  32 px resampling of the centre of the same reduction, as the whole-frame ones; ~0.1 ms
  more per image): compared with another picture's whole-frame hashes, they match a copy
  cropped by a few percent, which moves the whole-frame hashes of both by more than the
  search radius.

What the worker processes of :func:`synsetlab.curate.signals.update_signals` import: Pillow and
numpy only (and the blob store), so that they start fast.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from synsetlab.blobs import BlobStore

#: Long side, in pixels, of the thumbnail sharpness is measured on.
THUMBNAIL = 256
#: Long side, in pixels, that hashes and global statistics are measured from (at least).
REDUCED = 64
#: Share of the width and of the height trimmed from each side for the centre hashes. Centre
#: pHashes linked 50, 52, 55, 54 and 42 of 60 synthetic crops (0-6% a side) trimming 2, 3, 4,
#: 5 and 10%, against 42 with whole frames only.
INSET = 0.04

# pHash's 2-D DCT-II (as scipy's, unnormalised) keeps only the 8 x 8 lowest frequencies: two
# small matrix products instead of two full transforms. Mirroring a row negates its odd
# frequencies, so the mirror's pHash needs no second transform.
_DCT8 = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)
_MIRROR = (-1.0) ** np.arange(8)
#: Opponent colour axes of the colourfulness: red-green and yellow-blue.
_OPPONENT = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0]])
_ONES = np.ones(THUMBNAIL * THUMBNAIL, dtype=np.float32)
_ONES64 = np.ones((2 * REDUCED) ** 2)  # the reduction is under 2 x REDUCED a side


def hash_int(bits: np.ndarray) -> int:
    """64 booleans (most significant first) -> a signed 64-bit integer (two's complement)."""
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def _above_median(values: np.ndarray) -> np.ndarray:
    # Rounded first: a flat picture's AC terms are round-off noise around 0, not signal.
    flat = np.round(values.ravel(), 6)
    middle = np.sort(flat)[31:33]
    return flat > 0.5 * (middle[0] + middle[1])


def _hash_inputs(grey32: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """A 32 px grey picture's 8 x 8 lowest DCT frequencies and its 9 x 8 reduction."""
    low = _DCT8 @ np.asarray(grey32, dtype=np.float64) @ _DCT8.T
    return low, np.asarray(grey32.resize((9, 8), Image.LANCZOS), dtype=np.int16)


def _dhash(d9: np.ndarray) -> int:
    return hash_int(d9[:, 1:] > d9[:, :-1])  # each pixel brighter than its right one


def _mean_var(x: np.ndarray) -> tuple[float, float]:
    # Two BLAS dot products: numpy's own reductions cost ~5x more on these sizes.
    flat = np.ascontiguousarray(x, dtype=np.float32).ravel()
    mean = float(flat @ _ONES[: flat.size]) / flat.size
    return mean, max(float(flat @ flat) / flat.size - mean * mean, 0.0)


def measure(data: bytes) -> dict[str, float | int]:
    """Every signal of one encoded image (see the module docstring); raises on undecodable bytes."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL, THUMBNAIL))  # JPEG: decode at 1/2..1/8 scale, much faster
        rgb = img.convert("RGB")
    rgb.thumbnail((THUMBNAIL, THUMBNAIL), Image.BILINEAR)
    # int16: the Laplacian's range (+-1020) fits, and int16 slices add ~10x faster than floats.
    g = np.asarray(rgb.convert("L"), dtype=np.int16)
    laplacian = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]

    small = rgb.reduce(max(1, max(rgb.size) // REDUCED))
    grey = small.convert("L")
    w, h = grey.size
    centre = (INSET * w, INSET * h, (1 - INSET) * w, (1 - INSET) * h)
    low, d9 = _hash_inputs(grey.resize((32, 32), Image.LANCZOS))
    low_inset, d9_inset = _hash_inputs(grey.resize((32, 32), Image.LANCZOS, box=centre))
    pixels = np.asarray(small, dtype=np.float64).reshape(-1, 3)
    means = _ONES64[: len(pixels)] @ pixels / len(pixels)
    centred = pixels - means
    cov = centred.T @ centred / len(pixels)  # R, G, B covariances: np.cov costs 3x more
    opponent_mean = _OPPONENT @ means
    opponent_std = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", _OPPONENT, cov, _OPPONENT), 0))
    return {
        "phash": hash_int(_above_median(low)),
        "phash_flip": hash_int(_above_median(low * _MIRROR)),
        "dhash": _dhash(d9),
        "phash_inset": hash_int(_above_median(low_inset)),
        "dhash_inset": _dhash(d9_inset),
        # Luma of the mean colour: the mean of Pillow's grey conversion up to its rounding.
        "mean": float(means @ [0.299, 0.587, 0.114]),
        # Largest spread of the three channels: a red disc on a grey of the same luminance
        # is flat in grey levels but not a blank picture.
        "std": float(np.sqrt(max(cov.diagonal().max(), 0.0))),
        "laplacian_var": _mean_var(laplacian)[1] if laplacian.size else 0.0,
        # Hasler & Suesstrunk (2003): 0 for grey pictures, ~100+ for vivid ones.
        "colourfulness": float(np.hypot(*opponent_std) + 0.3 * np.hypot(*opponent_mean)),
    }


_reader: BlobStore | None = None


def init_reader(blob_url: str) -> None:
    """Worker initialiser: open the blob store that :func:`measure_chunk` reads."""
    global _reader
    _reader = BlobStore(blob_url)


def measure_chunk(shas: list[str]) -> list[dict[str, float | int] | None]:
    """:func:`measure` of each stored content; ``None`` where it cannot be read or decoded."""
    assert _reader is not None, "init_reader was not called in this process"
    out: list[dict[str, float | int] | None] = []
    for sha in shas:
        try:
            out.append(measure(_reader.get(sha)))
        except (OSError, ValueError, SyntaxError):
            out.append(None)  # ingestion decoded it once; a store fault must not stop curation
    return out


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes stored as signed integers."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()
