"""Per-content signals that curation reads: perceptual hashes and simple picture statistics.

Each distinct image content (sha256) is decoded once, at reduced size (JPEG DCT scaling), and
measured: pHash (as ``imagehash.phash`` computes it) of the image and of its mirror, dHash, and
the grey-level mean, colour spread, sharpness (variance of the Laplacian) and colourfulness of
a thumbnail.
Results are stored in ``blob_signals``, so later runs only measure new content.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy.fft import dct
from scipy.ndimage import laplace
from sqlalchemy import insert, select

from synsetlab.blobs import BlobStore
from synsetlab.catalog.models import BlobSignals
from synsetlab.catalog.models import Image as ImageRow
from synsetlab.parallel import map_chunks
from synsetlab.workspace import Workspace

#: Long side, in pixels, of the thumbnail the statistics are measured on.
THUMBNAIL = 256
_BITS = 1 << np.arange(63, -1, -1, dtype=np.uint64)


def bits_to_int64(bits: np.ndarray) -> int:
    """64 booleans (most significant first) -> a signed 64-bit integer (two's complement)."""
    value = int((bits.astype(np.uint64) * _BITS).sum(dtype=np.uint64))
    return value - (1 << 64) if value >= 1 << 63 else value


def phash_bits(grey: Image.Image) -> np.ndarray:
    """pHash: 32x32 grey, 2-D DCT, the 8x8 lowest frequencies against their median (64 bools)."""
    pixels = np.asarray(grey.resize((32, 32), Image.LANCZOS), dtype=np.float64)
    return _phash_of_pixels(pixels)


def _phash_of_pixels(pixels: np.ndarray) -> np.ndarray:
    low = dct(dct(pixels, axis=0), axis=1)[:8, :8]
    return (low > np.median(low)).ravel()


def dhash_bits(grey: Image.Image) -> np.ndarray:
    """dHash: 9x8 grey, each pixel brighter than its right neighbour (64 bools)."""
    pixels = np.asarray(grey.resize((9, 8), Image.LANCZOS), dtype=np.int16)
    return (pixels[:, 1:] > pixels[:, :-1]).ravel()


def measure(data: bytes) -> dict[str, float | int]:
    """Every signal of one encoded image (see the module docstring); raises on undecodable bytes."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL, THUMBNAIL))  # JPEG: decode at 1/2..1/8 scale, much faster
        rgb = img.convert("RGB")
    rgb.thumbnail((THUMBNAIL, THUMBNAIL), Image.BILINEAR)
    grey = rgb.convert("L")
    pixels32 = np.asarray(grey.resize((32, 32), Image.LANCZOS), dtype=np.float64)
    # float32 and channel-first planes: the statistics cost as much as the decode otherwise.
    g = np.asarray(grey, dtype=np.float32)
    r, gr, b = (np.asarray(band, dtype=np.float32) for band in rgb.split())
    rg, yb = r - gr, 0.5 * (r + gr) - b
    return {
        "phash": bits_to_int64(_phash_of_pixels(pixels32)),
        "phash_flip": bits_to_int64(_phash_of_pixels(pixels32[:, ::-1])),
        "dhash": bits_to_int64(dhash_bits(grey)),
        "mean": float(g.mean()),
        # Largest spread of the three channels: a red disc on a grey of the same luminance
        # is flat in grey levels but not a blank picture.
        "std": float(max(r.std(), gr.std(), b.std())),
        "laplacian_var": float(laplace(g).var()),
        # Hasler & Suesstrunk (2003): 0 for grey pictures, ~100+ for vivid ones.
        "colourfulness": float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())),
    }


_reader: BlobStore | None = None


def _init_reader(blob_url: str) -> None:
    global _reader
    _reader = BlobStore(blob_url)


def _measure_chunk(shas: list[str]) -> list[dict[str, float | int] | None]:
    assert _reader is not None, "_init_reader was not called in this process"
    out: list[dict[str, float | int] | None] = []
    for sha in shas:
        try:
            out.append(measure(_reader.get(sha)))
        except (OSError, ValueError, SyntaxError):
            out.append(None)  # ingestion decoded it once; a store fault must not stop curation
    return out


def update_signals(
    ws: Workspace,
    *,
    workers: int | None = None,
    batch_size: int = 512,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Measure every stored content that has no signals yet; return how many were measured.

    ``on_progress(n, total)`` is called after each batch written.
    """
    workers = ws.settings.resolved_workers() if workers is None else workers
    with ws.session() as s:
        done = set(s.scalars(select(BlobSignals.sha256)))
        todo = sorted(set(s.scalars(select(ImageRow.sha256).distinct())) - done)
    pending: list[dict] = []
    measured = 0

    def flush() -> None:
        nonlocal pending, measured
        if pending:
            with ws.session() as s:
                s.execute(insert(BlobSignals), pending)
            measured += len(pending)
            if on_progress is not None:
                on_progress(len(pending), len(todo))
            pending = []

    chunks = map_chunks(
        _measure_chunk,
        todo,
        workers=workers,
        initializer=_init_reader,
        initargs=(ws.settings.resolved_blob_url(),),
        preload=["synsetlab.curate.signals"],
    )
    for shas, results in chunks:
        pending.extend({"sha256": sha, **r} for sha, r in zip(shas, results, strict=True) if r)
        if len(pending) >= batch_size:
            flush()
    flush()
    return measured


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes stored as signed integers."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()
