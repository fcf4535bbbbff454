"""Questions added to a project after its creation (a reviewer's doubts sent to the crowd):
they join dynamic consensus as the creation's do, never twice, never about a hidden test
image."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from synsetlab.annotate import (
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
    CrowdConfig,
    ProjectOptions,
    SimulatedCrowd,
    catalog_truth,
    get_project,
    list_projects,
    simulate_project,
)
from synsetlab.annotate.ask import DEFAULT_PROJECT, ask_crowd
from synsetlab.catalog import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    Decision,
    DecisionAction,
    Label,
    SplitAssignment,
)
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.annotate.conftest import CIRCLE, PLANE_FIGURE, TRIANGLE, new_project

TAXONOMY = Taxonomy.wordnet()


def labelled(ws: Workspace, wnid: str) -> list[int]:
    """Image ids with a label ``wnid``, ascending."""
    with ws.session() as s:
        return sorted(set(s.scalars(select(Label.image_id).where(Label.wnid == wnid))))


def questions(ws: Workspace, slug: str = "verify") -> dict[tuple[int, str], AnnotationItem]:
    """The project's questions about candidate labels, by (image, wnid)."""
    with ws.session() as s:
        p = get_project(s, slug)
        rows = s.scalars(
            select(AnnotationItem).where(
                AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(None)
            )
        ).all()
        s.expunge_all()
    return {(q.image_id, q.wnid): q for q in rows}


def crowd(seed: int) -> SimulatedCrowd:
    """12 careful workers (right 90% of the time), no spammers."""
    return SimulatedCrowd(CrowdConfig(workers=12, accuracy=(18, 2), spammers=0.0, seed=seed))


def test_new_questions_join_a_decided_class_and_a_new_class_gets_its_initial_subset(
    shapes: Workspace,
) -> None:
    # No gold: every image not a circle would be a known negative of circle (a gold question).
    new_project(shapes, classes=[CIRCLE], initial_items=4, initial_votes=5, max_votes=9,
                gold=0.0, page_size=6)  # fmt: skip
    first = simulate_project(shapes, "verify", crowd(0), catalog_truth(shapes, "verify").right)
    assert first.pending == 0
    triangles = labelled(shapes, TRIANGLE)[:6]
    asked_pairs = [(triangles[0], CIRCLE), *((i, TRIANGLE) for i in triangles)]
    with shapes.session() as s:
        asked = ask_crowd(s, "verify", asked_pairs, taxonomy=TAXONOMY)
    assert (asked.project, asked.created, asked.new_classes) == ("verify", False, [TRIANGLE])
    initial = {(q.image_id, q.wnid): q.initial for q in asked.added}
    assert set(initial) == set(asked_pairs) and asked.skipped == []
    # Circle has its table: the question joins its queue. Triangle is new: 4 of its 6
    # questions are its initial subset.
    assert initial[(triangles[0], CIRCLE)] is False
    assert sum(initial[(i, TRIANGLE)] for i in triangles) == 4
    with shapes.session() as s:
        p = get_project(s, "verify")
        klass = s.scalars(
            select(AnnotationClass).where(
                AnnotationClass.project_id == p.id, AnnotationClass.wnid == TRIANGLE
            )
        ).one()
        assert klass.lemmas.split("; ")[0] == "triangle" and klass.gloss == "a three-sided polygon"
        assert klass.consensus is None and klass.ancestors == []

    # The crowd answers them through next_task and submit_task: every one is decided.
    truth = catalog_truth(shapes, "verify")
    second = simulate_project(shapes, "verify", crowd(1), truth.right)
    assert second.pending == 0
    now = questions(shapes)
    for pair in asked_pairs:
        assert now[pair].status.value == ("accepted" if truth.right[now[pair].id] else "rejected")
    with shapes.session() as s:
        s.add(klass)
        s.refresh(klass)
        assert klass.estimated_at is not None  # the new class got its table

    # Asked again: nothing added, each reported with the crowd's answer, never asked twice.
    with shapes.session() as s:
        again = ask_crowd(s, "verify", asked_pairs, taxonomy=TAXONOMY)
    assert again.added == [] and again.waiting() == set()
    assert len(again.decided()) == len(asked_pairs)
    assert all(x.reason.startswith("decided already:") for x in again.skipped)
    assert len(questions(shapes)) == 12 + 7


def test_a_class_without_its_table_fills_its_initial_subset_first(shapes: Workspace) -> None:
    # 12 circles, an initial subset of 15: three places are left.
    new_project(shapes, classes=[CIRCLE], initial_items=15, gold=0.0)
    triangles = labelled(shapes, TRIANGLE)[:5]
    with shapes.session() as s:
        asked = ask_crowd(s, "verify", [(i, CIRCLE) for i in triangles], taxonomy=TAXONOMY)
        again = ask_crowd(s, "verify", [(triangles[0], CIRCLE)], taxonomy=TAXONOMY)
    assert sum(q.initial for q in asked.added) == 3 and asked.new_classes == []
    assert again.added == [] and again.waiting() == {(triangles[0], CIRCLE)}
    assert again.skipped[0].reason == "asked already, waiting for the crowd (0 yes, 0 no)"
    subset = [q for q in questions(shapes).values() if q.initial]
    assert len(subset) == 15


def test_a_new_ancestor_class_collects_the_yes_of_its_descendants(shapes: Workspace) -> None:
    new_project(shapes, classes=[CIRCLE], gold=0.0)
    circle = labelled(shapes, CIRCLE)[0]
    with shapes.session() as s:
        asked = ask_crowd(s, "verify", [(circle, PLANE_FIGURE)], taxonomy=TAXONOMY)
        p = get_project(s, "verify")
        ancestors = dict(
            s.execute(
                select(AnnotationClass.wnid, AnnotationClass.ancestors).where(
                    AnnotationClass.project_id == p.id
                )
            ).all()
        )
    assert asked.new_classes == [PLANE_FIGURE] and asked.gold_positive == 0
    assert ancestors == {CIRCLE: [PLANE_FIGURE], PLANE_FIGURE: []}


def test_gold_and_excluded_images_are_not_asked(shapes: Workspace) -> None:
    new_project(shapes, classes=[CIRCLE], gold=0.2)
    with shapes.session() as s:
        p = get_project(s, "verify")
        negative = s.scalars(
            select(AnnotationItem.image_id).where(
                AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(False)
            )
        ).first()
        gone = labelled(shapes, TRIANGLE)[-1]
        s.add(Decision(image_id=gone, action=DecisionAction.exclude, reason="test"))
    with shapes.session() as s:
        asked = ask_crowd(s, "verify", [(negative, CIRCLE), (gone, TRIANGLE)], taxonomy=TAXONOMY)
    assert asked.added == [] and asked.waiting() == set() and asked.new_classes == []
    reasons = {x.image_id: x.reason for x in asked.skipped}
    assert reasons[negative] == "a gold question of the project (its answer is known: no)"
    assert reasons[gone].startswith("excluded by a curation decision")


def test_the_default_project_is_made_on_first_use(shapes: Workspace) -> None:
    circle = labelled(shapes, CIRCLE)[0]
    with shapes.session() as s:
        first = ask_crowd(s, DEFAULT_PROJECT, [(circle, CIRCLE), (circle, TRIANGLE)],
                          taxonomy=TAXONOMY)  # fmt: skip
        second = ask_crowd(s, DEFAULT_PROJECT, [(circle, CIRCLE)], taxonomy=TAXONOMY)
        p = get_project(s, DEFAULT_PROJECT)
        assert ProjectOptions.of(p) == ProjectOptions()
    assert (first.created, second.created) == (True, False)
    assert first.new_classes == [CIRCLE, TRIANGLE] and len(first.added) == 2
    assert all(q.initial for q in first.added)  # each new class's first question
    # Each new class has gold, as at creation, never about the image asked of it.
    assert first.gold_negative > 0
    with shapes.session() as s:
        gold = s.execute(
            select(AnnotationItem.wnid, AnnotationItem.image_id).where(
                AnnotationItem.gold.is_not(None)
            )
        ).all()
    assert {w for w, _ in gold} == {CIRCLE, TRIANGLE}
    assert (CIRCLE, circle) not in gold and (TRIANGLE, circle) not in gold
    with shapes.session() as s, pytest.raises(AnnotationNotFoundError) as refused:
        ask_crowd(s, "nope", [(circle, CIRCLE)], taxonomy=TAXONOMY)
    assert "no annotation project 'nope'" in str(refused.value)
    assert "or ask in 'review', made on first use" in str(refused.value)


def test_a_hidden_test_image_is_never_sent_to_the_crowd(shapes: Workspace) -> None:
    circles = labelled(shapes, CIRCLE)
    with shapes.session() as s:
        s.add(SplitAssignment(image_id=circles[0], split="test", hidden=True))
    new_project(shapes, "open", classes=[TRIANGLE], include_hidden_test=True)
    for slug in (DEFAULT_PROJECT, "open"):
        with shapes.session() as s, pytest.raises(AnnotationForbiddenError) as refused:
            ask_crowd(s, slug, [(circles[1], CIRCLE), (circles[0], CIRCLE)], taxonomy=TAXONOMY)
        assert f"image {circles[0]} is in the hidden test split" in str(refused.value)
        assert "never goes to the crowd" in str(refused.value)
    # Nothing written: no default project, no question, no class.
    with shapes.session() as s:
        assert [p.slug for p in list_projects(s)] == ["open"]
        assert s.scalar(select(func.count()).select_from(AnnotationClass)) == 1
        asked = s.scalars(select(AnnotationItem).where(AnnotationItem.wnid == CIRCLE)).all()
        assert asked == []


@pytest.mark.parametrize(
    ("pairs", "error", "message"),
    [
        ([], AnnotationError, "nothing to ask"),
        ([(1, "n99999999")], AnnotationError, "unknown class"),
        ([(99999, CIRCLE)], AnnotationNotFoundError, "no image 99999 in the catalog"),
        ([("1", CIRCLE)], AnnotationError, "the image id must be a whole number"),
        ([(1,)], AnnotationError, "give \\(image id, wnid\\) pairs"),
    ],
)
def test_bad_questions_are_refused_and_nothing_is_written(
    shapes: Workspace, pairs: list, error: type[Exception], message: str
) -> None:
    with shapes.session() as s, pytest.raises(error, match=message):
        ask_crowd(s, DEFAULT_PROJECT, pairs, taxonomy=TAXONOMY)
    with shapes.session() as s:
        assert s.scalar(select(func.count()).select_from(AnnotationProject)) == 0
