"""Versions: freeze is content-addressed and immutable; load, list and diff them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Label
from synsetlab.curate.decisions import exclude, relabel
from synsetlab.manifest import Manifest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.versions import VersionError, diff_versions, freeze, list_versions, load_version
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill
from tests.images import jpeg


def test_freeze_load_and_content_address(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos", per_class=6)
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1, seed=0))
    v1 = freeze(workspace, "v1")
    assert v1.manifest.classes == CLASSES
    assert v1.manifest.splits == {"train": 12, "val": 3, "test": 3}
    assert all(e.hidden == (e.split == "test") for e in v1.manifest.entries)
    data = workspace.blobs.get(v1.id)
    assert Manifest.from_bytes(data) == v1.manifest
    assert v1.manifest.unlabelled == () and b'"unlabelled"' not in data  # the format as before
    assert load_version(workspace, "v1").manifest == v1.manifest
    assert load_version(workspace, v1.id[:10]).name == "v1"
    with pytest.raises(VersionError, match="exists already"):
        freeze(workspace, "v1")
    with pytest.raises(VersionError, match="nothing changed since version 'v1'"):
        freeze(workspace, "v1-again")
    assert [v.name for v in list_versions(workspace)] == ["v1"]


def test_images_without_one_label_are_kept_beside_the_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):  # files directly under an imagefolder root have no label
        (root / f"loose{i}.jpg").write_bytes(jpeg((40, 32), seed=9000 + i))
    fill(workspace, root, per_class=4)
    with workspace.session() as s:
        images = current_images(s)
        loose = sorted(i.image_id for i in images if i.wnid is None)
        contested = next(i for i in images if i.wnid == CLASSES[0])
        # A second candidate class for a labelled image: two compete, none is verified.
        state = s.scalar(select(Label.state).where(Label.image_id == contested.image_id))
        s.add(Label(image_id=contested.image_id, wnid=CLASSES[2], state=state))
        s.flush()
        exclude(s, [loose[0]], reason="blurry")
    assign_splits(workspace, SplitPlan(val_per_class=1, seed=0))
    v1 = freeze(workspace, "v1")

    pool = {u.image_id: u for u in v1.manifest.unlabelled}
    assert set(pool) == {loose[1], loose[2], contested.image_id}
    assert pool[contested.image_id].candidates == (CLASSES[0], CLASSES[2])
    assert pool[loose[1]].candidates == () and pool[loose[1]].source_key == "loose1.jpg"
    assert (pool[loose[1]].format, pool[loose[1]].width, pool[loose[1]].height) == ("JPEG", 40, 32)
    assert not {e.image_id for e in v1.manifest.entries} & set(pool)
    assert len(v1.manifest.entries) == 3 * 4 - 1
    assert Manifest.from_bytes(workspace.blobs.get(v1.id)) == v1.manifest
    assert list_versions(workspace)[0].summary["unlabelled"] == 3

    with workspace.session() as s:  # a curator settles one: it leaves the pool for a split
        relabel(s, loose[1], CLASSES[1], reason="looked at it")
    assign_splits(workspace, SplitPlan(val_per_class=1, seed=0))
    v2 = freeze(workspace, "v2")
    diff = diff_versions(v1.manifest, v2.manifest)
    assert loose[1] in diff.added and diff.unlabelled_removed == [loose[1]]
    assert diff.unlabelled_added == [] and diff.pool_recorded
    # A version frozen before pools were kept only counted its unlabelled images.
    older = replace(v1.manifest, unlabelled=())
    assert not older.pool_recorded and not diff_versions(older, v2.manifest).pool_recorded


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
