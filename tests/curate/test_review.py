"""Reviewing findings one at a time: the queue, the views, decisions with their author, undo.

:func:`review_catalog` builds the catalog the server's review tests use too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import select
from typer.testing import CliRunner

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Decision, DecisionAction, Finding, SplitAssignment
from synsetlab.curate import decisions, review
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.curate.review import (
    FindingNotFoundError,
    ReviewConflictError,
    ReviewError,
    decide,
    pending_counts,
    review_item,
    review_queue,
    undo,
)
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill

BRAMBLING, GOLDFINCH, HOUSE_FINCH = CLASSES
FINCH = "n01529672"


@dataclass
class ReviewCatalog:
    """Image ids by class (4 each, ascending) and finding ids by name."""

    ids: list[int]
    findings: dict[str, int]

    @property
    def hidden(self) -> int:
        """The hidden test image (a goldfinch a label issue says is a brambling)."""
        return self.ids[7]


def review_catalog(ws: Workspace, root: Path) -> ReviewCatalog:
    """12 images (brambling 0-3, goldfinch 4-7, house finch 8-11) with findings of every
    view: an exact-duplicate cluster (0, 4, 8), a near-duplicate pair (1, 5), blurry (2, 6),
    label issues (3: brambling -> goldfinch; 7, hidden test: goldfinch -> brambling) and a
    class-level small-class finding, which review leaves out."""
    fill(ws, root, per_class=4)
    with ws.session() as s:
        ids = [c.image_id for c in current_images(s)]
        for i in ids[:4]:
            s.add(SplitAssignment(image_id=i, split="train", hidden=False))
        s.add(SplitAssignment(image_id=ids[4], split="val", hidden=False))
        s.add(SplitAssignment(image_id=ids[7], split="test", hidden=True))
        exact = {"cluster": "c1", "size": 3, "sha256": "0" * 64}
        replace_findings(
            s, ["exact-duplicate"],
            [NewFinding("exact-duplicate", ids[i], score=1.0, detail=exact) for i in (0, 4, 8)],
        )  # fmt: skip
        near = {"cluster": "n1", "size": 2, "distance": 3}
        replace_findings(
            s, ["near-duplicate"],
            [NewFinding("near-duplicate", ids[i], score=0.8,
                        detail={**near, "nearest_image_id": ids[6 - i]}) for i in (1, 5)],
        )  # fmt: skip
        replace_findings(
            s, ["blurry"],
            [NewFinding("blurry", ids[2], BRAMBLING, 0.9, {"value": 12.0, "threshold": 40.0}),
             NewFinding("blurry", ids[6], GOLDFINCH, 0.4, {"value": 30.0, "threshold": 40.0})],
        )  # fmt: skip
        issue = {"lca": FINCH, "p_given": 0.05, "p_suggested": 0.9}
        replace_findings(
            s, ["label-issue"],
            [NewFinding("label-issue", ids[3], BRAMBLING, 0.95,
                        {**issue, "given": BRAMBLING, "suggested": GOLDFINCH}),
             NewFinding("label-issue", ids[7], GOLDFINCH, 0.7,
                        {**issue, "given": GOLDFINCH, "suggested": BRAMBLING,
                         "hidden_test": True})],
        )  # fmt: skip
        replace_findings(s, ["small-class"], [NewFinding("small-class", wnid=HOUSE_FINCH)])
    with ws.session() as s:
        rows = s.execute(select(Finding.id, Finding.kind, Finding.image_id))
        names = {f"{kind}:{ids.index(image)}" if image else kind: i for i, kind, image in rows}
    return ReviewCatalog(ids, names)


@pytest.fixture
def cat(workspace: Workspace, tmp_path: Path) -> ReviewCatalog:
    return review_catalog(workspace, tmp_path / "photos")


def queue_names(s, cat: ReviewCatalog, kind: str | None = None) -> list[str]:
    back = {v: k for k, v in cat.findings.items()}
    return [back[e.finding_id] for e in review_queue(s, kind=kind)]


def test_the_queue_holds_image_findings_by_kind_then_severity(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        assert queue_names(s, cat) == [
            "blurry:2", "blurry:6",
            "exact-duplicate:0", "exact-duplicate:4", "exact-duplicate:8",
            "label-issue:3", "label-issue:7",
            "near-duplicate:1", "near-duplicate:5",
        ]  # fmt: skip
        assert queue_names(s, cat, "label-issue") == ["label-issue:3", "label-issue:7"]
        assert review_queue(s, kind="small-class") == []  # about a class, not an image
        assert pending_counts(s) == {
            "blurry": 2, "exact-duplicate": 3, "label-issue": 2, "near-duplicate": 2,
        }  # fmt: skip


def test_decide_and_undo_record_their_author(workspace: Workspace, cat: ReviewCatalog) -> None:
    blurry = cat.findings["blurry:2"]
    with workspace.session() as s:
        d = decide(s, blurry, "exclude", author="curie")
    assert (d.action, d.author, d.finding_id, d.reason) == (
        "exclude", "curie", blurry, "finding:blurry",
    )  # fmt: skip
    with workspace.session() as s:
        assert blurry not in [e.finding_id for e in review_queue(s)]
        assert cat.ids[2] not in {c.image_id for c in current_images(s)}
        undone = undo(s, author="curie", decision_id=d.id)
    assert (undone.id, undone.author, undone.undone_by) == (d.id, "curie", "curie")
    assert undone.undone_at is not None
    with workspace.session() as s:
        assert blurry in [e.finding_id for e in review_queue(s)]
        assert cat.ids[2] in {c.image_id for c in current_images(s)}


def test_undo_takes_back_the_authors_latest_decision(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    first, second = cat.findings["blurry:2"], cat.findings["blurry:6"]
    with workspace.session() as s:
        decide(s, first, "exclude", author="curie")
        decide(s, second, "keep", author="curie")
        with pytest.raises(ReviewConflictError, match="pasteur has no active decision"):
            undo(s, author="pasteur")
    with workspace.session() as s:
        undone = undo(s, author="curie")
    assert (undone.finding_id, undone.action, undone.undone_by) == (second, "keep", "curie")
    with workspace.session() as s:
        assert second in [e.finding_id for e in review_queue(s)]
        undone = undo(s, author="pasteur", decision_id=undone.id - 1)  # another's, by id
        assert (undone.finding_id, undone.author, undone.undone_by) == (first, "curie", "pasteur")
        assert cat.ids[2] in {c.image_id for c in current_images(s)}  # back in the dataset
        with pytest.raises(ReviewConflictError, match=r"undone already .by pasteur"):
            undo(s, author="curie", decision_id=undone.id)
        with pytest.raises(FindingNotFoundError, match="no decision 999"):
            undo(s, author="curie", decision_id=999)
        with pytest.raises(ReviewError, match="say which decision"):
            undo(s, author=None)


def test_keep_takes_a_finding_out_of_the_queue_and_changes_nothing(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        before = {c.image_id: (c.wnid, c.excluded) for c in current_images(s)}
        d = decide(s, cat.findings["label-issue:3"], "keep", author="curie")
    assert (d.action, d.reason, d.wnid) == ("keep", "kept:label-issue", None)
    with workspace.session() as s:
        assert "label-issue:3" not in queue_names(s, cat)
        assert {c.image_id: (c.wnid, c.excluded) for c in current_images(s)} == before
        assert decisions.excluded_ids(s) == set()


def test_a_decision_outlives_a_new_run_of_its_analysis(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    """A re-run replaces the finding (a new id, the link cleared): it stays decided."""
    with workspace.session() as s:
        decide(s, cat.findings["blurry:2"], "keep", author="curie")
        replace_findings(
            s, ["blurry"],
            [NewFinding("blurry", cat.ids[i], score=0.5, detail={"value": 1.0}) for i in (2, 6)],
        )  # fmt: skip
    with workspace.session() as s:
        left = [e.image_id for e in review_queue(s, kind="blurry")]
        assert left == [cat.ids[6]]
        assert s.scalars(select(Decision.finding_id)).all() == [None]


def test_an_excluded_image_leaves_the_queue_with_all_its_findings(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        decide(s, cat.findings["exact-duplicate:4"], "exclude", author="curie")
        decisions.exclude(s, [cat.ids[1]], reason="balance:max")  # no finding's decision
    with workspace.session() as s:
        names = queue_names(s, cat)
    assert "exact-duplicate:4" not in names
    assert "near-duplicate:1" not in names and "near-duplicate:5" in names


def test_a_hidden_test_label_moves_only_when_allowed(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    finding = cat.findings["label-issue:7"]
    with (
        workspace.session() as s,
        pytest.raises(ReviewConflictError, match=r"hidden test split.*allow_hidden_test"),
    ):
        decide(s, finding, "relabel", author="curie")
    with workspace.session() as s:
        assert s.scalars(select(Decision)).all() == []  # nothing half-written
        assert finding in [e.finding_id for e in review_queue(s)]
        d = decide(s, finding, "relabel", author="curie", allow_hidden_test=True)
    assert (d.action, d.wnid, d.author) == ("relabel", BRAMBLING, "curie")
    with workspace.session() as s:
        assert {c.image_id: c.wnid for c in current_images(s)}[cat.hidden] == BRAMBLING


def test_relabel_to_the_suggestion_or_a_class_of_the_catalog(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        d = decide(s, cat.findings["label-issue:3"], "relabel", author="curie")
        assert d.wnid == GOLDFINCH
        assert {c.image_id: c.wnid for c in current_images(s)}[cat.ids[3]] == GOLDFINCH
        d = decide(s, cat.findings["blurry:6"], "relabel", author="curie", wnid=HOUSE_FINCH)
        assert d.wnid == HOUSE_FINCH


def test_bad_decisions_are_refused_with_what_to_do(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    blurry = cat.findings["blurry:2"]
    with workspace.session() as s:
        with pytest.raises(FindingNotFoundError, match=r"no finding 999.*reload the queue"):
            decide(s, 999, "keep", author="curie")
        with pytest.raises(ReviewError, match=r"about a class.*balance"):
            decide(s, cat.findings["small-class"], "keep", author="curie")
        with pytest.raises(ReviewError, match=r"unknown action 'delete'.*keep, exclude, relabel"):
            decide(s, blurry, "delete", author="curie")
        with pytest.raises(ReviewError, match="suggests no class"):
            decide(s, blurry, "relabel", author="curie")
        with pytest.raises(ReviewError, match="no image of the catalog is labelled 'n00000001'"):
            decide(s, blurry, "relabel", author="curie", wnid="n00000001")
        decide(s, blurry, "keep", author="curie")
        with pytest.raises(ReviewConflictError, match=r"decided already .keep by curie.*undo"):
            decide(s, blurry, "exclude", author="pasteur")
        assert len(s.scalars(select(Decision)).all()) == 1


def test_a_duplicate_cluster_shows_every_member(workspace: Workspace, cat: ReviewCatalog) -> None:
    taxonomy = workspace.taxonomy()
    with workspace.session() as s:
        decide(s, cat.findings["exact-duplicate:8"], "exclude", author="curie")
        item = review_item(s, cat.findings["exact-duplicate:4"], taxonomy=taxonomy)
    assert item.view == "cluster" and item.cluster_size == 3
    members = {m.image_id: m for m in item.cluster}
    assert list(members) == [cat.ids[0], cat.ids[4], cat.ids[8]]
    first, this, gone = (members[cat.ids[i]] for i in (0, 4, 8))
    assert (first.split, this.split, gone.split) == ("train", "val", None)
    assert first.source_key.endswith(f"{BRAMBLING}/000.jpg") and first.size_bytes > 0
    assert [(x.wnid, x.name, x.state) for x in this.labels] == [
        (GOLDFINCH, "goldfinch", "candidate")
    ]
    assert gone.excluded and not this.excluded
    assert item.image.image_id == cat.ids[4] and item.decision is None
    with workspace.session() as s:
        near = review_item(s, cat.findings["near-duplicate:1"], taxonomy=taxonomy)
    assert [m.image_id for m in near.cluster] == [cat.ids[1], cat.ids[5]]


def test_a_label_issue_shows_both_classes_with_examples(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        item = review_item(s, cat.findings["label-issue:3"], taxonomy=workspace.taxonomy())
    assert item.view == "label"
    assert (item.given.wnid, item.given.name) == (BRAMBLING, "brambling")
    assert (item.suggested.wnid, item.suggested.name) == (GOLDFINCH, "goldfinch")
    assert item.lca.wnid == FINCH and item.lca.examples == []
    assert "finch" in item.given.gloss.lower()
    # Never the image itself, never a hidden test image (whose label is the answer key).
    assert [e.image_id for e in item.given.examples] == cat.ids[0:3]
    assert [e.image_id for e in item.suggested.examples] == cat.ids[4:7]
    with workspace.session() as s:
        hidden = review_item(s, cat.findings["label-issue:7"], taxonomy=workspace.taxonomy(),
                             examples=1)  # fmt: skip
    assert hidden.image.hidden_test and hidden.image.split == "test"
    assert len(hidden.given.examples) == len(hidden.suggested.examples) == 1


def test_a_quality_finding_shows_its_value_and_threshold(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    with workspace.session() as s:
        item = review_item(s, cat.findings["blurry:2"], taxonomy=workspace.taxonomy())
        d = decide(s, cat.findings["blurry:2"], "keep", author="curie")
        decided = review_item(s, cat.findings["blurry:2"], taxonomy=workspace.taxonomy())
    assert (item.view, item.value, item.threshold) == ("quality", 12.0, 40.0)
    assert decided.decision == d
    assert item.to_dict()["image"]["labels"][0]["name"] == "brambling"


def test_thumbnails_fit_the_size_asked(workspace: Workspace, cat: ReviewCatalog) -> None:
    with workspace.session() as s:
        sha = review_item(s, cat.findings["blurry:2"], taxonomy=workspace.taxonomy()).image.sha256
    data = review.thumbnail_jpeg(workspace.blobs, sha, 32)
    with PILImage.open(io.BytesIO(data)) as img:
        assert (img.format, img.size) == ("JPEG", (32, 27))  # 48 x 40, aspect kept
    with PILImage.open(io.BytesIO(review.thumbnail_jpeg(workspace.blobs, sha, 256))) as img:
        assert img.size == (48, 40)  # never enlarged
    with pytest.raises(ReviewError, match="size 8 must be 32-1024"):
        review.thumbnail_jpeg(workspace.blobs, sha, 8)


# Authors of the bulk decisions (curate.decisions and `synsetlab findings`) ------------------


def test_bulk_decisions_record_their_author(workspace: Workspace, cat: ReviewCatalog) -> None:
    with workspace.session() as s:
        decisions.exclude_findings(s, "exact-duplicate", keep="first", author="curie")
        decisions.relabel_findings(s, min_score=0.5, author="curie")
        decisions.relabel(s, cat.ids[9], BRAMBLING, reason="by hand")
    with workspace.session() as s:
        rows = s.scalars(select(Decision).order_by(Decision.id)).all()
        assert [(d.action, d.author) for d in rows] == [
            (DecisionAction.exclude, "curie"), (DecisionAction.exclude, "curie"),
            (DecisionAction.relabel, "curie"), (DecisionAction.relabel, None),
        ]  # fmt: skip
        assert decisions.undo(s, reason="finding:exact-duplicate", author="pasteur") == 2
        assert {d.undone_by for d in s.scalars(select(Decision))} == {"pasteur", None}


def test_the_findings_commands_record_the_os_login(
    sqlite_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synsetlab.cli.app import app

    review_catalog(sqlite_workspace, tmp_path / "photos")
    monkeypatch.setenv("SYNSETLAB_WORKSPACE", str(sqlite_workspace.root))
    monkeypatch.setenv("LOGNAME", "marie")
    runner = CliRunner()
    result = runner.invoke(app, ["findings", "exclude", "--kind", "blurry"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["findings", "undo", "--kind", "blurry"])
    assert result.exit_code == 0, result.output
    with sqlite_workspace.session() as s:
        rows = s.scalars(select(Decision)).all()
    assert {(d.author, d.undone_by) for d in rows} == {("os:marie", "os:marie")}
