"""The Kaggle ImageNet Object Localization reader on fake downloads in the real layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synsetlab.ingest.kaggle_loc import open_kaggle_loc
from synsetlab.ingest.records import SourceError
from tests.ingest.fakes import (
    DEFAULT_WNIDS,
    Expected,
    check_items,
    list_items,
    make_fake_kaggle_loc,
)

VAL_DIR = "ILSVRC/Data/CLS-LOC/val"


def _only(expected: dict[str, Expected], *splits: str) -> dict[str, Expected]:
    return {k: e for k, e in expected.items() if e.split in splits}


def test_lists_every_split_with_labels_boxes_and_total(tmp_path: Path) -> None:
    expected = make_fake_kaggle_loc(tmp_path)
    spec = open_kaggle_loc(tmp_path, include_test=True)
    items = list_items(spec)
    check_items(items, expected)
    assert (spec.kind, spec.uri, spec.label_state) == ("kaggle-loc", str(tmp_path), "verified")
    assert spec.total == len(expected) == 4 * 3 + 5 + 2
    assert spec.options == {}
    assert all(Path(i.path or "").is_absolute() and i.data is None for i in items.values())


def test_train_boxes_only_where_the_csv_has_them(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    items = list_items(open_kaggle_loc(tmp_path, splits=("train",)))
    with_boxes = sorted(k.rsplit("/", 1)[1] for k, i in items.items() if i.boxes)
    assert with_boxes == sorted(f"{w}_10000.JPEG" for w in DEFAULT_WNIDS)
    assert {i.label for i in items.values()} == set(DEFAULT_WNIDS)


def test_val_label_is_the_first_box_and_boxes_keep_their_wnids(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    item = list_items(open_kaggle_loc(tmp_path, splits=("val",)))[
        f"{VAL_DIR}/ILSVRC2012_val_00000002.JPEG"
    ]
    assert item.label == DEFAULT_WNIDS[1]
    assert [b.wnid for b in item.boxes] == [DEFAULT_WNIDS[1], DEFAULT_WNIDS[-1]]


@pytest.mark.parametrize("splits", [("train",), ("val",)])
def test_one_split(tmp_path: Path, splits: tuple[str, ...]) -> None:
    expected = make_fake_kaggle_loc(tmp_path)
    spec = open_kaggle_loc(tmp_path, splits=splits)
    check_items(list_items(spec), _only(expected, *splits))
    assert spec.total == len(_only(expected, *splits))


def test_skipped_keys_are_not_listed(tmp_path: Path) -> None:
    expected = make_fake_kaggle_loc(tmp_path)
    done = {k for k in expected if "/n01440764/" in k or "val_0000000" in k}
    items = list_items(open_kaggle_loc(tmp_path, include_test=True), skip=done.__contains__)
    assert sorted(items) == sorted(set(expected) - done)


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    expected = make_fake_kaggle_loc(tmp_path)
    (tmp_path / VAL_DIR / "._ILSVRC2012_val_00000001.JPEG").write_bytes(b"macOS metadata")
    check_items(list_items(open_kaggle_loc(tmp_path, splits=("val",))), _only(expected, "val"))


@pytest.mark.parametrize(
    ("remove", "splits", "message"),
    [
        ("ILSVRC/Data/CLS-LOC", ("train",), "where the Kaggle download .* was unzipped"),
        ("LOC_synset_mapping.txt", ("train",), "LOC_synset_mapping.txt .* restore it"),
        ("LOC_train_solution.csv", ("train",), "LOC_train_solution.csv .* restore it"),
        ("LOC_val_solution.csv", ("val",), "LOC_val_solution.csv .* restore it"),
        ("ILSVRC/Data/CLS-LOC/test", ("train",), "the test images should be there"),
    ],
)
def test_missing_files_are_named(
    tmp_path: Path, remove: str, splits: tuple[str, ...], message: str
) -> None:
    make_fake_kaggle_loc(tmp_path)
    path = tmp_path / remove
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(SourceError, match=message):
        open_kaggle_loc(tmp_path, splits=splits, include_test=True)


def test_val_image_without_a_row_is_a_source_error(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    (tmp_path / VAL_DIR / "ILSVRC2012_val_00000099.JPEG").write_bytes(b"")
    with pytest.raises(SourceError, match=r"1 val image.*ILSVRC2012_val_00000099.JPEG.* no label"):
        open_kaggle_loc(tmp_path, splits=("val",))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ILSVRC2012_val_00000001,n01440764 1 2 3", "is not groups of 'wnid xmin ymin xmax ymax'"),
        ("ILSVRC2012_val_00000001,n01440764 1 2 x 4", "has a non-numeric corner"),
        ("ILSVRC2012_val_00000001,n09999999 1 2 3 4", "'n09999999' is not a class"),
        ("ILSVRC2012_val_00000001", "line 2: expected ImageId,PredictionString"),
    ],
)
def test_bad_solution_rows(tmp_path: Path, row: str, message: str) -> None:
    make_fake_kaggle_loc(tmp_path)
    (tmp_path / "LOC_val_solution.csv").write_text(f"ImageId,PredictionString\n{row}\n")
    with pytest.raises(SourceError, match=message):
        open_kaggle_loc(tmp_path, splits=("val",))


def test_solution_needs_its_header(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    (tmp_path / "LOC_val_solution.csv").write_text("ILSVRC2012_val_00000001,n01440764 1 2 3 4\n")
    with pytest.raises(SourceError, match=r"does not start with the header"):
        open_kaggle_loc(tmp_path, splits=("val",))


def test_train_folders_must_be_classes(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    (tmp_path / "ILSVRC/Data/CLS-LOC/train/cats").mkdir()
    with pytest.raises(SourceError, match=r"cats is not a class of LOC_synset_mapping.txt"):
        open_kaggle_loc(tmp_path, splits=("train",))


def test_synset_mapping_lines_start_with_a_wnid(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    (tmp_path / "LOC_synset_mapping.txt").write_text("n01440764 tench\ntench n01440764\n")
    with pytest.raises(SourceError, match=r"line 2: 'tench n01440764' does not start with a wnid"):
        open_kaggle_loc(tmp_path)


def test_unknown_split(tmp_path: Path) -> None:
    make_fake_kaggle_loc(tmp_path)
    with pytest.raises(SourceError, match=r"unknown split"):
        open_kaggle_loc(tmp_path, splits=("holdout",))
