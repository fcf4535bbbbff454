"""Findings and decisions: recorded, listed, applied to the current dataset, undone."""

from __future__ import annotations

from pathlib import Path

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Label, LabelState, SplitAssignment
from synsetlab.curate.decisions import (
    exclude,
    exclude_findings,
    hidden_test_ids,
    relabel,
    relabel_findings,
    undo,
)
from synsetlab.curate.findings import NewFinding, count_findings, list_findings, replace_findings
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.images import jpeg

BRAMBLING, GOLDFINCH, FINCH = "n01530575", "n01531178", "n01529672"


def ingest_six(ws: Workspace, tmp_path: Path) -> list[int]:
    root = tmp_path / "photos"
    for i in range(6):
        path = root / (BRAMBLING if i < 3 else GOLDFINCH) / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(seed=i))
    ingest(ws, open_imagefolder(root), workers=0)
    with ws.session() as s:
        return [c.image_id for c in current_images(s)]


def test_findings_replace_their_kinds_only(workspace: Workspace, tmp_path: Path) -> None:
    ids = ingest_six(workspace, tmp_path)
    with workspace.session() as s:
        replace_findings(s, ["blurry"], [NewFinding("blurry", ids[0], score=0.5)])
        replace_findings(s, ["too-small"], [NewFinding("too-small", ids[1], score=2.0)])
        replace_findings(s, ["blurry"], [NewFinding("blurry", ids[2], score=0.9)])
    with workspace.session() as s:
        assert count_findings(s) == {"blurry": 1, "too-small": 1}
        assert [f.image_id for f in list_findings(s, kind="blurry")] == [ids[2]]


def test_exclude_relabel_undo_shape_the_current_dataset(
    workspace: Workspace, tmp_path: Path
) -> None:
    ids = ingest_six(workspace, tmp_path)
    with workspace.session() as s:
        assert exclude(s, [ids[0], ids[0]], reason="blurry") == 1
        assert exclude(s, [ids[0]], reason="again") == 0
        relabel(s, ids[3], BRAMBLING, reason="label-issue")
    with workspace.session() as s:
        now = {c.image_id: c.wnid for c in current_images(s)}
    assert ids[0] not in now and now[ids[3]] == BRAMBLING
    with workspace.session() as s:
        assert undo(s, reason="blurry") == 1
    with workspace.session() as s:
        now = {c.image_id: c.wnid for c in current_images(s)}
    assert now[ids[0]] == BRAMBLING and now[ids[3]] == BRAMBLING
    with workspace.session() as s:
        undo(s)
        assert {c.image_id: c.wnid for c in current_images(s)}[ids[3]] == GOLDFINCH


def test_conflicting_labels_leave_an_image_unlabelled(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ids = ingest_six(sqlite_workspace, tmp_path)
    with sqlite_workspace.session() as s:
        s.add(Label(image_id=ids[0], wnid=FINCH, state=LabelState.candidate))
        s.add(Label(image_id=ids[1], wnid=FINCH, state=LabelState.verified))
    with sqlite_workspace.session() as s:
        now = {c.image_id: c for c in current_images(s)}
    assert now[ids[0]].wnid is None and now[ids[0]].conflict
    assert now[ids[1]].wnid == FINCH and not now[ids[1]].conflict  # verified wins


def test_exclude_findings_keeps_one_per_cluster(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ids = ingest_six(sqlite_workspace, tmp_path)
    with sqlite_workspace.session() as s:
        replace_findings(
            s,
            ["exact-duplicate"],
            [NewFinding("exact-duplicate", i, detail={"cluster": "a"}) for i in ids[:3]]
            + [NewFinding("exact-duplicate", i, detail={"cluster": "b"}) for i in ids[3:5]],
        )
    with sqlite_workspace.session() as s:
        assert exclude_findings(s, "exact-duplicate", keep="first") == 3
        assert exclude_findings(s, "exact-duplicate", keep="first") == 0
    with sqlite_workspace.session() as s:
        kept = {c.image_id for c in current_images(s)}
    assert kept == {ids[0], ids[3], ids[5]}
    with sqlite_workspace.session() as s:
        assert undo(s, reason="finding:exact-duplicate") == 3


def test_relabel_findings_leaves_hidden_test_labels_alone_unless_asked(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A hidden test label is a challenge's answer key: it moves only when asked to."""
    ids = ingest_six(workspace, tmp_path)
    train_image, test_image = ids[3], ids[4]  # goldfinches, found to be bramblings
    with workspace.session() as s:
        s.add(SplitAssignment(image_id=train_image, split="train", hidden=False))
        s.add(SplitAssignment(image_id=test_image, split="test", hidden=True))
        detail = {"given": GOLDFINCH, "suggested": BRAMBLING}
        replace_findings(
            s,
            ["label-issue"],
            [NewFinding("label-issue", i, wnid=GOLDFINCH, score=0.9, detail=detail)
             for i in (train_image, test_image)],
        )  # fmt: skip
    with workspace.session() as s:
        assert hidden_test_ids(s) == {test_image}
        report = relabel_findings(s, min_score=0.5)
    assert (report.relabelled, report.hidden_test_skipped) == (1, 1)
    with workspace.session() as s:
        now = {c.image_id: c.wnid for c in current_images(s)}
    assert (now[train_image], now[test_image]) == (BRAMBLING, GOLDFINCH)

    with workspace.session() as s:
        report = relabel_findings(s, min_score=0.5, include_hidden_test=True)
    assert (report.relabelled, report.hidden_test_skipped) == (2, 0)
    with workspace.session() as s:
        assert {c.image_id: c.wnid for c in current_images(s)}[test_image] == BRAMBLING
