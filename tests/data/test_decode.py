"""Decoding to tensors: the raw (PPM) fast path gives decode_image's pixels, upright."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from synsetlab.data import TransformConfig, create_transform, decode_image, decode_tensor
from synsetlab.data.dataset import TRANSPOSE, orient
from tests.images import encode, good_images, rgb

PICTURE = rgb((7, 5), 3)  # 7 wide, 5 high: every turn shows


@pytest.mark.parametrize("name", sorted(good_images()))
def test_decode_tensor_gives_decode_image_pixels(name: str) -> None:
    data, _, _ = good_images()[name]
    want = pil_to_tensor(decode_image(data))
    got = decode_tensor(data)
    assert got.dtype == torch.uint8 and torch.equal(got, want)
    assert torch.equal(
        decode_tensor(data, min_side=8), pil_to_tensor(decode_image(data, min_side=8))
    )


def test_a_ppm_is_its_pixels() -> None:
    data = encode(PICTURE, "PPM")
    assert data.startswith(b"P6\n7 5\n255\n")
    image = decode_tensor(data)
    assert image.shape == (3, 5, 7) and torch.equal(image, pil_to_tensor(PICTURE))
    image[0, 0, 0] ^= 255  # a copy: writable, and the bytes stay as they were
    assert torch.equal(decode_tensor(data), pil_to_tensor(PICTURE))
    # What the fast path does not parse (a comment, 16 bits, a short file) goes to Pillow.
    commented = data.replace(b"P6\n", b"P6\n# made by hand\n", 1)
    assert torch.equal(decode_tensor(commented), pil_to_tensor(PICTURE))
    deep = encode(Image.fromarray(pil_to_tensor(PICTURE)[0].numpy().astype("uint16")), "PPM")
    assert torch.equal(decode_tensor(deep), pil_to_tensor(decode_image(deep)))
    with pytest.raises(OSError):
        decode_tensor(data[:-1])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_turns_pixels_as_exif_transpose_does(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    jpeg = encode(PICTURE, "JPEG", exif=exif.tobytes(), quality=95)
    upright = pil_to_tensor(decode_image(jpeg))  # ImageOps.exif_transpose
    stored = pil_to_tensor(decode_image(jpeg, exif=False))
    assert torch.equal(orient(stored, orientation), upright)
    turned = PICTURE.transpose(TRANSPOSE[orientation]) if orientation > 1 else PICTURE
    ppm = encode(PICTURE, "PPM")  # no EXIF: the orientation comes beside it
    assert torch.equal(decode_tensor(ppm, orientation=orientation), pil_to_tensor(turned))
    assert decode_image(ppm, orientation=orientation).tobytes() == turned.tobytes()
    assert torch.equal(decode_tensor(jpeg), upright)


def test_bad_orientation_is_refused() -> None:
    with pytest.raises(ValueError, match="EXIF orientation must be 1 to 8, not 9"):
        decode_tensor(encode(PICTURE, "PPM"), orientation=9)


def test_transforms_take_tensors_as_they_take_pil_images() -> None:
    """create_transform's output is the same from a tensor as from the PIL image, so training
    can hand it decode_tensor's pixels (and raw shards need no PIL at all)."""
    picture = rgb((64, 48), 1)
    tensor = decode_tensor(encode(picture, "PPM"))  # channels-last strides
    config = TransformConfig(image_size=24, auto_augment="trivialaugment", grayscale=0.5)
    for train in (True, False):
        transform = create_transform(config, train=train)
        for seed in range(5):
            torch.manual_seed(seed)
            from_pil = transform(picture)
            torch.manual_seed(seed)
            from_tensor = transform(tensor)
            assert from_tensor.dtype == torch.uint8 and torch.equal(from_pil, from_tensor)
