"""The parquet export, read back by Hugging Face datasets."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version


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
            (e.sha256, CLASSES.index(e.wnid), e.wnid) for e in version.manifest.split(split)
        )
        assert got == want
    for row in ds["train"]:
        assert row["image"].size == (row["width"], row["height"])


def test_hidden_test_labels_are_minus_one(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "parquet")
    test = _load(tmp_path / "out", tmp_path)["test"]
    assert test["label"] == [-1, -1] and test["wnid"] == [None, None]
    assert test["sha256"] == sorted(e.sha256 for e in version.manifest.split("test"))


def test_row_groups_are_bounded(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synsetlab.export import parquet

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 2)
    export_version(version.manifest, version.blobs, tmp_path / "out", "parquet")
    meta = pq.ParquetFile(tmp_path / "out" / "data" / "train-00000-of-00001.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2, 2, 2, 1]
