"""Versions: freeze is content-addressed and immutable; load, list and diff them."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsetlab.catalog.current import current_images
from synsetlab.curate.decisions import exclude, relabel
from synsetlab.manifest import Manifest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.versions import VersionError, diff_versions, freeze, list_versions, load_version
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


def test_freeze_load_and_content_address(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos", per_class=6)
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1, seed=0))
    v1 = freeze(workspace, "v1")
    assert v1.manifest.classes == CLASSES
    assert v1.manifest.splits == {"train": 12, "val": 3, "test": 3}
    assert all(e.hidden == (e.split == "test") for e in v1.manifest.entries)
    data = workspace.blobs.get(v1.id)
    assert Manifest.from_bytes(data) == v1.manifest
    assert load_version(workspace, "v1").manifest == v1.manifest
    assert load_version(workspace, v1.id[:10]).name == "v1"
    with pytest.raises(VersionError, match="exists already"):
        freeze(workspace, "v1")
    with pytest.raises(VersionError, match="nothing changed since version 'v1'"):
        freeze(workspace, "v1-again")
    assert [v.name for v in list_versions(workspace)] == ["v1"]


def test_same_state_and_seed_give_the_same_id(tmp_path: Path) -> None:
    from synsetlab.workspace import init_workspace

    ids = []
    for name in ("a", "b"):
        ws = init_workspace(tmp_path / name)
        fill(ws, tmp_path / "photos", per_class=5)
        assign_splits(ws, SplitPlan(val_per_class=1, seed=3))
        ids.append(freeze(ws, "v1").id)
        ws.close()
    assert ids[0] == ids[1]


def test_diff_shows_added_removed_relabelled_moved(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=6)
    assign_splits(sqlite_workspace, SplitPlan(val_per_class=1, seed=0))
    v1 = freeze(sqlite_workspace, "v1")
    with sqlite_workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        exclude(s, [ids[0]], reason="blurry")
        relabel(s, ids[7], CLASSES[2], reason="label-issue")
    fill(sqlite_workspace, tmp_path / "more", per_class=1, classes=("n01534433",))
    with pytest.raises(VersionError, match="no split"):
        freeze(sqlite_workspace, "v2")
    assign_splits(sqlite_workspace, SplitPlan(val_per_class=0, seed=0))
    v2 = freeze(sqlite_workspace, "v2")
    diff = diff_versions(v1.manifest, v2.manifest)
    assert diff.removed == [ids[0]]
    assert len(diff.added) == 1 and diff.classes_added == ["n01534433"]
    assert (ids[7], CLASSES[1], CLASSES[2]) in diff.relabelled
    assert {m[2] for m in diff.moved} == {"train"}
    entry = next(e for e in v2.manifest.entries if e.image_id == ids[7])
    assert entry.relabelled_from == CLASSES[1]
    assert v2.manifest.excluded == (ids[0],)


def test_unknown_version_lists_the_known_ones(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(VersionError, match="versions: none"):
        load_version(sqlite_workspace, "v9")
    with pytest.raises(VersionError, match="no split yet"):
        freeze(sqlite_workspace, "v1")
