"""The ilsvrc export, read back by synsetlab's own ILSVRC-2012 reader."""

from __future__ import annotations

import tarfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from synsetlab.export import export_version
from synsetlab.ingest.ilsvrc2012 import open_ilsvrc2012, parse_meta_mat
from synsetlab.ingest.records import never_skip
from synsetlab.manifest import Manifest
from tests.export.versions import (
    CLASSES,
    ILSVRC_ORDER,
    Seen,
    Version,
    box_tuples,
    distinct,
    expected,
    sha,
)

DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"


def _read_back(out: Path) -> Counter[Seen]:
    spec = open_ilsvrc2012(out, include_test=True)
    seen: Counter[Seen] = Counter()
    for item in spec.items(never_skip):
        assert item.error is None and item.data is not None, item.key
        seen[(sha(item.data), item.split or "", item.label, box_tuples(item.boxes))] += 1
    return seen


def _devkit_member(out: Path, name: str) -> bytes:
    with tarfile.open(out / DEVKIT) as tar:
        member = tar.extractfile(f"ILSVRC2012_devkit_t12/{name}")
        assert member is not None
        return member.read()


def test_round_trip_through_the_ilsvrc2012_reader(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "ilsvrc")
    # Same bytes (PNG and GIF too, under .JPEG names), labels, splits and boxes; test unlabelled.
    assert _read_back(tmp_path / "out") == expected(version)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ILSVRC2012_bbox_train_v2.tar.gz",
        "ILSVRC2012_bbox_val_v3.tgz",
        DEVKIT,
        "ILSVRC2012_img_test.tar",
        "ILSVRC2012_img_train.tar",
        "ILSVRC2012_img_val.tar",
        "classes.txt",
        "export.json",
    ]


def test_meta_mat_numbers_the_classes_in_the_chosen_order(version: Version, tmp_path: Path) -> None:
    for order, classes in (("sorted", CLASSES), ("ilsvrc", ILSVRC_ORDER)):
        out = tmp_path / order
        export_version(version.manifest, version.blobs, out, "ilsvrc", class_order=order)
        id_to_wnid, per_class = parse_meta_mat(_devkit_member(out, "data/meta.mat"))
        assert id_to_wnid == {i: wnid for i, wnid in enumerate(classes, start=1)}
        assert per_class == {CLASSES[0]: 2, CLASSES[1]: 2, CLASSES[2]: 2}  # copies once
        assert _read_back(out) == expected(version)  # val labels go through the IDs


def test_val_and_test_are_numbered_by_content_not_class(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "ilsvrc")
    with tarfile.open(tmp_path / "out" / "ILSVRC2012_img_test.tar") as tar:
        names = [(m.name, sha(tar.extractfile(m).read())) for m in tar.getmembers()]  # type: ignore[union-attr]
    hashes = sorted({e.sha256 for e in version.manifest.split("test")})
    assert names == [(f"ILSVRC2012_test_{i:08d}.JPEG", h) for i, h in enumerate(hashes, start=1)]
    ground_truth = _devkit_member(tmp_path / "out", "data/ILSVRC2012_validation_ground_truth.txt")
    assert len(ground_truth.split()) == 3


def test_hidden_test_labels_only_when_asked(version: Version, tmp_path: Path) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "hidden", "ilsvrc")
    with tarfile.open(tmp_path / "hidden" / DEVKIT) as tar:
        assert not any("test_ground_truth" in name for name in tar.getnames())
    export_version(
        version.manifest, version.blobs, tmp_path / "shown", "ilsvrc", include_hidden=True
    )
    truth = _devkit_member(tmp_path / "shown", "data/ILSVRC2012_test_ground_truth.txt").split()
    by_hash = sorted(distinct(version.manifest.split("test")), key=lambda e: e.sha256)
    assert [CLASSES[int(i) - 1] for i in truth] == [e.wnid for e in by_hash]


def test_a_version_without_val_writes_no_val_archive(version: Version, tmp_path: Path) -> None:
    manifest = Manifest(CLASSES, tuple(e for e in version.manifest.entries if e.split == "train"))
    export_version(manifest, version.blobs, tmp_path / "out", "ilsvrc")
    assert not (tmp_path / "out" / "ILSVRC2012_img_val.tar").exists()
    spec = open_ilsvrc2012(tmp_path / "out", splits=("train",))
    assert sum(1 for _ in spec.items(never_skip)) == 6


def test_workspace_classes_do_not_fit_the_layout(version: Version, tmp_path: Path) -> None:
    entries = tuple(
        replace(e, wnid="ceramic-mug", boxes=()) if e.wnid == CLASSES[0] else e
        for e in version.manifest.entries
    )
    manifest = Manifest(("ceramic-mug", *CLASSES[1:]), entries)
    for fmt in ("ilsvrc", "kaggle-loc"):
        with pytest.raises(ValueError, match=r"workspace classes.*'ceramic-mug'"):
            export_version(manifest, version.blobs, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()


def test_meta_mat_does_not_record_the_time_of_writing(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scipy writes the time into a MAT file's header: the same version must still give the
    same devkit bytes whenever it is exported."""
    devkits = []
    for when in ("Thu Jan  1 00:00:00 2026", "Fri Jan  2 00:00:01 2026"):
        monkeypatch.setattr("time.asctime", lambda when=when: when)
        out = tmp_path / when.replace(" ", "_").replace(":", "")
        export_version(version.manifest, version.blobs, out, "ilsvrc")
        devkits.append((out / DEVKIT).read_bytes())
    assert devkits[0] == devkits[1]
    id_to_wnid, _ = parse_meta_mat(_devkit_member(out, "data/meta.mat"))  # still a MAT file
    assert list(id_to_wnid.values()) == list(CLASSES)
