"""Label issues sent to the crowd from review: both classes asked, the finding recorded as
sent under its author (undone as any decision), never twice, never a hidden test image."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.annotate import AnnotationForbiddenError, get_project
from synsetlab.annotate.ask import (
    DEFAULT_PROJECT,
    ask_about_findings,
    label_issues_to_ask,
)
from synsetlab.catalog import AnnotationItem, AnnotationProject, Decision, ItemStatus
from synsetlab.curate.review import (
    ReviewConflictError,
    ReviewError,
    decide,
    review_item,
    review_queue,
    send_to_crowd,
    undo,
)
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.curate.test_review import BRAMBLING, GOLDFINCH, ReviewCatalog, review_catalog

TAXONOMY = Taxonomy.wordnet()


@pytest.fixture
def cat(workspace: Workspace, tmp_path: Path) -> ReviewCatalog:
    return review_catalog(workspace, tmp_path / "photos")


def queued(workspace: Workspace) -> list[int]:
    with workspace.session() as s:
        return [e.finding_id for e in review_queue(s, kind="label-issue")]


def test_a_label_issue_goes_to_the_crowd_with_both_classes(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    issue, image = cat.findings["label-issue:3"], cat.ids[3]
    with workspace.session() as s:
        result = ask_about_findings(s, DEFAULT_PROJECT, [issue], taxonomy=TAXONOMY, author="curie")
    asked = result.asked
    assert asked.created and asked.project == DEFAULT_PROJECT
    assert {(q.image_id, q.wnid) for q in asked.added} == {(image, BRAMBLING), (image, GOLDFINCH)}
    assert asked.new_classes == [BRAMBLING, GOLDFINCH]
    sent = result.sent[issue]
    assert (sent.action, sent.reason, sent.author, sent.crowd) == (
        "keep", "crowd:label-issue", "curie", True,
    )  # fmt: skip
    assert issue not in queued(workspace)  # sent: out of the queue, as any decision

    # The view shows the questions and the decision; deciding otherwise is refused.
    with workspace.session() as s:
        view = review_item(s, issue, taxonomy=TAXONOMY)
        with pytest.raises(ReviewConflictError, match="was sent to the crowd by curie; undo"):
            decide(s, issue, "relabel", author="curie")
    assert view.decision is not None and view.decision.crowd
    assert [(c.project, c.wnid, c.status, c.yes, c.no) for c in view.crowd] == [
        (DEFAULT_PROJECT, BRAMBLING, "pending", 0, 0),
        (DEFAULT_PROJECT, GOLDFINCH, "pending", 0, 0),
    ]

    # Again: nothing new asked, the same decision (idempotent).
    with workspace.session() as s:
        again = ask_about_findings(s, DEFAULT_PROJECT, [issue], taxonomy=TAXONOMY, author="ada")
        assert send_to_crowd(s, issue, author="ada").id == sent.id
    assert again.asked.added == [] and not again.asked.created
    assert again.sent[issue].id == sent.id
    assert all(x.reason.startswith("asked already") for x in again.asked.skipped)

    # Undone, the finding is back in the queue; the questions stay (votes are never lost).
    with workspace.session() as s:
        undone = undo(s, author="curie")
    assert undone.id == sent.id and undone.undone_by == "curie"
    assert issue in queued(workspace)
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(AnnotationItem).where(
            AnnotationItem.gold.is_(None))) == 2  # fmt: skip


def test_questions_the_crowd_answered_are_reported_not_asked_again(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    issue, image = cat.findings["label-issue:3"], cat.ids[3]
    with workspace.session() as s:
        ask_about_findings(s, DEFAULT_PROJECT, [issue], taxonomy=TAXONOMY, author="curie")
        undo(s, author="curie")
        # The crowd has spoken (as dynamic consensus records it): brambling no, goldfinch yes.
        p = get_project(s, DEFAULT_PROJECT)
        mine = (AnnotationItem.project_id == p.id, AnnotationItem.image_id == image)
        for q in s.scalars(select(AnnotationItem).where(*mine)):
            right = q.wnid == GOLDFINCH
            q.status = ItemStatus.accepted if right else ItemStatus.rejected
            q.yes_votes, q.no_votes = (5, 0) if right else (0, 5)
    with workspace.session() as s:
        result = ask_about_findings(s, DEFAULT_PROJECT, [issue], taxonomy=TAXONOMY, author="ada")
    assert result.asked.added == [] and result.sent[issue] is None  # nothing waits: not sent
    assert {(x.wnid, x.status) for x in result.asked.decided()} == {
        (BRAMBLING, "rejected"), (GOLDFINCH, "accepted"),
    }  # fmt: skip
    assert issue in queued(workspace)  # the reviewer decides it, seeing the crowd's answer
    with workspace.session() as s:
        crowd = review_item(s, issue, taxonomy=TAXONOMY).crowd
    assert {(c.wnid, c.status, c.yes, c.no) for c in crowd} == {
        (BRAMBLING, "rejected", 0, 5), (GOLDFINCH, "accepted", 5, 0),
    }  # fmt: skip


def test_a_hidden_test_image_or_another_finding_is_refused(
    workspace: Workspace, cat: ReviewCatalog
) -> None:
    hidden, blurry = cat.findings["label-issue:7"], cat.findings["blurry:2"]
    with workspace.session() as s, pytest.raises(AnnotationForbiddenError) as refused:
        ask_about_findings(s, DEFAULT_PROJECT, [hidden], taxonomy=TAXONOMY, author="curie")
    assert f"image {cat.hidden} is in the hidden test split" in str(refused.value)
    with workspace.session() as s, pytest.raises(ReviewError, match="never goes to the crowd"):
        send_to_crowd(s, hidden, author="curie")  # not even recorded as sent
    with workspace.session() as s, pytest.raises(ReviewError, match="not a label issue"):
        ask_about_findings(s, DEFAULT_PROJECT, [blurry], taxonomy=TAXONOMY, author="curie")
    with workspace.session() as s:
        decide(s, cat.findings["label-issue:3"], "keep", author="curie")
    with workspace.session() as s, pytest.raises(ReviewConflictError, match="decided already"):
        ask_about_findings(
            s, DEFAULT_PROJECT, [cat.findings["label-issue:3"]], taxonomy=TAXONOMY, author="ada"
        )
    with workspace.session() as s:  # nothing half-written: no project, one decision (the keep)
        assert s.scalar(select(func.count()).select_from(AnnotationProject)) == 0
        assert s.scalar(select(func.count()).select_from(Decision)) == 1


def test_which_label_issues_a_batch_asks_about(workspace: Workspace, cat: ReviewCatalog) -> None:
    three, seven = cat.findings["label-issue:3"], cat.findings["label-issue:7"]
    with workspace.session() as s:
        assert label_issues_to_ask(s) == ([three], 1)  # the hidden test image left out
        assert label_issues_to_ask(s, min_score=0.96) == ([], 0)
        assert label_issues_to_ask(s, min_score=0.9, limit=0) == ([], 0)
        ask_about_findings(s, DEFAULT_PROJECT, [three], taxonomy=TAXONOMY, author="curie")
        assert label_issues_to_ask(s) == ([], 1)  # sent: no longer waiting for review
    assert seven in queued(workspace)


def test_two_first_uses_at_once_share_one_default_project(
    workspace: Workspace, cat: ReviewCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other reviewer's request makes 'review' after this one looked for it, before it
    # makes it: this one asks in theirs instead of failing.
    import synsetlab.annotate.ask as ask

    real = ask.new_project

    def racing(s, slug, **kw):
        with workspace.session() as other:
            real(other, slug, **kw)
        return real(s, slug, **kw)

    monkeypatch.setattr(ask, "new_project", racing)
    issue = cat.findings["label-issue:3"]
    with workspace.session() as s:
        result = ask_about_findings(s, DEFAULT_PROJECT, [issue], taxonomy=TAXONOMY, author="ada")
    assert len(result.asked.added) == 2 and result.sent[issue] is not None
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(AnnotationProject)) == 1
