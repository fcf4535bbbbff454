"""Splits: stratified, fixed counts or fractions, deterministic, duplicate groups kept together."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.blobs import sha256_hex
from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import SplitAssignment
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.errors import UserError
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


# -- byte-identical copies, --from-source carving, options a mode would ignore ------------------


def _ingest_folder(ws: Workspace, root: Path, files: dict[str, bytes], split: str | None) -> None:
    """Ingest ``files`` ("<wnid>/<name>" -> bytes) as an imagefolder source of ``split``."""
    from synsetlab.ingest.imagefolder import open_imagefolder
    from synsetlab.ingest.pipeline import ingest

    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    ingest(ws, open_imagefolder(root, split=split), workers=0)


def _split_of_sha(ws: Workspace) -> dict[str, set[str]]:
    with ws.session() as s:
        sha = {i.image_id: i.sha256 for i in current_images(s)}
    out: dict[str, set[str]] = {}
    for image_id, (split, _) in assignment(ws).items():
        out.setdefault(sha[image_id], set()).add(split)
    return out


def test_byte_identical_images_share_a_split_without_curation(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    """Two files with one content are one image to a participant: whether or not `curate
    duplicates` ran, they never land in train and in the hidden test split."""
    from tests.images import jpeg

    fill(sqlite_workspace, tmp_path / "photos")
    copies = {f"{w}/copy{i}.jpg": jpeg((48, 40), seed=1000 * c + i)
              for c, w in enumerate(CLASSES) for i in range(6)}  # fmt: skip
    _ingest_folder(sqlite_workspace, tmp_path / "copies", copies, None)
    with sqlite_workspace.session() as s:  # a near-duplicate cluster joins a copy's group
        images = current_images(s)
        sha = {i.image_id: i.sha256 for i in images}
        linked = [images[0].image_id, images[5].image_id]  # content 0 and content 5 of class 0
        replace_findings(
            s,
            ["near-duplicate"],
            [NewFinding("near-duplicate", i, detail={"cluster": "0"}) for i in linked],
        )
    for seed in range(4):
        assign_splits(sqlite_workspace, SplitPlan(val_per_class=4, test_per_class=4, seed=seed))
        splits = _split_of_sha(sqlite_workspace)
        assert len(splits) == 3 * 12  # 54 images, 36 contents
        assert all(len(s) == 1 for s in splits.values()), seed
        assert splits[sha[linked[0]]] == splits[sha[linked[1]]]  # 4 images, one group


def test_from_source_moves_copies_out_of_the_hidden_test_split(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    """A source that put one content in train and in test: the test copy goes to train, so
    the hidden split holds no image that also has a train label."""
    from tests.images import jpeg

    wnid = CLASSES[0]
    train = {f"{wnid}/{i}.jpg": jpeg(seed=i) for i in range(6)}
    test = {f"{wnid}/t{i}.jpg": jpeg(seed=100 + i) for i in range(3)}
    test[f"{wnid}/leak.jpg"] = jpeg(seed=2)  # the bytes of train/2.jpg
    _ingest_folder(sqlite_workspace, tmp_path / "train", train, "train")
    _ingest_folder(sqlite_workspace, tmp_path / "test", test, "test")
    report = assign_splits(sqlite_workspace, SplitPlan(from_source=True))
    assert report.per_split == {"train": 7, "test": 3}
    assert report.moved_copies == 1
    assert _split_of_sha(sqlite_workspace)[sha256_hex(jpeg(seed=2))] == {"train"}
    assert report.params == {
        "mode": "from-source",
        "source_splits": "train, test",
        "hide_test": True,
        "copies_moved": 1,
    }


@pytest.mark.parametrize("option", [{"val_per_class": 2}, {"val_fraction": 0.25}])
def test_from_source_carves_val_from_train(
    sqlite_workspace: Workspace, tmp_path: Path, option: dict
) -> None:
    """Keep the source's train/test and carve val from train: the standard case."""
    from tests.images import jpeg

    for c, wnid in enumerate(CLASSES[:2]):
        train = {f"{wnid}/{i}.jpg": jpeg(seed=100 * c + i) for i in range(8)}
        test = {f"{wnid}/t{i}.jpg": jpeg(seed=100 * c + 50 + i) for i in range(3)}
        _ingest_folder(sqlite_workspace, tmp_path / f"train{c}", train, "train")
        _ingest_folder(sqlite_workspace, tmp_path / f"test{c}", test, "test")
    report = assign_splits(sqlite_workspace, SplitPlan(from_source=True, seed=5, **option))
    assert report.per_split == {"train": 12, "val": 4, "test": 6}
    assert all(c == {"train": 6, "val": 2, "test": 3} for c in report.per_class.values())
    hidden = {split for split, hidden in assignment(sqlite_workspace).values() if hidden}
    assert hidden == {"test"}
    # The recorded parameters are what was done: val carved from train, with this seed.
    assert report.params == {
        "mode": "from-source",
        "source_splits": "train, test",
        **option,
        "seed": 5,
        "hide_test": True,
    }


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (SplitPlan(from_source=True, val_per_class=1), "sources already give a val split"),
        (SplitPlan(from_source=True, seed=3), "seed 3 is not used"),
        (SplitPlan(seed=3), "seed 3 is not used: without val or test every image goes to train"),
        (SplitPlan(val_per_class=2, val_fraction=0.2), "val_per_class or val_fraction"),
        (SplitPlan(test_per_class=2, test_fraction=0.2), "test_per_class or test_fraction"),
    ],
)
def test_options_a_mode_would_ignore_are_refused(
    sqlite_workspace: Workspace, tmp_path: Path, plan: SplitPlan, message: str
) -> None:
    from tests.images import jpeg

    wnid = CLASSES[0]
    _ingest_folder(sqlite_workspace, tmp_path / "train",
                   {f"{wnid}/{i}.jpg": jpeg(seed=i) for i in range(8)}, "train")  # fmt: skip
    _ingest_folder(sqlite_workspace, tmp_path / "val",
                   {f"{wnid}/v{i}.jpg": jpeg(seed=50 + i) for i in range(2)}, "val")  # fmt: skip
    with pytest.raises(SplitError, match=message) as error:
        assign_splits(sqlite_workspace, plan)
    assert isinstance(error.value, UserError)
    assert assignment(sqlite_workspace) == {}


def test_recorded_parameters_of_a_stratified_split(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos")
    report = assign_splits(sqlite_workspace, SplitPlan(val_fraction=0.25, test_per_class=2))
    assert report.params == {
        "mode": "stratified",
        "val_fraction": 0.25,
        "test_per_class": 2,
        "seed": 0,
        "hide_test": True,
    }
