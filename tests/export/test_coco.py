"""The coco export, read back by pycocotools."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version, distinct, sha


def _coco(out: Path, split: str, kind: str = "instances") -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(str(out / "annotations" / f"{kind}_{split}.json"))


def _classes_txt(out: Path) -> dict[int, str]:
    """index -> wnid, as classes.txt numbers the classes."""
    lines = (out / "classes.txt").read_text().splitlines()
    return {int(index): wnid for index, wnid, *_ in (line.split(" ") for line in lines)}


@pytest.mark.parametrize("short_side", [None, 30])
def test_pycocotools_reads_images_boxes_and_categories(
    version: Version, tmp_path: Path, short_side: int | None
) -> None:
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "coco", short_side=short_side)
    for split in ("train", "val"):
        coco = _coco(out, split)
        cats = coco.loadCats(coco.getCatIds())
        assert [(c["id"], c["name"]) for c in cats] == list(_classes_txt(out).items())
        written = distinct(version.manifest.split(split))
        assert len(coco.getImgIds()) == len(written)  # boxed or not, each content once
        for image in coco.loadImgs(coco.getImgIds()):
            data = (out / split / image["file_name"]).read_bytes()
            entry = version.entry(image["file_name"][:64])
            if short_side is None and entry.format == "JPEG":
                assert sha(data) == entry.sha256
            assert "category_id" not in image  # the class is an annotation of labels_*.json
            sx, sy = image["width"] / entry.width, image["height"] / entry.height
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
            want = sorted(
                (b.wnid, b.xmin * sx, b.ymin * sy, (b.xmax - b.xmin) * sx, (b.ymax - b.ymin) * sy)
                for b in entry.boxes
            )
            got = sorted((CLASSES[a["category_id"]], *a["bbox"]) for a in anns)
            assert [g[0] for g in got] == [w[0] for w in want]
            assert [g[1:] for g in got] == [pytest.approx(w[1:]) for w in want]
            assert all(a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3]) for a in anns)


def test_pycocotools_finds_the_images_of_a_class(version: Version, tmp_path: Path) -> None:
    """labels_<split>.json gives each labelled image its class as an annotation, so
    ``getImgIds(catIds=...)`` finds the images of a class, boxed or not; category ids are
    the 0-based indices of classes.txt."""
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "coco")
    classes = _classes_txt(out)
    for split in ("train", "val"):
        labels = _coco(out, split, "labels")
        assert [(c["id"], c["name"]) for c in labels.loadCats(labels.getCatIds())] == list(
            classes.items()
        )
        assert labels.getImgIds() == _coco(out, split).getImgIds()  # the same images, ids
        written = distinct(version.manifest.split(split))
        assert len(labels.getAnnIds()) == len(written)  # one annotation per image
        for index, wnid in classes.items():
            found = labels.loadImgs(labels.getImgIds(catIds=[index]))
            want = sorted(e.sha256 for e in written if e.wnid == wnid)
            assert sorted(image["file_name"][:64] for image in found) == want
        for ann in labels.loadAnns(labels.getAnnIds()):
            assert set(ann) == {"id", "image_id", "category_id"}  # no geometry to trip on


def test_hidden_test_images_are_listed_without_labels(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "coco")
    for kind in ("instances", "labels"):
        coco = _coco(tmp_path / "out", "test", kind)
        images = coco.loadImgs(coco.getImgIds())
        assert len(images) == 2  # three entries, two contents
        assert coco.getAnnIds() == []  # neither the hidden classes nor the fox's box
    export_version(version.manifest, version.blobs, tmp_path / "shown", "coco", include_hidden=True)
    assert len(_coco(tmp_path / "shown", "test").getAnnIds()) == 1
    assert len(_coco(tmp_path / "shown", "test", "labels").getAnnIds()) == 2


def test_cocoeval_scores_the_boxes_with_category_zero(version: Version, tmp_path: Path) -> None:
    """Category 0 (the first class of classes.txt) is a class like any other to COCOeval:
    the ground truth given back as detections scores AP 1."""
    from pycocotools.cocoeval import COCOeval

    export_version(version.manifest, version.blobs, tmp_path / "out", "coco")
    gt = _coco(tmp_path / "out", "val")
    assert 0 in {a["category_id"] for a in gt.loadAnns(gt.getAnnIds())}
    detections = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1}
        for a in gt.loadAnns(gt.getAnnIds())
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(gt, gt.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
