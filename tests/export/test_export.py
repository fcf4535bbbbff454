"""What every export format shares: the registry, refusals, atomic output, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synsetlab.blobs import BlobStore
from synsetlab.errors import UserError
from synsetlab.export import EXPORTERS, ExportError, OutputExistsError, export_version
from synsetlab.manifest import Manifest, ManifestBox
from tests.export.versions import CLASSES, FOX, TENCH, Version

FORMATS = sorted(EXPORTERS)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _broken(version: Version, tmp_path: Path) -> Version:
    """The version with its last image's blob missing from a copy of the store."""
    store = BlobStore(str(tmp_path / "broken-blobs"))
    for e in version.manifest.entries[:-1]:
        store.put(version.blobs.get(e.sha256))
    return Version(version.manifest, store)


def test_registry_holds_the_six_formats() -> None:
    assert FORMATS == ["coco", "ilsvrc", "imagefolder", "kaggle-loc", "parquet", "webdataset"]
    assert all(name == exporter.name and exporter.summary for name, exporter in EXPORTERS.items())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_classes_and_its_record(
    version: Version, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    report = export_version(version.manifest, version.blobs, out, fmt)
    assert report.out_dir == out and report.format == fmt
    # Each content once a split: the train duplicate and the test one are written once.
    assert report.images == {"train": 6, "val": 3, "test": 2}
    assert report.labelled == {"train": 6, "val": 3, "test": 0}
    assert report.merged == 2
    lines = (out / "classes.txt").read_text().splitlines()
    assert lines == ["0 n01440764 tench", "1 n01530575 brambling", "2 n02119789 kit fox"]
    record = json.loads((out / "export.json").read_text())
    assert record["format"] == fmt and record["version"] == report.version
    assert record["classes"] == list(CLASSES) and record["options"]["include_hidden"] is False
    assert record["merged"] == 2 and record["options"]["encoding"] == "stored"
    assert report.bytes_written == sum(len(b) for b in _files(out).values())
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_version_same_bytes(version: Version, tmp_path: Path, fmt: str) -> None:
    first = export_version(version.manifest, version.blobs, tmp_path / "a", fmt)
    second = export_version(version.manifest, version.blobs, tmp_path / "b", fmt)
    assert _files(first.out_dir) == _files(second.out_dir)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failure_midway_leaves_nothing(version: Version, tmp_path: Path, fmt: str) -> None:
    broken = _broken(version, tmp_path)
    out = tmp_path / "exports" / "out"
    with pytest.raises(FileNotFoundError, match="missing from the blob store"):
        export_version(broken.manifest, broken.blobs, out, fmt)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no .partial- folder either


def test_refuses_a_folder_that_is_not_empty(version: Version, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"not empty.*force"):
        export_version(version.manifest, version.blobs, out, "imagefolder")
    # force replaces only an earlier export, never a folder of other files.
    with pytest.raises(OutputExistsError, match="not a synsetlab export"):
        export_version(version.manifest, version.blobs, out, "imagefolder", force=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_folder_is_used(version: Version, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    export_version(version.manifest, version.blobs, tmp_path / "out", "coco")
    assert (tmp_path / "out" / "annotations" / "instances_train.json").is_file()


def test_force_replaces_an_earlier_export(version: Version, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "imagefolder")
    with pytest.raises(OutputExistsError):
        export_version(version.manifest, version.blobs, out, "coco")
    export_version(version.manifest, version.blobs, out, "coco", force=True)
    assert json.loads((out / "export.json").read_text())["format"] == "coco"
    assert not (out / "train" / CLASSES[0]).exists()  # nothing of the old export is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "out"]


def test_a_failed_forced_export_keeps_the_earlier_one(version: Version, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "imagefolder")
    before = _files(out)
    broken = _broken(version, tmp_path)
    with pytest.raises(FileNotFoundError):
        export_version(broken.manifest, broken.blobs, out, "webdataset", force=True)
    assert _files(out) == before


def test_unknown_format_lists_the_formats(version: Version, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"unknown export format 'tfrecord'.*imagefolder"):
        export_version(version.manifest, version.blobs, tmp_path / "out", "tfrecord")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"short_side": 0}, "short_side"),
        ({"shard_size": 0}, "shard_size"),
        ({"class_order": "by-size"}, "unknown class_order 'by-size'"),
        ({"workers": -1}, "workers"),
    ],
)
def test_bad_options_are_refused(
    version: Version, tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(ExportError, match=message) as error:
        export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset", **options)
    assert isinstance(error.value, UserError)  # the CLI prints it as one line


def test_ilsvrc_order_needs_ilsvrc_classes(version: Version, tmp_path: Path) -> None:
    entries = tuple(
        replace(e, wnid="n00015388") if e.split == "test" else e for e in version.manifest.entries
    )
    manifest = Manifest(classes=(*CLASSES, "n00015388"), entries=entries)
    with pytest.raises(ExportError, match=r"not ILSVRC-2012 classes.*n00015388"):
        export_version(manifest, version.blobs, tmp_path / "out", "parquet", class_order="ilsvrc")


def test_workers_give_the_same_export(version: Version, tmp_path: Path) -> None:
    inline = export_version(
        version.manifest, version.blobs, tmp_path / "a", "webdataset", short_side=24
    )
    pooled = export_version(
        version.manifest, version.blobs, tmp_path / "b", "webdataset", short_side=24, workers=2
    )
    assert _files(inline.out_dir) == _files(pooled.out_dir)
    assert inline.reencoded == pooled.reencoded == 11  # every image written, resized


def test_boxes_of_classes_outside_the_version_are_left_out_with_a_warning(
    version: Version, tmp_path: Path
) -> None:
    first = version.manifest.entries[0]
    stray = replace(first, boxes=(*first.boxes, replace(first.boxes[0], wnid="n00015388")))
    manifest = Manifest(classes=CLASSES, entries=(stray, *version.manifest.entries[1:]))
    report = export_version(manifest, version.blobs, tmp_path / "out", "coco")
    assert any("1 box(es) name a class outside the version" in w for w in report.warnings)


def test_a_manifest_labelling_outside_its_classes_is_refused(
    version: Version, tmp_path: Path
) -> None:
    manifest = Manifest(classes=CLASSES[:2], entries=version.manifest.entries)
    with pytest.raises(ExportError, match=r"missing from its class list \(e.g. n02119789\)"):
        export_version(manifest, version.blobs, tmp_path / "out", "coco")


def test_copies_of_one_content_under_two_classes_are_both_written_with_a_warning(
    version: Version, tmp_path: Path
) -> None:
    """A single-label layout cannot hold both classes of one file, and dropping one would hide
    the conflict: each class's copy is written, and the report says so."""
    entries = tuple(
        replace(e, wnid=FOX) if e.image_id == 103 else e for e in version.manifest.entries
    )  # 103 is the copy of 102, a tench
    out = tmp_path / "out"
    report = export_version(Manifest(CLASSES, entries), version.blobs, out, "imagefolder")
    assert report.images == {"train": 7, "val": 3, "test": 2} and report.merged == 1
    assert any("filed under two or more classes" in w for w in report.warnings)
    digest = version.entry(next(e.sha256 for e in entries if e.image_id == 103)).sha256
    assert (out / "train" / TENCH / f"{digest}.jpg").is_file()
    assert (out / "train" / FOX / f"{digest}_1.jpg").is_file()


def test_copies_of_one_content_give_it_all_their_boxes(version: Version, tmp_path: Path) -> None:
    box = ManifestBox(TENCH, 1, 2, 10, 20)
    entries = tuple(
        replace(e, boxes=(box,)) if e.image_id == 103 else e for e in version.manifest.entries
    )
    report = export_version(Manifest(CLASSES, entries), version.blobs, tmp_path / "out", "parquet")
    assert report.images["train"] == 6 and report.warnings == ()
    rows = pq.read_table(tmp_path / "out" / report.details["files"]["train"][0]).to_pylist()
    digest = next(e.sha256 for e in entries if e.image_id == 103)
    (row,) = [r for r in rows if r["sha256"] == digest]
    assert row["objects"]["bbox"] == [[1.0, 2.0, 9.0, 18.0]]
