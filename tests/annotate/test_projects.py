"""Verification projects on a real catalog: questions, initial subsets, gold, bad options."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from synsetlab.annotate import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationNotFoundError,
    ProjectOptions,
    create_project,
    get_project,
)
from synsetlab.catalog import (
    AnnotationClass,
    AnnotationItem,
    Decision,
    DecisionAction,
    Label,
    LabelState,
    SplitAssignment,
)
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.annotate.conftest import CIRCLE, CLASSES, PLANE_FIGURE, TRIANGLE


def candidates(ws: Workspace) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    with ws.session() as s:
        for image_id, wnid in s.execute(
            select(Label.image_id, Label.wnid).where(Label.state == LabelState.candidate)
        ):
            out.setdefault(wnid, set()).add(image_id)
    return out


def test_a_project_asks_about_every_candidate_label_with_gold(shapes: Workspace) -> None:
    taxonomy = Taxonomy.wordnet()
    given = candidates(shapes)
    with shapes.session() as s:
        made = create_project(
            s, "verify", taxonomy=taxonomy, options=ProjectOptions(initial_items=5, gold=0.2)
        )
    assert made.items == {w: len(given[w]) for w in sorted(CLASSES)}
    assert made.initial == 15 and made.gold_positive == 0  # nothing verified yet
    with shapes.session() as s:
        project = get_project(s, "verify")
        items = s.scalars(select(AnnotationItem).where(AnnotationItem.project_id == project.id))
        by_kind: dict[tuple[str, bool | None], set[int]] = {}
        for item in items:
            by_kind.setdefault((item.wnid, item.gold), set()).add(item.image_id)
            assert item.yes_votes == item.no_votes == 0 and item.posterior is None
        classes = s.scalars(select(AnnotationClass).where(AnnotationClass.project_id == project.id))
        assert {c.wnid: c.lemmas.split("; ")[0] for c in classes} == {
            CIRCLE: "circle",
            TRIANGLE: "triangle",
            "n13883346": "rectangle",
        }
    for wnid in CLASSES:
        assert by_kind[(wnid, None)] == given[wnid]
        # Known negatives: images whose labels are other classes, never this one.
        negatives = by_kind[(wnid, False)]
        assert negatives and not negatives & given[wnid]


def test_gold_negatives_avoid_ancestors_and_descendants(shapes: Workspace) -> None:
    # Some triangles also carry "plane figure" (an ancestor of circle): no gold for circle.
    with shapes.session() as s:
        triangles = sorted(s.scalars(select(Label.image_id).where(Label.wnid == TRIANGLE)))
        for image_id in triangles[:6]:
            s.add(Label(image_id=image_id, wnid=PLANE_FIGURE, state=LabelState.verified))
        create_project(
            s,
            "verify",
            taxonomy=Taxonomy.wordnet(),
            classes=[CIRCLE],
            options=ProjectOptions(gold=0.5),
        )
    with shapes.session() as s:
        rows = s.execute(
            select(AnnotationItem.image_id, AnnotationItem.gold).where(
                AnnotationItem.gold.is_not(None)
            )
        ).all()
    negatives = {i for i, gold in rows if gold is False}
    assert negatives and not negatives & set(triangles[:6])
    assert {gold for _, gold in rows} == {False}


def test_verified_labels_become_known_positives(shapes: Workspace) -> None:
    given = candidates(shapes)
    verified = sorted(given[CIRCLE])[:5]
    with shapes.session() as s:
        for label in s.scalars(select(Label).where(Label.image_id.in_(verified))):
            label.state = LabelState.verified
        made = create_project(s, "verify", taxonomy=Taxonomy.wordnet(), classes=[CIRCLE])
    # The first three (by image id) are kept as the pages' examples, the rest become gold.
    assert made.gold_positive == 2 and made.items[CIRCLE] == len(given[CIRCLE]) - 5
    assert made.skipped == {}


def test_hidden_test_and_excluded_images_are_left_out(shapes: Workspace) -> None:
    circles = sorted(candidates(shapes)[CIRCLE])
    with shapes.session() as s:
        s.add_all(SplitAssignment(image_id=i, split="test", hidden=True) for i in circles[:2])
        s.add(Decision(image_id=circles[2], action=DecisionAction.exclude, reason="test"))
        made = create_project(s, "verify", taxonomy=Taxonomy.wordnet(), classes=[CIRCLE])
        asked = set(s.scalars(select(AnnotationItem.image_id)))
    assert made.skipped == {"hidden test split": 2, "excluded by a curation decision": 1}
    assert not asked & set(circles[:3])
    with shapes.session() as s:
        made = create_project(
            s,
            "with-test",
            taxonomy=Taxonomy.wordnet(),
            classes=[CIRCLE],
            options=ProjectOptions(include_hidden_test=True),
        )
    assert made.items[CIRCLE] == len(circles) - 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"slug": "Bad Name"}, AnnotationError, "project name 'Bad Name'"),
        (
            {"options": ProjectOptions(target_precision=0.4)},
            AnnotationError,
            "target precision 0.4 .choose a value strictly between 0.5 and 1",
        ),
        ({"options": ProjectOptions(target_precision=1.0)}, AnnotationError, "target precision"),
        (
            {"options": ProjectOptions(max_votes=0, gold=1.0)},
            AnnotationError,
            "max votes 0 .* gold 1.0",
        ),
        ({"classes": ["n99999999"]}, AnnotationError, "unknown class.*n99999999"),
        ({"classes": ["n02084071"]}, AnnotationError, "nothing to verify for n02084071 .dog"),
        ({"classes": []}, AnnotationError, "class list is empty"),
    ],
)
def test_bad_projects_are_refused_and_nothing_is_written(
    shapes: Workspace, kwargs: dict, error: type, message: str
) -> None:
    args = {"slug": "verify", **kwargs}
    slug = args.pop("slug")
    with pytest.raises(error, match=message), shapes.session() as s:
        create_project(s, slug, taxonomy=Taxonomy.wordnet(), **args)
    with shapes.session() as s:
        assert s.scalars(select(AnnotationItem)).all() == []


def test_a_taken_name_and_an_unknown_project(shapes: Workspace) -> None:
    with shapes.session() as s:
        create_project(s, "verify", taxonomy=Taxonomy.wordnet(), classes=[CIRCLE])
    with pytest.raises(AnnotationConflictError, match="exists already"), shapes.session() as s:
        create_project(s, "verify", taxonomy=Taxonomy.wordnet(), classes=[TRIANGLE])
    with (
        pytest.raises(
            AnnotationNotFoundError,
            match=r"no annotation project 'nope' \(projects: "
            r"verify\)",
        ),
        shapes.session() as s,
    ):
        get_project(s, "nope")
