"""Every class a classes file, class map or manifest names is checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.catalog import Image, Label, RejectedFile, Source
from synsetlab.ingest.cifar import CIFAR10_WNIDS, open_cifar
from synsetlab.ingest.classes import UnknownClassError, read_classes_file
from synsetlab.ingest.idx import open_idx
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.ingest.records import NamedClass, SourceError
from synsetlab.taxonomy import CustomClass
from synsetlab.workspace import Workspace
from tests.images import jpeg
from tests.ingest.fakes import CIFAR10_NAMES, DIGIT_WNIDS, make_fake_cifar10, make_fake_idx

THREE = DIGIT_WNIDS[3]  # n13744044, "three"
BOOT = "n02872752"


def rows(ws: Workspace) -> dict[str, int]:
    """How many rows each table ingestion writes holds."""
    with ws.session() as s:
        return {
            table.__tablename__: s.scalar(select(func.count()).select_from(table)) or 0
            for table in (Source, Image, Label, RejectedFile)
        }


NOTHING = {"sources": 0, "images": 0, "labels": 0, "rejected_files": 0}


def test_classes_file_lines_keep_where_and_note(tmp_path: Path) -> None:
    path = tmp_path / "wnids.txt"
    path.write_text("# digits\n\nn13742358 zero\n  n13742573\tone, the first\n")
    assert read_classes_file(path) == [
        NamedClass("n13742358", "wnids.txt:3", "zero"),
        NamedClass("n13742573", "wnids.txt:4", "one, the first"),
    ]
    with pytest.raises(SourceError, match="cannot read the classes file"):
        read_classes_file(tmp_path / "missing.txt")


def test_a_typo_in_an_idx_classes_file_stops_the_run_before_anything_is_written(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=20)
    lines = classes.read_text().splitlines()
    assert lines[4] == THREE
    lines[4] = "n13744045 three"  # one digit off; the note names the class meant
    lines[7] = "ankle_boot"  # a name, not a wnid
    classes.write_text("\n".join(lines) + "\n")
    spec = open_idx(images, labels=labels, classes=classes, split="train")
    with pytest.raises(UnknownClassError) as caught:
        ingest(sqlite_workspace, spec, workers=0)
    message = str(caught.value)
    assert message.startswith("nothing was ingested: 2 classes are neither a WordNet 3.0 noun")
    assert f"wnids.txt:5 'n13744045' (did you mean {THREE} three?)" in message
    assert "wnids.txt:8 'ankle_boot' (did you mean n03090710 congress boot, " in message
    assert "synsetlab taxonomy search" in message and "\n" not in message
    assert rows(sqlite_workspace) == NOTHING


def test_cifar_classes_file_typos_are_named_with_the_dataset_label_names(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    make_fake_cifar10(tmp_path / "data", n_per_batch=2)
    wnids = [CIFAR10_WNIDS[name] for name in CIFAR10_NAMES]
    cat = CIFAR10_NAMES.index("cat")
    wnids[cat] = "n02121809"  # the domestic cat is n02121808
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(wnids) + "\n")
    with pytest.raises(UnknownClassError, match=r"classes.txt:4 'n02121809' \(did you mean "
                       r"n02121808 domestic cat, n02121620 cat"):  # fmt: skip
        ingest(sqlite_workspace, open_cifar(tmp_path / "data", classes=classes), workers=0)
    assert rows(sqlite_workspace) == NOTHING


def test_an_unknown_class_in_a_class_map_stops_the_run(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "photos" / "boots"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(jpeg(seed=1))
    class_map = tmp_path / "map.txt"
    class_map.write_text("# folder wnid\nboots n02872753\n")
    spec = open_imagefolder(tmp_path / "photos", class_map=class_map)
    with pytest.raises(UnknownClassError, match=rf"map.txt:2 'n02872753' \(did you mean {BOOT}"):
        ingest(sqlite_workspace, spec, workers=0)
    assert rows(sqlite_workspace) == NOTHING


def test_an_unknown_class_in_a_manifest_stops_the_run(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(jpeg(seed=len(name)))
    manifest = tmp_path / "images.csv"
    manifest.write_text(f"path,wnid\na.jpg,{BOOT}\nb.jpg,n0287275\n")
    with pytest.raises(UnknownClassError, match=rf"images.csv:3 'n0287275' \(did you mean {BOOT}"):
        ingest(sqlite_workspace, open_manifest(manifest), workers=0)
    assert rows(sqlite_workspace) == NOTHING


def test_workspace_classes_are_known_classes(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    sqlite_workspace.add_class(CustomClass("hiking-boot", "hiking boot", "a sturdy boot", BOOT))
    images, labels, classes = make_fake_idx(tmp_path, n=10)
    classes.write_text("\n".join(["hiking-boot", *DIGIT_WNIDS[1:]]) + "\n")
    report = ingest(sqlite_workspace, open_idx(images, labels=labels, classes=classes), workers=0)
    assert (report.added, report.rejected) == (10, 0)
