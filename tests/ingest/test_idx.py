"""The IDX (MNIST-style) reader on fake files in the real format."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synsetlab.ingest.idx import open_idx
from synsetlab.ingest.records import SourceError
from tests.ingest.fakes import DIGIT_WNIDS, idx_bytes, list_items, make_fake_idx


def _pixels(data: bytes | None) -> np.ndarray:
    with Image.open(io.BytesIO(data or b"")) as image:
        return np.asarray(image)


def _raw_images(path: Path) -> np.ndarray:
    """The images of an IDX file, parsed here independently of the reader."""
    data = path.read_bytes()
    data = gzip.decompress(data) if path.suffix == ".gz" else data
    n, h, w = np.frombuffer(data[4:16], dtype=">i4")
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, h, w)


@pytest.mark.parametrize("gz", [True, False])
def test_lists_png_images_with_mapped_labels(tmp_path: Path, gz: bool) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=20, gz=gz, size=(28, 24))
    spec = open_idx(images, labels=labels, classes=classes, split="train")
    items = list_items(spec)
    assert list(items) == [f"{images.name}#{i:06d}" for i in range(20)]
    assert [i.label for i in items.values()] == [DIGIT_WNIDS[i % 10] for i in range(20)]
    assert {i.split for i in items.values()} == {"train"}
    raw = _raw_images(images)
    for index, item in enumerate(items.values()):
        with Image.open(io.BytesIO(item.data or b"")) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 24))
        assert np.array_equal(_pixels(item.data), raw[index])  # lossless
    assert (spec.kind, spec.uri, spec.total, spec.label_state) == (
        "idx",
        str(images),
        20,
        "verified",
    )
    assert spec.options == {"labels": str(labels), "classes": list(DIGIT_WNIDS), "split": "train"}


def test_without_labels_images_are_unlabelled(tmp_path: Path) -> None:
    images, _, _ = make_fake_idx(tmp_path, n=3)
    spec = open_idx(images, labels=None, classes=None, split=None)
    items = list_items(spec)
    assert [(i.label, i.split) for i in items.values()] == [(None, None)] * 3
    assert spec.options == {}


def test_rgb_images(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    path = tmp_path / "rgb-idx4-ubyte"
    path.write_bytes(idx_bytes(rgb))
    items = list(open_idx(path, labels=None, classes=None, split="test").items(lambda _: False))
    assert np.array_equal(_pixels(items[1].data), rgb[1])


@pytest.mark.parametrize("gz", [True, False])
def test_skipped_keys_are_not_listed(tmp_path: Path, gz: bool) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=10, gz=gz)
    done = {f"{images.name}#{i:06d}" for i in (0, 3, 4, 9)}
    spec = open_idx(images, labels=labels, classes=classes, split="train")
    items = list_items(spec, skip=done.__contains__)
    assert list(items) == [f"{images.name}#{i:06d}" for i in (1, 2, 5, 6, 7, 8)]
    raw = _raw_images(images)
    assert np.array_equal(_pixels(items[f"{images.name}#000005"].data), raw[5])
    assert items[f"{images.name}#000005"].label == DIGIT_WNIDS[5]


def test_truncated_gz_ends_with_an_error_item(tmp_path: Path) -> None:
    images, _, _ = make_fake_idx(tmp_path, n=10, size=(28, 28))
    whole = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(whole, mtime=0)[:-200])  # stream cut short
    items = list(open_idx(images, split=None).items(lambda _: False))
    assert items[-1].error and items[-1].data is None
    assert "were not read" in items[-1].error
    assert all(i.data for i in items[:-1])


def test_labels_beyond_the_classes_file(tmp_path: Path) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=20)
    lines = classes.read_text().splitlines()
    classes.write_text("\n".join(lines[:-2]) + "\n")  # drops the wnids of 8 and 9
    message = "labels go up to 9 but wnids.txt has 8 lines: give one wnid per line for labels 0..9"
    with pytest.raises(SourceError, match=message):
        open_idx(images, labels=labels, classes=classes, split="train")


def test_counts_must_agree(tmp_path: Path) -> None:
    images, _, classes = make_fake_idx(tmp_path, n=20)
    other = make_fake_idx(tmp_path / "other", n=12)[1]
    with pytest.raises(SourceError, match=r"holds 20 images but .* holds 12 labels"):
        open_idx(images, labels=other, classes=classes)


def test_magic_numbers_are_checked(tmp_path: Path) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=4)
    with pytest.raises(SourceError, match=r"magic 0x00000801 .* expected 0x00000803 or 0x00000804"):
        open_idx(labels)
    with pytest.raises(SourceError, match=r"magic 0x00000803 .* expected 0x00000801"):
        open_idx(images, labels=images, classes=classes)
    classes.write_bytes(b"\x08\x03\x00\x00" * 8)
    with pytest.raises(SourceError, match=r"is not an IDX file"):
        open_idx(classes)


def test_labels_need_classes_and_classes_need_labels(tmp_path: Path) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=4)
    with pytest.raises(SourceError, match=r"labels given without classes"):
        open_idx(images, labels=labels, classes=None)
    with pytest.raises(SourceError, match=r"classes given without labels"):
        open_idx(images, labels=None, classes=classes)


def test_truncated_raw_file(tmp_path: Path) -> None:
    images, _, _ = make_fake_idx(tmp_path, n=4, gz=False)
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(SourceError, match=r"the header says 4x28x28 pixels"):
        open_idx(images)


def test_missing_file_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot open .* check the path"):
        open_idx(tmp_path / "absent-idx3-ubyte")
    images, _, _ = make_fake_idx(tmp_path, n=2)
    with pytest.raises(SourceError, match=r"unknown split 'training'"):
        open_idx(images, split="training")
