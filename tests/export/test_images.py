"""How exports prepare each image: kept as stored, or resized and re-encoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from synsetlab.export._images import SAME, ImagePolicy, prepare, resized_size
from synsetlab.manifest import ManifestBox, ManifestEntry
from tests.images import encode, good_images, jpeg, rgb


def _entry(data: bytes, fmt: str, boxes: tuple[ManifestBox, ...] = ()) -> ManifestEntry:
    with Image.open(io.BytesIO(data)) as img:
        size = img.size
    return ManifestEntry(
        image_id=1, sha256="0" * 64, wnid="n01440764", split="train", hidden=False,
        source="s", source_key="k", format=fmt, width=size[0], height=size[1], boxes=boxes,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("size", "short", "want"),
    [
        ((64, 48), 24, (32, 24)),
        ((48, 64), 24, (24, 32)),
        ((10, 10), 30, (30, 30)),
        ((500, 3), 1, (167, 1)),
    ],
)
def test_resized_size_keeps_the_aspect(
    size: tuple[int, int], short: int, want: tuple[int, int]
) -> None:
    assert resized_size(size, short) == want


def test_stored_bytes_are_kept_when_nothing_asks_otherwise() -> None:
    data = jpeg((64, 48), 1)
    image = prepare(_entry(data, "JPEG"), data, ImagePolicy())
    assert image.data is data and not image.reencoded and image.extension == ".jpg"


def test_resize_scales_boxes_and_keeps_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(rgb((64, 48), 2), "JPEG", exif=exif.tobytes())
    box = ManifestBox("n01440764", 8, 4, 64, 48)
    image = prepare(_entry(data, "JPEG", (box,)), data, ImagePolicy(short_side=24))
    with Image.open(io.BytesIO(image.data)) as img:
        assert (img.format, img.size, img.getexif().get(0x0112)) == ("JPEG", (32, 24), 6)
    assert (image.width, image.height) == (32, 24)
    assert image.boxes == (ManifestBox("n01440764", 4, 2, 32, 24),)


@pytest.mark.parametrize("name", ["cmyk.jpg", "rgba.png", "palette.png", "anim.gif", "cmyk.tif"])
def test_any_stored_mode_resizes_to_an_rgb_jpeg(name: str) -> None:
    data, fmt, _ = good_images()[name]
    image = prepare(_entry(data, fmt), data, ImagePolicy(short_side=12))
    with Image.open(io.BytesIO(image.data)) as img:
        assert (img.format, img.mode, min(img.size)) == ("JPEG", "RGB", 12)


def test_a_gif_becomes_a_lossless_png() -> None:
    data, fmt, _ = good_images()["anim.gif"]
    image = prepare(_entry(data, fmt), data, ImagePolicy())
    assert (image.format, image.extension, image.reencoded) == ("PNG", ".png", True)
    with Image.open(io.BytesIO(data)) as gif, Image.open(io.BytesIO(image.data)) as png:
        assert gif.convert("RGB").tobytes() == png.convert("RGB").tobytes()


def test_an_undecodable_blob_names_the_image() -> None:
    data = jpeg((64, 48), 3)
    with pytest.raises(ValueError, match=r"image 1 .* cannot be re-encoded"):
        prepare(_entry(data, "JPEG"), data[:20], ImagePolicy(short_side=8))


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("grey.jpg", ("JPEG", "L")),
        ("cmyk.jpg", ("JPEG", "CMYK")),
        ("rgb.jpg", ("JPEG", "RGB")),
        ("rgba.png", ("PNG", "RGBA")),
        ("palette.png", ("PNG", "P")),
        ("grey16.png", ("PNG", "I;16")),
        ("rgb.webp", ("PNG", "RGB")),
        ("cmyk.tif", ("PNG", "RGB")),
    ],
)
def test_same_resizes_each_image_in_its_own_format_and_mode(
    name: str, want: tuple[str, str]
) -> None:
    """``resize_format=SAME``: a JPEG stays a JPEG, anything else becomes a lossless PNG, and
    the mode stays wherever the format holds it (CMYK TIFF: PNG has no CMYK)."""
    data, fmt, _ = good_images()[name]
    image = prepare(_entry(data, fmt), data, ImagePolicy(short_side=12, resize_format=SAME))
    with Image.open(io.BytesIO(image.data)) as img:
        assert (img.format, img.mode, min(img.size)) == (*want, 12)
    assert image.format == want[0] and image.reencoded


def test_same_keeps_stored_bytes_at_the_asked_size() -> None:
    data = encode(rgb((24, 12), 4).convert("L"), "PNG")
    image = prepare(_entry(data, "PNG"), data, ImagePolicy(short_side=12, resize_format=SAME))
    assert image.data is data and not image.reencoded
