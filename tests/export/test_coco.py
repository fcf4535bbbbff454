"""The coco export, read back by pycocotools."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version, sha


def _coco(out: Path, split: str) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(str(out / "annotations" / f"instances_{split}.json"))


@pytest.mark.parametrize("short_side", [None, 30])
def test_pycocotools_reads_images_boxes_and_categories(
    version: Version, tmp_path: Path, short_side: int | None
) -> None:
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "coco", short_side=short_side)
    for split in ("train", "val"):
        coco = _coco(out, split)
        cats = coco.loadCats(coco.getCatIds())
        assert [(c["id"], c["name"]) for c in cats] == [(i + 1, w) for i, w in enumerate(CLASSES)]
        assert len(coco.getImgIds()) == len(version.manifest.split(split))  # boxed or not
        for image in coco.loadImgs(coco.getImgIds()):
            data = (out / split / image["file_name"]).read_bytes()
            entry = version.entry(image["file_name"][:64])
            if short_side is None and entry.format == "JPEG":
                assert sha(data) == entry.sha256
            assert CLASSES[image["category_id"] - 1] == entry.wnid
            sx, sy = image["width"] / entry.width, image["height"] / entry.height
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
            want = sorted(
                (b.wnid, b.xmin * sx, b.ymin * sy, (b.xmax - b.xmin) * sx, (b.ymax - b.ymin) * sy)
                for b in entry.boxes
            )
            got = sorted((CLASSES[a["category_id"] - 1], *a["bbox"]) for a in anns)
            assert [g[0] for g in got] == [w[0] for w in want]
            assert [g[1:] for g in got] == [pytest.approx(w[1:]) for w in want]
            assert all(a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3]) for a in anns)


def test_hidden_test_images_are_listed_without_labels(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "coco")
    coco = _coco(tmp_path / "out", "test")
    images = coco.loadImgs(coco.getImgIds())
    assert len(images) == 2 and all("category_id" not in image for image in images)
    assert coco.getAnnIds() == []  # the hidden fox's box stays hidden too
    export_version(version.manifest, version.blobs, tmp_path / "shown", "coco", include_hidden=True)
    assert len(_coco(tmp_path / "shown", "test").getAnnIds()) == 1
