"""Real image files in every format and mode ingestion must accept, and the bad files it must
reject. Built with Pillow at test time: no binary fixtures in the repository."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _pattern(size: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    return Image.fromarray(_pattern(size, seed), "RGB")


def jpeg(size: tuple[int, int] = (64, 48), seed: int = 0, quality: int = 90) -> bytes:
    return encode(rgb(size, seed), "JPEG", quality=quality)


def png(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    return encode(rgb(size, seed), "PNG")


def good_images() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, Pillow format, mode) for every kind of good file ingestion accepts."""
    base = rgb((40, 30), 1)
    frames = [rgb((40, 30), s).convert("P") for s in (2, 3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=50)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    grey16 = Image.fromarray(np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50)
    return {
        "rgb.jpg": (encode(base, "JPEG"), "JPEG", "RGB"),
        "cmyk.jpg": (encode(base.convert("CMYK"), "JPEG"), "JPEG", "CMYK"),
        "grey.jpg": (encode(base.convert("L"), "JPEG"), "JPEG", "L"),
        "rgb.png": (encode(base, "PNG"), "PNG", "RGB"),
        "rgba.png": (encode(base.convert("RGBA"), "PNG"), "PNG", "RGBA"),
        "palette.png": (encode(base.convert("P"), "PNG"), "PNG", "P"),
        "grey16.png": (encode(grey16, "PNG"), "PNG", grey16.mode),
        "anim.gif": (gif.getvalue(), "GIF", "P"),
        "rgb.webp": (encode(base, "WEBP", quality=80), "WEBP", "RGB"),
        "rgb.bmp": (encode(base, "BMP"), "BMP", "RGB"),
        "rgb.tif": (encode(base, "TIFF"), "TIFF", "RGB"),
        "cmyk.tif": (encode(base.convert("CMYK"), "TIFF"), "TIFF", "CMYK"),
        "png-named.JPEG": (encode(base, "PNG"), "PNG", "RGB"),
        "exif6.jpg": (encode(base, "JPEG", exif=exif.tobytes()), "JPEG", "RGB"),
    }


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny file that declares ``width x height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    pixels = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected rejection reason)."""
    good = jpeg((64, 48), 5)
    return {
        "empty.jpg": (b"", "empty-file"),
        "notes.jpg": (b"these are not the pixels you are looking for\n" * 4, "not-an-image"),
        "truncated.jpg": (good[: len(good) // 2], "truncated"),
        "truncated.png": (png((64, 48), 6)[:-40], "truncated"),
        "bomb.png": (huge_png(), "too-many-pixels"),
    }
