"""Each image's bytes for an export: as stored when the format allows, else re-encoded.

Pixels, sizes and boxes stay in the frame of the stored image (before EXIF rotation), as the
manifest gives them; a re-encoded image keeps the original's EXIF block, so it is displayed and
decoded exactly as the original was. Raw pixels (PPM) hold no EXIF: the manifest's
``exif_orientation`` says how to turn them upright.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from PIL import Image

from synsetlab.blobs import BlobStore
from synsetlab.export._registry import ExportError
from synsetlab.manifest import ManifestBox, ManifestEntry
from synsetlab.parallel import map_chunks

#: JPEG quality of re-encoded (resized or converted) images.
JPEG_QUALITY = 90
#: File extension of each kept Pillow format. MPO is a camera JPEG with extra frames appended.
EXTENSIONS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
}
#: What torchvision's ImageFolder reads (it skips .gif and unknown extensions).
COMMON_FORMATS = frozenset(EXTENSIONS)
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
#: A ``resize_format``: each image in its own format where it is a JPEG (quality 90), else PNG
#: (lossless), and in its own mode where that format holds it.
SAME = "same"
#: Modes a JPEG stores as they are.
_JPEG_MODES = frozenset({"L", "RGB", "CMYK"})


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """How an exporter wants its images."""

    #: Resize so the shorter side is this many pixels (up or down), keeping the aspect ratio.
    short_side: int | None = None
    #: Formats written as stored when no resize is asked; ``None`` keeps every format.
    keep: frozenset[str] | None = COMMON_FORMATS
    #: What other formats become: "PNG" (lossless), "JPEG" or "PPM" (raw RGB pixels).
    fallback: str = "PNG"
    #: What resized images become: "JPEG" (quality 90, RGB), "PPM" (raw RGB pixels,
    #: lossless) or :data:`SAME`. With :data:`SAME`, ``fallback`` conversions keep the mode too.
    resize_format: str = "JPEG"


@dataclass(frozen=True, slots=True)
class ExportImage:
    """One image as it will be written."""

    entry: ManifestEntry
    data: bytes
    #: Pillow format of ``data``.
    format: str
    width: int
    height: int
    #: The entry's boxes, scaled to ``width`` x ``height``.
    boxes: tuple[ManifestBox, ...]
    reencoded: bool

    @property
    def extension(self) -> str:
        """ ".jpg", ".png", ...: the usual extension of ``format``."""
        return EXTENSIONS.get(self.format, f".{self.format.lower()}")


def iter_images(
    entries: Iterable[ManifestEntry], blobs: BlobStore, policy: ImagePolicy, *, workers: int = 0
) -> Iterator[ExportImage]:
    """The images of ``entries``, in order; decoding and resizing run in ``workers`` processes."""
    work = partial(prepare_chunk, blobs=blobs, policy=policy)
    for _, images in map_chunks(work, entries, workers=workers, preload=[__name__]):
        yield from images


def prepare_chunk(
    entries: Sequence[ManifestEntry], *, blobs: BlobStore, policy: ImagePolicy
) -> list[ExportImage]:
    """Read and prepare a chunk of entries (runs in a worker process)."""
    return [prepare(entry, read_blob(blobs, entry), policy) for entry in entries]


def read_blob(blobs: BlobStore, entry: ManifestEntry) -> bytes:
    try:
        return blobs.get(entry.sha256)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"image {entry.image_id} (sha256 {entry.sha256}) is missing from the blob store "
            f"{blobs.url}: restore the store, or export from the workspace that holds the version"
        ) from None


def prepare(entry: ManifestEntry, data: bytes, policy: ImagePolicy) -> ExportImage:
    """``data`` (the stored bytes of ``entry``) as ``policy`` wants it."""
    stored = ExportImage(entry, data, entry.format, entry.width, entry.height, entry.boxes, False)
    size = entry.width, entry.height
    target = size if policy.short_side is None else resized_size(size, policy.short_side)
    kept = policy.keep is None or entry.format in policy.keep
    # Asked to resize, a JPEG already at the size stays as stored, and so does any image whose
    # own format is asked (SAME); other formats re-encode to the resize format.
    as_stored = policy.short_side is None or policy.resize_format == SAME
    if target == size and kept and (as_stored or entry.format in JPEG_FORMATS):
        return stored
    fmt = policy.resize_format if policy.short_side is not None else policy.fallback
    if fmt == SAME:
        fmt = "JPEG" if entry.format in JPEG_FORMATS and kept else "PNG"
    out = reencode(entry, data, target, fmt, keep_mode=policy.resize_format == SAME)
    return replace(
        stored,
        data=out,
        format=fmt,
        width=target[0],
        height=target[1],
        boxes=scale_boxes(entry.boxes, size, target),
        reencoded=True,
    )


def resized_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``short_side`` and the aspect ratio kept."""
    w, h = size
    if w <= h:
        return short_side, max(1, round(h * short_side / w))
    return max(1, round(w * short_side / h)), short_side


def scale_boxes(
    boxes: tuple[ManifestBox, ...], size: tuple[int, int], target: tuple[int, int]
) -> tuple[ManifestBox, ...]:
    if size == target:
        return boxes
    sx, sy = target[0] / size[0], target[1] / size[1]
    return tuple(
        ManifestBox(b.wnid, b.xmin * sx, b.ymin * sy, b.xmax * sx, b.ymax * sy) for b in boxes
    )


def reencode(
    entry: ManifestEntry, data: bytes, target: tuple[int, int], fmt: str, *, keep_mode: bool = False
) -> bytes:
    """Decode ``data``, resize it to ``target`` if needed, and encode it as ``fmt``; in the
    image's own mode where ``fmt`` holds it with ``keep_mode``, else in RGB for JPEG and PPM."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.info.get("exif")
            if target != img.size:
                # JPEG decoders can scale by 1/2..1/8 while decoding: far faster for a big
                # shrink, and the resize below still gives the exact size.
                img.draft(img.mode if keep_mode else "RGB", target)
            img = encodable(img, fmt, keep_mode=keep_mode)
            if img.size != target:
                img = img.resize(target, Image.Resampling.BICUBIC)
            out = io.BytesIO()
            options = {"quality": JPEG_QUALITY} if fmt == "JPEG" else {}
            if exif and fmt != "PPM":  # PPM has no EXIF: the manifest's orientation stands in
                options["exif"] = exif
            img.save(out, fmt, **options)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ExportError(
            f"image {entry.image_id} (sha256 {entry.sha256}) cannot be re-encoded as {fmt}: {e}; "
            "exclude it (`synsetlab findings exclude`) and freeze a new version, or export "
            "without re-encoding"
        ) from e
    return out.getvalue()


#: Modes PNG stores as they are (a GIF's palette included, so converting it is lossless).
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def encodable(img: Image.Image, fmt: str, *, keep_mode: bool = False) -> Image.Image:
    """``img`` in a mode ``fmt`` can store: RGB for JPEG and PPM (training input) unless
    ``keep_mode`` and JPEG holds the mode (L, RGB, CMYK); as is for PNG."""
    if fmt == "JPEG" and keep_mode and img.mode in _JPEG_MODES:
        return img
    if fmt in ("JPEG", "PPM"):
        return img if img.mode == "RGB" else img.convert("RGB")
    if img.mode in _PNG_MODES:
        return img
    return img.convert("RGBA" if "A" in img.getbands() else "RGB")
