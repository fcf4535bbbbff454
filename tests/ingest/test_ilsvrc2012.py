"""The ILSVRC-2012 reader on fake downloads in the real layout."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from synsetlab.ingest import ilsvrc2012
from synsetlab.ingest.ilsvrc2012 import open_ilsvrc2012
from synsetlab.ingest.records import SourceError
from tests.ingest.fakes import (
    DEFAULT_WNIDS,
    Expected,
    check_items,
    list_items,
    make_fake_ilsvrc2012,
    tar_bytes,
    write_tar,
)

VAL = "ILSVRC2012_img_val.tar"
TRAIN = "ILSVRC2012_img_train.tar"


def _only(expected: dict[str, Expected], *splits: str) -> dict[str, Expected]:
    return {k: e for k, e in expected.items() if e.split in splits}


def test_lists_train_and_val_with_labels_boxes_and_total(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path)
    spec = open_ilsvrc2012(tmp_path)
    check_items(list_items(spec), expected)
    assert (spec.kind, spec.uri, spec.label_state) == ("ilsvrc2012", str(tmp_path), "verified")
    assert spec.total == len(expected) == 4 * 3 + 6
    assert spec.options == {}
    assert any(len(e.boxes) == 2 for e in expected.values())


def test_val_labels_map_ground_truth_ids_through_meta_mat(tmp_path: Path) -> None:
    # IDs 1, 490, 449, 386: devkit order, unlike the sorted wnids (n01440764 first).
    make_fake_ilsvrc2012(tmp_path)
    items = list_items(open_ilsvrc2012(tmp_path, splits=("val",)))
    labels = [items[f"{VAL}/ILSVRC2012_val_{i:08d}.JPEG"].label for i in range(1, 7)]
    assert labels == [*DEFAULT_WNIDS, *DEFAULT_WNIDS[:2]]
    assert labels[0] == "n02119789" != sorted(DEFAULT_WNIDS)[0]


def test_reads_an_extracted_devkit_folder(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, devkit="folder", with_boxes=False)
    spec = open_ilsvrc2012(tmp_path)
    check_items(list_items(spec), expected)


def test_train_alone_needs_no_devkit(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, devkit="none")
    spec = open_ilsvrc2012(tmp_path, splits=("train",))
    check_items(list_items(spec), _only(expected, "train"))
    assert spec.total is None  # meta.mat's num_train_images is the cheap count


@pytest.mark.parametrize("name", ["ILSVRC2012_img_test_v10102019.tar", "ILSVRC2012_img_test.tar"])
def test_test_split_is_unlabelled(tmp_path: Path, name: str) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, test=3)
    (tmp_path / "ILSVRC2012_img_test_v10102019.tar").rename(tmp_path / name)
    spec = open_ilsvrc2012(tmp_path, splits=(), include_test=True)
    want = {k.replace("ILSVRC2012_img_test_v10102019.tar", name): e for k, e in expected.items()}
    check_items(list_items(spec), _only(want, "test"))
    assert spec.total == 3


def test_skipped_keys_are_neither_listed_nor_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = make_fake_ilsvrc2012(tmp_path)
    spec = open_ilsvrc2012(tmp_path)  # reads the devkit and the boxes
    done = {k for k in expected if "n02119789" in k or k.endswith("_00000003.JPEG")}
    reads: list[str] = []
    real_read = ilsvrc2012.read_member

    def counting_read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
        reads.append(info.name)
        return real_read(tar, info)

    monkeypatch.setattr(ilsvrc2012, "read_member", counting_read)
    items = list_items(spec, skip=done.__contains__)
    assert sorted(items) == sorted(set(expected) - done)
    assert len(reads) == len(items)


def test_corrupt_inner_tar_and_cut_member_become_error_items(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, corrupt_member=True)
    items = list_items(open_ilsvrc2012(tmp_path))
    check_items(items, expected)  # val, after the damaged train archives, is listed whole
    errors = {k: i.error for k, i in items.items() if i.error}
    assert len(errors) == 3
    assert all(e.startswith("unreadable archive member: ") for e in errors.values())
    assert f"{TRAIN}/{DEFAULT_WNIDS[-1]}.tar" in errors
    assert any(k.startswith(f"{TRAIN}/{DEFAULT_WNIDS[0]}.tar@") for k in errors)


def test_error_keys_are_stable_across_runs(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path, corrupt_member=True)
    runs = [list(open_ilsvrc2012(tmp_path).items(lambda _: False)) for _ in range(2)]
    assert [i.key for i in runs[0]] == [i.key for i in runs[1]]


def test_truncated_val_archive_reports_the_cut_member_and_the_rest(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, with_boxes=False)
    path = tmp_path / VAL
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    path.write_bytes(path.read_bytes()[: last.offset_data + last.size // 2])

    items = list_items(open_ilsvrc2012(tmp_path, splits=("val",)))
    want = _only(expected, "val")
    want[f"{VAL}/{last.name}"] = Expected(None, None, error=True)
    padded = -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    want[f"{VAL}@{last.offset_data + padded}"] = Expected(None, None, error=True)
    check_items(items, want)


def test_bad_header_in_val_archive_ends_it_with_an_error_item(tmp_path: Path) -> None:
    expected = make_fake_ilsvrc2012(tmp_path, with_boxes=False)
    path = tmp_path / VAL
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    data = bytearray(path.read_bytes())
    bad = members[2].offset
    data[bad : bad + tarfile.BLOCKSIZE] = b"\xff" * tarfile.BLOCKSIZE
    path.write_bytes(bytes(data))

    # The ground truth has more lines than the damaged archive lists: no SourceError.
    items = list_items(open_ilsvrc2012(tmp_path, splits=("val",)))
    want = {f"{VAL}/{m.name}": expected[f"{VAL}/{m.name}"] for m in members[:2]}
    want[f"{VAL}@{bad}"] = Expected(None, None, error=True)
    check_items(items, want)
    assert "invalid member header" in (items[f"{VAL}@{bad}"].error or "")


def _rewrite_ground_truth(root: Path, text: str) -> None:
    path = root / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
    path.write_text(text)


@pytest.mark.parametrize(
    ("splits", "remove", "message"),
    [
        (("train",), TRAIN, "ILSVRC2012_img_train.tar not found in"),
        (("val",), VAL, "ILSVRC2012_img_val.tar not found in"),
        (("val",), "ILSVRC2012_devkit_t12.tar.gz", "or ingest only --split train"),
        (("train", "val"), "ILSVRC2012_devkit_t12.tar.gz", "put ILSVRC2012_devkit_t12.tar.gz"),
    ],
)
def test_missing_files_are_named(
    tmp_path: Path, splits: tuple[str, ...], remove: str, message: str
) -> None:
    make_fake_ilsvrc2012(tmp_path)
    (tmp_path / remove).unlink()
    with pytest.raises(SourceError, match=message):
        open_ilsvrc2012(tmp_path, splits=splits)


def test_missing_test_archive_names_both_names(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path)
    with pytest.raises(SourceError, match=r"ILSVRC2012_img_test_v10102019.tar or ILSVRC2012_img"):
        open_ilsvrc2012(tmp_path, include_test=True)


def test_ground_truth_must_match_the_val_images(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path, devkit="folder")
    _rewrite_ground_truth(tmp_path, "1\n490\n449\n386\n1\n490\n449\n")
    with pytest.raises(SourceError, match=r"has 7 lines but .* holds 6 images"):
        open_ilsvrc2012(tmp_path)
    _rewrite_ground_truth(tmp_path, "1\n490\n449\n386\n1\n")
    with pytest.raises(SourceError, match=r"not one of ILSVRC2012_val_00000001.JPEG"):
        open_ilsvrc2012(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n490\n1001\n386\n1\n490\n", "line 3 .* ILSVRC2012_ID 1001, which is not a class"),
        ("1\n490\nn01440764\n386\n1\n490\n", "line 3 .* not an ILSVRC2012_ID"),
    ],
)
def test_ground_truth_ids_must_be_leaf_classes(tmp_path: Path, text: str, message: str) -> None:
    make_fake_ilsvrc2012(tmp_path, devkit="folder")
    _rewrite_ground_truth(tmp_path, text)
    with pytest.raises(SourceError, match=message):
        open_ilsvrc2012(tmp_path)


def test_unreadable_meta_mat(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path, devkit="folder")
    (tmp_path / "ILSVRC2012_devkit_t12/data/meta.mat").write_bytes(b"not a mat file" * 20)
    with pytest.raises(SourceError, match=r"meta.mat is not a readable MATLAB file"):
        open_ilsvrc2012(tmp_path)


def test_devkit_archive_without_meta_mat(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path)
    write_tar(tmp_path / "ILSVRC2012_devkit_t12.tar.gz", [("ILSVRC2012_devkit_t12/x", b"")])
    with pytest.raises(SourceError, match=r"lacks ILSVRC2012_devkit_t12/data/meta.mat"):
        open_ilsvrc2012(tmp_path)


def test_train_archive_must_hold_class_archives(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path)
    write_tar(tmp_path / TRAIN, [("n01440764_1.JPEG", b"x"), ("n01440764.tar", tar_bytes([]))])
    with pytest.raises(SourceError, match=r"not a <wnid>.tar class archive"):
        open_ilsvrc2012(tmp_path, splits=("train",))


def test_damaged_box_archive_is_a_source_error(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path)
    path = tmp_path / "ILSVRC2012_bbox_val_v3.tgz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(SourceError, match=r"move it out of .* to ingest without its boxes"):
        open_ilsvrc2012(tmp_path, splits=("val",))


def test_bad_box_xml_is_a_source_error(tmp_path: Path) -> None:
    make_fake_ilsvrc2012(tmp_path)
    write_tar(tmp_path / "ILSVRC2012_bbox_val_v3.tgz", [("val/ILSVRC2012_val_1.xml", b"<a>")])
    with pytest.raises(SourceError, match=r"ILSVRC2012_val_1.xml is not a box file"):
        open_ilsvrc2012(tmp_path, splits=("val",))


@pytest.mark.parametrize(
    ("splits", "message"), [(("train", "dev"), "unknown split"), ((), "no split asked for")]
)
def test_bad_splits(tmp_path: Path, splits: tuple[str, ...], message: str) -> None:
    make_fake_ilsvrc2012(tmp_path)
    with pytest.raises(SourceError, match=message):
        open_ilsvrc2012(tmp_path, splits=splits)


def test_root_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"is not a folder"):
        open_ilsvrc2012(tmp_path / "nowhere")


def test_members_are_read_from_archives_one_at_a_time(tmp_path: Path) -> None:
    # The inner tars are opened on the outer tar's file, not copied into memory.
    make_fake_ilsvrc2012(tmp_path)
    with tarfile.open(tmp_path / TRAIN) as outer:
        info = outer.getmembers()[0]
        inner = ilsvrc2012._open_inner_tar(outer, info)
        assert not isinstance(inner.fileobj, io.BytesIO)
        assert inner.fileobj.seekable()
        inner.close()
