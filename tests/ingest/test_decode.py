"""inspect_image: every format and mode accepted, every defect rejected with its reason."""

from __future__ import annotations

import pytest

from synsetlab.blobs import sha256_hex
from synsetlab.ingest.decode import Decoded, Reason, Rejection, inspect_image
from tests.images import bad_files, good_images, huge_png

LIMIT = 10_000_000


@pytest.mark.parametrize("name", sorted(good_images()))
def test_good_images_are_decoded_and_described(name: str) -> None:
    data, fmt, mode = good_images()[name]
    result = inspect_image(data, max_pixels=LIMIT)
    assert isinstance(result, Decoded), result
    assert (result.format, result.mode) == (fmt, mode)
    assert (result.width, result.height) == (40, 30)
    assert result.sha256 == sha256_hex(data)
    assert result.size_bytes == len(data)


def test_exif_orientation_is_recorded() -> None:
    data, _, _ = good_images()["exif6.jpg"]
    result = inspect_image(data, max_pixels=LIMIT)
    assert isinstance(result, Decoded) and result.exif_orientation == 6
    plain = inspect_image(good_images()["rgb.jpg"][0], max_pixels=LIMIT)
    assert isinstance(plain, Decoded) and plain.exif_orientation is None


@pytest.mark.parametrize("name", sorted(bad_files()))
def test_bad_files_are_rejected_with_a_reason(name: str) -> None:
    data, reason = bad_files()[name]
    result = inspect_image(data, max_pixels=LIMIT)
    assert isinstance(result, Rejection), result
    assert result.reason == Reason(reason)
    assert result.detail


def test_pixel_limit_is_configurable() -> None:
    data = huge_png(2000, 2000)
    assert isinstance(inspect_image(data, max_pixels=5_000_000), Decoded)
    small = inspect_image(data, max_pixels=1_000_000)
    assert isinstance(small, Rejection) and small.reason is Reason.too_many_pixels
    assert "max_image_pixels" in small.detail
