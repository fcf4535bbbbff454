"""Splits: stratified, fixed counts or fractions, deterministic, duplicate groups kept together."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import SplitAssignment
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.splits import SplitError, SplitPlan, assign_splits
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


def assignment(ws: Workspace) -> dict[int, tuple[str, bool]]:
    with ws.session() as s:
        return {a.image_id: (a.split, a.hidden) for a in s.scalars(select(SplitAssignment))}


def test_fixed_counts_per_class_and_hidden_test(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos")
    report = assign_splits(workspace, SplitPlan(val_per_class=2, test_per_class=3, seed=0))
    assert report.per_split == {"train": 21, "val": 6, "test": 9}
    assert all(c == {"train": 7, "val": 2, "test": 3} for c in report.per_class.values())
    assert all(hidden == (split == "test") for split, hidden in assignment(workspace).values())


def test_same_seed_same_split_other_seed_other_split(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos")
    assign_splits(sqlite_workspace, SplitPlan(val_fraction=0.25, seed=1))
    first = assignment(sqlite_workspace)
    assign_splits(sqlite_workspace, SplitPlan(val_fraction=0.25, seed=1))
    assert assignment(sqlite_workspace) == first
    assign_splits(sqlite_workspace, SplitPlan(val_fraction=0.25, seed=2))
    assert assignment(sqlite_workspace) != first
    assert sum(split == "val" for split, _ in first.values()) == 9


def test_duplicate_groups_never_straddle_splits(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos")
    with sqlite_workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        groups = [ids[0:4], ids[12:15], ids[24:26]]
        replace_findings(
            s,
            ["near-duplicate"],
            [NewFinding("near-duplicate", i, detail={"cluster": str(g)}) for g, members in
             enumerate(groups) for i in members],
        )  # fmt: skip
    for seed in range(5):
        assign_splits(sqlite_workspace, SplitPlan(val_per_class=3, test_per_class=3, seed=seed))
        split = assignment(sqlite_workspace)
        for members in groups:
            assert len({split[i][0] for i in members}) == 1, (seed, members)


def test_too_few_images_names_the_classes(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    fill(sqlite_workspace, tmp_path / "a", per_class=12)
    fill(sqlite_workspace, tmp_path / "b", per_class=3, classes=("n01534433",))
    with pytest.raises(SplitError, match=r"n01534433 \(3\)") as error:
        assign_splits(sqlite_workspace, SplitPlan(val_per_class=2, test_per_class=2))
    assert CLASSES[0] not in str(error.value)
    assert assignment(sqlite_workspace) == {}  # nothing half-written


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (SplitPlan(val_fraction=0.6, test_fraction=0.5), "nothing for train"),
        (SplitPlan(val_per_class=-1), ">= 0"),
        (SplitPlan(test_fraction=1.5), r"\[0, 1\)"),
        (SplitPlan(val_fraction=0.01), "val split would be empty"),
    ],
)
def test_bad_plans(
    sqlite_workspace: Workspace, tmp_path: Path, plan: SplitPlan, message: str
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=4)
    with pytest.raises(SplitError, match=message):
        assign_splits(sqlite_workspace, plan)


def test_from_source_keeps_the_source_split_and_carves_test(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    from synsetlab.ingest.imagefolder import open_imagefolder
    from synsetlab.ingest.pipeline import ingest
    from tests.images import jpeg

    for split, n in (("train", 10), ("val", 4)):
        folder = tmp_path / split / CLASSES[0]
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"{i}.jpg").write_bytes(jpeg(seed=(100 if split == "val" else 0) + i))
        ingest(sqlite_workspace, open_imagefolder(tmp_path / split, split=split), workers=0)
    report = assign_splits(sqlite_workspace, SplitPlan(from_source=True, test_per_class=3))
    assert report.per_split == {"train": 7, "val": 4, "test": 3}
