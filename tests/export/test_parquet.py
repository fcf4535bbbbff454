"""The parquet export, read back by Hugging Face datasets."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version, distinct


def _load(out: Path, tmp_path: Path) -> datasets.DatasetDict:
    files = {split: str(out / "data" / f"{split}-*.parquet") for split in ("train", "val", "test")}
    return datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf-cache"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_load_dataset_reads_images_labels_and_class_names(version: Version, tmp_path: Path) -> None:
    report = export_version(
        version.manifest, version.blobs, tmp_path / "out", "parquet", shard_size=4
    )
    assert report.details["files"]["train"] == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    ds = _load(tmp_path / "out", tmp_path)
    assert ds["train"].features["label"].names == list(CLASSES)
    assert isinstance(ds["train"][0]["image"], Image.Image)
    for split in ("train", "val"):
        rows = ds[split]
        got = sorted(zip(rows["sha256"], rows["label"], rows["wnid"], strict=True))
        want = sorted(
            (e.sha256, CLASSES.index(e.wnid), e.wnid)
            for e in distinct(version.manifest.split(split))
        )
        assert got == want
    for row in ds["train"]:
        assert row["image"].size == (row["width"], row["height"])


def test_hidden_test_labels_are_minus_one(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "parquet")
    test = _load(tmp_path / "out", tmp_path)["test"]
    assert test["label"] == [-1, -1] and test["wnid"] == [None, None]
    assert test["sha256"] == sorted({e.sha256 for e in version.manifest.split("test")})


def test_row_groups_are_bounded(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synsetlab.export import parquet

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 2)
    export_version(version.manifest, version.blobs, tmp_path / "out", "parquet")
    meta = pq.ParquetFile(tmp_path / "out" / "data" / "train-00000-of-00001.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2, 2, 2]


@pytest.mark.parametrize("short_side", [None, 20])
def test_boxes_come_back_as_coco_objects(
    version: Version, tmp_path: Path, short_side: int | None
) -> None:
    export_version(
        version.manifest, version.blobs, tmp_path / "out", "parquet", short_side=short_side
    )
    ds = _load(tmp_path / "out", tmp_path)
    category = ds["train"].features["objects"]["category"].feature
    assert category.names == list(CLASSES)
    by_sha = {e.sha256: e for e in version.manifest.entries}
    seen_boxes = 0
    for split in ("train", "val", "test"):
        for row in ds[split]:
            entry, objects = by_sha[row["sha256"]], row["objects"]
            if entry.hidden:
                assert objects == {"bbox": [], "category": []}
                continue
            sx, sy = row["width"] / entry.width, row["height"] / entry.height
            xywh = [(b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin) for b in entry.boxes]
            want = sorted(
                (
                    CLASSES.index(b.wnid),
                    *(round(v * s, 2) for v, s in zip(box, (sx, sy) * 2, strict=True)),
                )
                for b, box in zip(entry.boxes, xywh, strict=True)
            )
            got = sorted(
                (c, *(round(v, 2) for v in box))
                for c, box in zip(objects["category"], objects["bbox"], strict=True)
            )
            assert got == want
            seen_boxes += len(got)
    assert seen_boxes > 0
    assert any(b for e in version.manifest.split("test") for b in e.boxes)  # one must not leak
