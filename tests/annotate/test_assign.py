"""Pages of work on a real catalog: what goes to whom, and what never does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from synsetlab.annotate import (
    AnnotationForbiddenError,
    AnnotationNotFoundError,
    catalog_truth,
    next_task,
    submit_task,
)
from synsetlab.annotate.errors import AnnotationConflictError
from synsetlab.catalog import (
    AnnotationClass,
    AnnotationItem,
    Annotator,
    AnnotatorState,
    ItemStatus,
    Label,
    LabelState,
)
from synsetlab.catalog.models import SplitAssignment, utcnow
from synsetlab.workspace import Workspace
from tests.annotate.conftest import CIRCLE, annotator, new_project


def test_no_question_reaches_an_annotator_twice_nor_a_decided_one(shapes: Workspace) -> None:
    new_project(shapes, initial_items=4, initial_votes=3, max_votes=5, gold=0.2, page_size=5)
    truth = catalog_truth(shapes, "verify").right
    people = [annotator(shapes, f"a{i}") for i in range(6)]
    seen: set[tuple[int, int]] = set()
    pages = 0
    for _ in range(40):
        issued = 0
        for person in people:
            with shapes.session() as s:
                task = next_task(s, "verify", person)
                if task is None:
                    continue
                rows = s.execute(
                    select(
                        AnnotationItem.id,
                        AnnotationItem.gold,
                        AnnotationItem.status,
                        AnnotationItem.initial,
                        AnnotationItem.class_id,
                    ).where(AnnotationItem.id.in_(task.item_ids))
                ).all()
                ready = set(
                    s.scalars(
                        select(AnnotationClass.id).where(AnnotationClass.consensus.is_not(None))
                    )
                )
            issued += 1
            assert len({class_id for *_, class_id in rows}) == 1  # one synset a page
            for item_id, gold, status, initial, class_id in rows:
                assert (person, item_id) not in seen
                seen.add((person, item_id))
                if gold is None:
                    assert status is ItemStatus.pending
                    # Until its class has a table, only the initial subset is asked about.
                    assert initial or class_id in ready
            with shapes.session() as s:
                submit_task(s, task.id, person, {i: truth[i] for i in task.item_ids})
            pages += 1
        if not issued:
            break
    assert pages > 20
    with shapes.session() as s:
        pending = s.scalars(
            select(AnnotationItem.id).where(
                AnnotationItem.gold.is_(None), AnnotationItem.status == ItemStatus.pending
            )
        ).all()
    # Six people, five votes at most: every label is decided, or everyone has seen it.
    assert all(sum((p, i) in seen for p in people) == len(people) for i in pending)


def test_the_open_page_comes_back_until_it_is_answered(shapes: Workspace) -> None:
    new_project(shapes, classes=[CIRCLE], initial_items=4, page_size=3, gold=0.0)
    person = annotator(shapes, "ann")
    with shapes.session() as s:
        first = next_task(s, "verify", person)
    with shapes.session() as s:
        again = next_task(s, "verify", person)
    assert first is not None and again == first
    assert len(first.images) == 3 and first.question.startswith("Select every image that shows")
    assert first.lemmas[0] == "circle" and first.examples == ()
    with shapes.session() as s:
        submit_task(s, first.id, person, dict.fromkeys(first.item_ids, True))
    with shapes.session() as s:
        second = next_task(s, "verify", person)
    assert second is not None and second.id != first.id
    assert not set(second.item_ids) & set(first.item_ids)


def test_a_closed_page_is_refused_and_its_images_go_out_again(shapes: Workspace) -> None:
    # One vote a question: a page's questions are out until it is answered or closes.
    new_project(
        shapes,
        classes=[CIRCLE],
        initial_items=12,
        initial_votes=1,
        page_size=20,
        gold=0.0,
        task_minutes=30,
    )
    slow, other = annotator(shapes, "slow"), annotator(shapes, "other")
    start = utcnow()
    with shapes.session() as s:
        page = next_task(s, "verify", slow, now=start)
    assert page is not None and len(page.images) == 12
    with shapes.session() as s:
        assert next_task(s, "verify", other, now=start + timedelta(minutes=29)) is None
    later = start + timedelta(minutes=31)
    closed = r"closed at .* \(pages stay open 30 minutes\)"
    with pytest.raises(AnnotationConflictError, match=closed), shapes.session() as s:
        submit_task(s, page.id, slow, dict.fromkeys(page.item_ids, True), now=later)
    with shapes.session() as s:
        again = next_task(s, "verify", other, now=later)
    assert again is not None and set(again.item_ids) == set(page.item_ids)


def test_gold_is_mixed_in_at_the_projects_share(shapes: Workspace) -> None:
    new_project(shapes, initial_items=12, initial_votes=10, page_size=10, gold=0.2)
    with shapes.session() as s:
        gold = set(s.scalars(select(AnnotationItem.id).where(AnnotationItem.gold.is_not(None))))
    answers = questions = 0
    for i in range(12):
        person = annotator(shapes, f"a{i}")
        with shapes.session() as s:
            task = next_task(s, "verify", person)
        assert task is not None
        questions += len(task.images)
        answers += len(gold & set(task.item_ids))
    # 8 questions + 2 gold a page (0.2 of 10).
    assert answers / questions == pytest.approx(0.2, abs=0.02)


def test_a_stopped_or_unknown_annotator_gets_no_page(shapes: Workspace) -> None:
    new_project(shapes)
    person = annotator(shapes, "gone")
    with shapes.session() as s:
        row = s.get(Annotator, person)
        row.state, row.stop_reason = AnnotatorState.stopped, "2 of 12 gold answers right"
    with (
        pytest.raises(AnnotationForbiddenError, match=r"stopped .*: 2 of 12 gold"),
        shapes.session() as s,
    ):
        next_task(s, "verify", person)
    with (
        pytest.raises(AnnotationNotFoundError, match="annotator 999 is not part"),
        shapes.session() as s,
    ):
        next_task(s, "verify", 999)
    with (
        pytest.raises(AnnotationNotFoundError, match="no annotation project 'nope'"),
        shapes.session() as s,
    ):
        next_task(s, "nope", person)


def test_verified_images_show_as_examples_and_never_as_questions(shapes: Workspace) -> None:
    with shapes.session() as s:
        circles = sorted(s.scalars(select(Label.image_id).where(Label.wnid == CIRCLE)))
        for label in s.scalars(select(Label).where(Label.image_id.in_(circles[:6]))):
            label.state = LabelState.verified
    new_project(shapes, classes=[CIRCLE], page_size=4, gold=0.5)
    with shapes.session() as s:
        gold = set(s.scalars(select(AnnotationItem.image_id).where(AnnotationItem.gold)))
    # The three first verified images are examples; the other three known positives.
    assert gold == set(circles[3:6])
    person = annotator(shapes, "ann")
    with shapes.session() as s:
        task = next_task(s, "verify", person)
    assert [e.image_id for e in task.examples] == circles[:3]
    assert not {e.image_id for e in task.examples} & {i.image_id for i in task.images}


def test_images_split_into_the_hidden_test_set_later_are_never_asked(shapes: Workspace) -> None:
    new_project(shapes, initial_items=4, initial_votes=2, max_votes=3, gold=0.3, page_size=6)
    with shapes.session() as s:
        rows = s.execute(select(AnnotationItem.image_id, AnnotationItem.gold)).all()
        # A later split run hides a candidate's image and a gold question's image.
        hidden = {next(i for i, g in rows if g is None), next(i for i, g in rows if g is not None)}
        s.add_all(SplitAssignment(image_id=i, split="test", hidden=True) for i in hidden)
    truth = catalog_truth(shapes, "verify").right
    people = [annotator(shapes, f"a{n}") for n in range(3)]
    shown: set[int] = set()
    for _ in range(60):
        pages = 0
        for person in people:
            with shapes.session() as s:
                task = next_task(s, "verify", person)
                if task is None:
                    continue
                pages += 1
                shown |= {image.image_id for image in task.images}
                submit_task(s, task.id, person, {i: truth[i] for i in task.item_ids})
        if not pages:
            break
    assert shown and not shown & hidden
