"""The imagefolder export, read back by torchvision's ImageFolder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from synsetlab.export import export_version
from tests.export.versions import CLASSES, FOX, Version, distinct, sha


def _read(folder: Path, **kw: object) -> tuple[dict[str, int], Counter[tuple[str, str]]]:
    """ImageFolder's class index and its (sha256 named by the file, wnid) samples."""
    dataset = ImageFolder(str(folder), **kw)
    seen = Counter((Path(path).stem[:64], CLASSES[index]) for path, index in dataset.samples)
    return dataset.class_to_idx, seen


def test_imagefolder_reads_the_class_index_and_labels(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "imagefolder")
    class_to_idx, seen = _read(tmp_path / "out" / "train")
    assert class_to_idx == {wnid: i for i, wnid in enumerate(CLASSES)}
    assert seen == Counter((e.sha256, e.wnid) for e in distinct(version.manifest.split("train")))
    # Stored bytes under their sha256, but the GIF, which ImageFolder would skip, is a PNG now.
    for path, _ in ImageFolder(str(tmp_path / "out" / "train")).samples:
        entry = version.entry(Path(path).stem[:64])
        if entry.format == "GIF":
            assert Path(path).suffix == ".png" and Image.open(path).size == (36, 36)
        else:
            assert sha(Path(path).read_bytes()) == entry.sha256


def test_a_split_lacking_a_class_keeps_the_index_with_an_empty_folder(
    version: Version, tmp_path: Path
) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "imagefolder")
    val = tmp_path / "out" / "val"
    assert list((val / FOX).iterdir()) == []  # val has no kit fox
    with pytest.raises(FileNotFoundError, match="no valid file"):
        ImageFolder(str(val))  # torchvision refuses empty class folders by default...
    class_to_idx, seen = _read(val, allow_empty=True)  # ...and keeps the index with allow_empty
    assert class_to_idx == {wnid: i for i, wnid in enumerate(CLASSES)}
    assert seen == Counter((e.sha256, e.wnid) for e in version.manifest.split("val"))


def test_hidden_test_images_sit_outside_class_folders(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "imagefolder")
    files = sorted((tmp_path / "out" / "test").iterdir())
    assert all(p.is_file() for p in files)
    # One file per ImageId: the image there twice is written once, named by its sha256 alone
    # (a second copy named <sha256>_1 was an unknown image id to the challenge).
    test = {e.sha256 for e in version.manifest.split("test")}
    assert len(test) == 2 and len(version.manifest.split("test")) == 3
    assert sorted(p.name for p in files) == sorted(f"{digest}.jpg" for digest in test)


def test_hidden_labels_are_exported_when_asked(version: Version, tmp_path: Path) -> None:
    export_version(
        version.manifest, version.blobs, tmp_path / "out", "imagefolder", include_hidden=True
    )
    _, seen = _read(tmp_path / "out" / "test", allow_empty=True)
    assert seen == Counter((e.sha256, e.wnid) for e in distinct(version.manifest.split("test")))


def test_short_side_resizes_to_jpeg(version: Version, tmp_path: Path) -> None:
    report = export_version(
        version.manifest, version.blobs, tmp_path / "out", "imagefolder", short_side=20
    )
    dataset = ImageFolder(str(tmp_path / "out" / "train"))
    assert {min(dataset.loader(path).size) for path, _ in dataset.samples} == {20}
    assert {Path(path).suffix for path, _ in dataset.samples} == {".jpg"}
    assert report.reencoded == 11  # every content of every split, once


def test_only_the_sorted_class_order(version: Version, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sorted order, as torchvision's ImageFolder"):
        export_version(
            version.manifest, version.blobs, tmp_path / "out", "imagefolder", class_order="ilsvrc"
        )
