"""Decode and check one image file: the work each ingest process does per item.

Every image is fully decoded (not only its header), so truncated and corrupt files are caught
here and never reach the catalog. This module stays light to import: workers start fast.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import fsspec
from PIL import Image, UnidentifiedImageError

from synsetlab.blobs import BlobStore, sha256_hex
from synsetlab.ingest.records import SourceItem

_EXIF_ORIENTATION = 0x0112


class Reason(str, Enum):
    """Why a file was rejected (stored in ``rejected_files.reason``)."""

    empty = "empty-file"
    not_an_image = "not-an-image"
    truncated = "truncated"
    corrupt = "corrupt"
    too_many_pixels = "too-many-pixels"
    unreadable = "unreadable"
    unknown_label = "unknown-label"


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the catalog records about a good image."""

    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    mode: str
    exif_orientation: int | None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str


def inspect_image(data: bytes, *, max_pixels: int) -> Decoded | Rejection:
    """Fully decode ``data`` and describe it, or say why it is not a usable image.

    Accepts anything Pillow reads (JPEG, PNG, WebP, GIF's first frame, BMP, TIFF...), in any
    mode (CMYK, L, P, I;16...), whatever the file was named. Images over ``max_pixels``
    (width x height) are rejected before their pixels are decoded.
    """
    if not data:
        return Rejection(Reason.empty, "zero bytes")
    with warnings.catch_warnings():
        # Pillow warns between its own limit and twice it; our limit decides instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            return Rejection(Reason.too_many_pixels, f"{e} (raise max_image_pixels to accept it)")
        except UnidentifiedImageError:
            return Rejection(Reason.not_an_image, "not a format Pillow can identify")
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            return _broken("cannot open", e)
        with img:
            width, height = img.size
            if width * height > max_pixels:
                return Rejection(
                    Reason.too_many_pixels,
                    f"{width}x{height} = {width * height} pixels > limit {max_pixels} "
                    "(raise max_image_pixels in synsetlab.toml to accept it)",
                )
            try:
                img.load()
            except (OSError, SyntaxError, ValueError, EOFError) as e:
                return _broken("cannot decode", e)
            if width <= 0 or height <= 0:
                return Rejection(Reason.corrupt, f"empty image {width}x{height}")
            orientation = img.getexif().get(_EXIF_ORIENTATION)
            return Decoded(
                sha256=sha256_hex(data),
                size_bytes=len(data),
                format=img.format or "unknown",
                width=width,
                height=height,
                mode=img.mode,
                exif_orientation=int(orientation) if orientation else None,
            )


def _broken(stage: str, error: BaseException) -> Rejection:
    why = str(error) or type(error).__name__
    reason = Reason.truncated if "truncated" in why.lower() else Reason.corrupt
    return Rejection(reason, f"{stage}: {why}")


def read_item_bytes(item: SourceItem) -> bytes:
    """The bytes of ``item``: in memory already, a local file, or any fsspec URL."""
    if item.data is not None:
        return item.data
    if item.path is None:
        raise ValueError(f"item {item.key!r} has neither data nor path")
    if "://" in item.path:
        with fsspec.open(item.path, "rb") as f:
            return f.read()
    return Path(item.path).read_bytes()


def process_item(item: SourceItem, blobs: BlobStore, *, max_pixels: int) -> Decoded | Rejection:
    """Read, decode and check ``item``; store its bytes when it is a good image."""
    if item.error is not None:
        return Rejection(Reason.unreadable, item.error)
    try:
        data = read_item_bytes(item)
    except OSError as e:
        return Rejection(Reason.unreadable, f"cannot read file: {e}")
    result = inspect_image(data, max_pixels=max_pixels)
    if isinstance(result, Decoded):
        blobs.put(data, result.sha256)
    return result


# Per-process state of decode workers, set once by ``init_worker`` so each task carries only
# its items, not the store.
_worker_blobs: BlobStore | None = None
_worker_max_pixels: int = 0


def init_worker(blob_url: str, max_pixels: int) -> None:
    global _worker_blobs, _worker_max_pixels
    _worker_blobs = BlobStore(blob_url)
    _worker_max_pixels = max_pixels


def process_chunk(
    items: list[tuple[SourceItem, Rejection | None]],
) -> list[Decoded | Rejection]:
    """Worker entry point: ``process_item`` over a chunk, with the store from ``init_worker``.

    An item that comes with a rejection already (its label is unknown) is not read.
    """
    assert _worker_blobs is not None, "init_worker was not called in this process"
    blobs, limit = _worker_blobs, _worker_max_pixels
    return [problem or process_item(it, blobs, max_pixels=limit) for it, problem in items]
