"""The planted faults: near-duplicate transforms of a clean image, and undecodable payloads."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from synsetlab.synthetic._render import encode

#: Near-duplicate transforms, assigned in turn so that every one occurs once there are five.
NEAR_DUPLICATE_TRANSFORMS = ("resize", "jpeg-reencode", "crop", "color-shift", "hflip")
#: Corruption defects, assigned in turn likewise.
CORRUPT_DEFECTS = ("truncated-jpeg", "zero-byte", "random-bytes", "text")

#: What a scraper saves when a server answers with an error page instead of an image.
_ERROR_PAGES = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    "</body></html>\n",
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message></Error>\n",
    '{"error": {"code": 429, "message": "Too many requests, slow down"}}\n',
    "This photo is no longer available.\n",
)


def near_duplicate(
    original: bytes, transform: str, rng: np.random.Generator
) -> tuple[bytes, str, tuple[int, int], dict[str, float]]:
    """A transformed copy of the encoded image ``original``.

    Returns ``(data, format, (width, height), params)``: the new bytes, their format ("JPEG"
    or "PNG"; the original's, except ``jpeg-reencode``), pixel size and the transform's
    parameters (scale factor, JPEG quality, crop fractions, per-channel gain/offset).
    """
    with Image.open(io.BytesIO(original)) as opened:
        fmt = opened.format or "PNG"
        image = opened.convert("RGB")
    width, height = image.size
    quality = int(rng.integers(80, 96))  # a fresh save, as when someone re-uploads a photo
    params: dict[str, float]
    if transform == "resize":
        scale = rng.uniform(0.55, 0.8) if rng.random() < 0.5 else rng.uniform(1.2, 1.5)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
        params = {"scale": scale}
    elif transform == "jpeg-reencode":
        fmt, quality = "JPEG", int(rng.integers(25, 61))
        params = {"quality": float(quality)}
    elif transform == "crop":
        left, top, right, bottom = rng.uniform(0.0, 0.06, 4)
        box = (
            round(left * width),
            round(top * height),
            width - round(right * width),
            height - round(bottom * height),
        )
        image = image.crop(box)
        params = {"left": left, "top": top, "right": right, "bottom": bottom}
    elif transform == "color-shift":
        gain = rng.uniform(0.9, 1.1, 3)
        offset = rng.normal(0.0, 5.0, 3)
        pixels = np.asarray(image, dtype=np.float32) * gain + offset
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        params = {f"gain_{c}": g for c, g in zip("rgb", gain, strict=True)}
        params |= {f"offset_{c}": o for c, o in zip("rgb", offset, strict=True)}
    elif transform == "hflip":
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        params = {}
    else:
        raise ValueError(
            f"unknown near-duplicate transform {transform!r}; "
            f"expected one of {', '.join(NEAR_DUPLICATE_TRANSFORMS)}"
        )
    rounded = {key: round(float(value), 4) for key, value in params.items()}
    return encode(image, fmt, quality=quality), fmt, image.size, rounded


def corrupt_payload(defect: str, jpeg: bytes, rng: np.random.Generator) -> bytes:
    """Bytes of a file with ``defect``; ``jpeg`` is a valid JPEG that ``truncated-jpeg`` cuts."""
    if defect == "truncated-jpeg":
        # Cut well inside the entropy-coded data: the header still parses, the pixels do not.
        return jpeg[: int(len(jpeg) * rng.uniform(0.3, 0.7))]
    if defect == "zero-byte":
        return b""
    if defect == "random-bytes":
        return _unidentifiable_bytes(rng)
    if defect == "text":
        return _ERROR_PAGES[int(rng.integers(len(_ERROR_PAGES)))].encode()
    raise ValueError(f"unknown defect {defect!r}; expected one of {', '.join(CORRUPT_DEFECTS)}")


def _unidentifiable_bytes(rng: np.random.Generator) -> bytes:
    # Some Pillow formats (TGA) have no magic number, so a random draw could pass as an image;
    # redraw until Pillow does not recognise the bytes at all.
    for _ in range(100):
        data = rng.bytes(int(rng.integers(200, 4000)))
        try:
            with Image.open(io.BytesIO(data)):
                pass
        except UnidentifiedImageError:
            return data
    raise RuntimeError("could not draw bytes that Pillow fails to identify")  # pragma: no cover
