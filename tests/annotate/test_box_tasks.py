"""Box projects on a real SQLite catalog: tasks handed out in order, each bad answer refused
with nothing written, a simulated crowd end to end, aggregation into the catalog with
provenance (and into the next frozen version), undo, and the migration's way down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from synsetlab.annotate import AnnotationError, annotator_for, get_project, next_task
from synsetlab.annotate.box_assign import next_box_task, votes_to_decide
from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
from synsetlab.annotate.box_outcomes import aggregate_boxes, undo_boxes
from synsetlab.annotate.box_projects import BoxOptions, create_box_project
from synsetlab.annotate.box_run import box_truth, draw_only, simulate_box_project
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationForbiddenError,
)
from synsetlab.catalog import Box, make_engine
from synsetlab.catalog.annotation import (
    BoxCoverageVote,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxQualityVote,
    BoxTask,
    DrawingStatus,
)
from synsetlab.catalog.migrate import alembic_config, current_revision, upgrade
from synsetlab.catalog.models import utcnow
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.taxonomy import Taxonomy
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace
from tests.annotate.boxes_world import CLASSES, build, copy

NAME = "boxes"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("boxes"), gold_per_class=3, per_class=4)


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy(template, tmp_path / "ws")
    with ws.session() as s:
        create_box_project(
            s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES), options=BoxOptions()
        )
    yield ws
    ws.close()


def _person(ws: Workspace, name: str) -> int:
    with ws.session() as s:
        return annotator_for(s, get_project(s, NAME), name=name).id


def _counts(ws: Workspace) -> tuple[int, ...]:
    with ws.session() as s:
        rows = [
            s.scalar(select(func.count()).select_from(t))
            for t in (BoxDrawing, BoxQualityVote, BoxCoverageVote, Box)
        ]
        rows.append(s.scalar(select(func.count()).where(BoxTask.submitted_at.is_not(None))))
        return tuple(rows)


def _task(ws: Workspace, who: int, *, gold: float = 0.0):
    with ws.session() as s:
        get_project(s, NAME).gold_fraction = gold
    with ws.session() as s:
        return next_box_task(s, NAME, who)


def test_gold_comes_from_source_boxes_and_boxed_images_are_not_boxed_again(ws: Workspace) -> None:
    with ws.session() as s:
        items = s.execute(select(BoxItem.gold, func.count()).group_by(BoxItem.gold)).all()
        gold_drawings = s.scalars(select(BoxDrawing.gold).where(BoxDrawing.gold.is_not(None)))
        assert sorted(set(gold_drawings)) == [False, True]
    assert dict(items) == {False: 12, True: 9}


def test_a_box_project_refuses_label_pages_and_a_label_project_box_tasks(ws: Workspace) -> None:
    who = _person(ws, "ann")
    with pytest.raises(AnnotationError, match="is a box project"), ws.session() as s:
        next_task(s, NAME, who)


def test_draw_then_verify_then_cover(ws: Workspace) -> None:
    drawer, v1 = _person(ws, "drawer"), _person(ws, "v1")
    task = _task(ws, drawer)
    assert task.kind == "draw" and task.shown == ()
    w, h = task.width, task.height
    with ws.session() as s:
        done = submit_box_task(s, task.id, drawer, {"box": [2, 3, w // 2, h // 2]}, seconds=20)
    assert done.stored and done.drawing_id
    # The drawer never verifies their own box; the next person is asked about it first.
    mine = _task(ws, drawer)
    assert mine is None or (mine.kind == "draw" and mine.item_id != task.item_id)
    verify = _task(ws, v1)
    assert verify.kind == "quality" and verify.drawing_id == done.drawing_id
    with ws.session() as s:
        again = submit_box_task(s, verify.id, v1, {"drawing_id": verify.drawing_id, "answer": True})
        assert again.stored
    # The same answer again stores nothing; another one is refused.
    with ws.session() as s:
        assert submit_box_task(
            s, verify.id, v1, {"drawing_id": verify.drawing_id, "answer": True}
        ).repeat
    with pytest.raises(AnnotationConflictError, match="answered before"), ws.session() as s:
        submit_box_task(s, verify.id, v1, {"drawing_id": verify.drawing_id, "answer": False})
    # Enough yes votes accept the box; then coverage is asked with it shown.
    votes = 1
    while True:
        who = _person(ws, f"v{votes + 1}")
        t = _task(ws, who)
        if t.kind != "quality":
            break
        with ws.session() as s:
            submit_box_task(s, t.id, who, {"drawing_id": t.drawing_id, "answer": True})
        votes += 1
    # Newcomers count as 0.8 accurate: three unanimous yes reach 0.95.
    assert votes == 3
    with ws.session() as s:
        drawing = s.get(BoxDrawing, done.drawing_id)
        assert drawing.status.value == "accepted" and drawing.posterior >= 0.95
    assert t.kind == "coverage" and t.item_id == task.item_id and len(t.shown) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"box": [-1, 0, 10, 10]}, "outside the 64x64 image"),
        ({"box": [0, 0, 64, 10]}, "outside the 64x64 image"),
        ({"box": [20, 5, 10, 30]}, "inverted"),
        ({"box": [5, 5, 5, 30]}, "no area"),
        ({"box": [5, 5, "x", 30]}, "finite numbers"),
        ({"box": [1, 2, 3, 4], "wnid": "n02084071"}, "asks about"),
        ({"extreme": [[1, 1], [2, 2]]}, "four points"),
        ({"item_id": 1, "answer": True}, "asks to draw a box"),
    ],
)
def test_bad_draw_answers_are_refused_and_nothing_is_written(
    ws: Workspace, answer: dict, message: str
) -> None:
    who = _person(ws, "ann")
    task = _task(ws, who)
    assert task.kind == "draw"
    before = _counts(ws)
    with pytest.raises(AnnotationError, match=message), ws.session() as s:
        submit_box_task(s, task.id, who, answer)
    assert _counts(ws) == before


def test_bad_verification_answers_are_refused(ws: Workspace) -> None:
    drawer, other = _person(ws, "drawer"), _person(ws, "other")
    task = _task(ws, drawer)
    with ws.session() as s:
        done = submit_box_task(s, task.id, drawer, {"box": [1, 1, 20, 20]})
    quality = _task(ws, other)
    before = _counts(ws)
    for answer, message in [
        ({"drawing_id": done.drawing_id + 99, "answer": True}, "not on box task"),
        ({"drawing_id": done.drawing_id, "answer": "yes"}, "yes/no"),
        ({"item_id": quality.item_id, "answer": True}, "quality question"),
    ]:
        with pytest.raises(AnnotationError, match=message), ws.session() as s:
            submit_box_task(s, quality.id, other, answer)
    # Someone else's task, and one's own box.
    with pytest.raises(AnnotationForbiddenError, match="another annotator"), ws.session() as s:
        submit_box_task(s, quality.id, drawer, {"drawing_id": done.drawing_id, "answer": True})
    with ws.session() as s:
        s.get(BoxTask, quality.id).annotator_id = drawer
    with pytest.raises(AnnotationForbiddenError, match="your own box"), ws.session() as s:
        submit_box_task(s, quality.id, drawer, {"drawing_id": done.drawing_id, "answer": True})
    assert _counts(ws) == before


def test_coverage_answers_must_name_the_tasks_image_with_boxes(ws: Workspace) -> None:
    who = _person(ws, "ann")
    with ws.session() as s:
        item = s.scalar(select(BoxItem).where(BoxItem.gold.is_(False)).limit(1))
        task = BoxTask(
            project_id=item.project_id, annotator_id=who, kind="coverage", item_id=item.id,
            shown=[], issued_at=utcnow(), expires_at=utcnow() + timedelta(minutes=5),
        )  # fmt: skip
        s.add(task)
        s.flush()
        task_id, item_id = task.id, item.id
    before = _counts(ws)
    with pytest.raises(AnnotationError, match="not on box task"), ws.session() as s:
        submit_box_task(s, task_id, who, {"item_id": item_id + 1, "answer": True})
    with pytest.raises(AnnotationError, match="no boxes shown"), ws.session() as s:
        submit_box_task(s, task_id, who, {"item_id": item_id, "answer": True})
    assert _counts(ws) == before


def test_an_expired_task_is_refused_and_its_image_goes_to_others(ws: Workspace) -> None:
    a, b = _person(ws, "a"), _person(ws, "b")
    task = _task(ws, a)
    later = utcnow() + timedelta(minutes=11)
    before = _counts(ws)
    with pytest.raises(AnnotationConflictError, match="closed"), ws.session() as s:
        submit_box_task(s, task.id, a, {"box": [1, 1, 9, 9]}, now=later)
    assert _counts(ws) == before
    with ws.session() as s:
        get_project(s, NAME).gold_fraction = 0.0
    with ws.session() as s:
        assert next_box_task(s, NAME, b, now=later).item_id == task.item_id


def test_simulated_crowd_end_to_end_then_aggregate_freeze_and_undo(ws: Workspace) -> None:
    with ws.session() as s:
        before = sorted(
            (b.id, b.image_id, b.wnid, b.xmin, b.ymin, b.xmax, b.ymax)
            for b in s.scalars(select(Box))
        )
    truth = box_truth(ws, NAME)
    assert truth.recorded == 12
    run = simulate_box_project(ws, NAME, SimulatedBoxCrowd(BoxCrowdConfig(workers=12)), truth)
    assert run.covered == run.items == 12
    assert run.mean_iou >= 0.75 and run.object_coverage >= 0.8
    assert run.actions["quality"] > 0 and run.actions["coverage"] > 0
    with ws.session() as s:
        done = aggregate_boxes(s, NAME)
    assert done.boxes == run.accepted and done.covered == 12
    with ws.session() as s:
        crowd = s.scalars(select(Box).where(Box.drawing_id.is_not(None))).all()
        assert len(crowd) == run.accepted and all(b.source_id is None for b in crowd)
        crowd_boxes = {(b.image_id, b.xmin, b.ymin, b.xmax, b.ymax) for b in crowd}
    # Aggregating again replaces, never doubles.
    with ws.session() as s:
        assert aggregate_boxes(s, NAME).undone == run.accepted
    # The next frozen version holds them.
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1, seed=0))
    version = freeze(ws, "v1")
    frozen = {
        (e.image_id, b.xmin, b.ymin, b.xmax, b.ymax)
        for e in version.manifest.entries
        for b in e.boxes
    }
    assert crowd_boxes <= frozen
    with ws.session() as s:
        assert undo_boxes(s, NAME) == run.accepted
    with ws.session() as s:
        after = sorted(
            (b.id, b.image_id, b.wnid, b.xmin, b.ymin, b.xmax, b.ymax)
            for b in s.scalars(select(Box))
        )
    assert after == before


def test_without_verification_baseline_runs_on_the_same_truth(ws: Workspace) -> None:
    truth = box_truth(ws, NAME)
    with ws.session() as s:
        items = list(s.scalars(select(BoxItem.id).where(BoxItem.gold.is_(False))))
    run = draw_only(SimulatedBoxCrowd(BoxCrowdConfig(workers=12)), truth, items)
    assert run.accepted == run.drawn > 0 and run.items == 12


def test_bad_options_and_classes_are_refused(ws: Workspace) -> None:
    with pytest.raises(AnnotationError, match="target quality"), ws.session() as s:
        create_box_project(
            s, "x", taxonomy=Taxonomy.wordnet(), classes=list(CLASSES),
            options=BoxOptions(target_quality=1.0),
        )  # fmt: skip
    with pytest.raises(AnnotationError, match="no image to box"), ws.session() as s:
        create_box_project(s, "x", taxonomy=Taxonomy.wordnet(), classes=["n02084071"])
    with pytest.raises(AnnotationError, match="exists already"), ws.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))


def test_migration_0011_goes_down_and_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0010")
    names = set(inspect(engine).get_table_names())
    assert "box_items" not in names and "drawing_id" not in {
        c["name"] for c in inspect(engine).get_columns("boxes")
    }
    upgrade(engine)
    assert current_revision(engine) == "0011"
    assert "kind" in {c["name"] for c in inspect(engine).get_columns("annotation_projects")}


def test_the_box_functions_are_exported_from_synsetlab_annotate() -> None:
    import synsetlab.annotate as annotate

    for name in ("create_box_project", "next_box_task", "submit_box_task", "aggregate_boxes",
                 "undo_boxes", "box_progress", "propose_boxes", "simulate_box_project",
                 "BoxOptions", "BoxTaskView", "BoxProgress", "SimulatedBoxCrowd"):  # fmt: skip
        assert name in annotate.__all__ and getattr(annotate, name) is not None
    assert all(hasattr(annotate, name) for name in annotate.__all__)


def test_gold_is_a_share_of_real_work_of_the_same_kind(ws: Workspace) -> None:
    ann, bob = _person(ws, "ann"), _person(ws, "bob")
    # Nearly every task gold: the first one is a gold image's draw task (drawing is the work
    # there is), scored by IoU against its source boxes.
    task = _task(ws, ann, gold=0.99)
    with ws.session() as s:
        row = s.get(BoxTask, task.id)
        assert task.kind == "draw" and row.gold is True and s.get(BoxItem, task.item_id).gold
        submit_box_task(s, task.id, ann, {"box": [1, 1, 20, 20]})
    # With a crowd box to verify, the gold task is a quality one.
    real = _task(ws, bob)
    with ws.session() as s:
        done = submit_box_task(s, real.id, bob, {"box": [2, 2, 30, 30]})
    assert done.drawing_id
    task = _task(ws, ann, gold=0.99)
    with ws.session() as s:
        assert task.kind == "quality" and s.get(BoxTask, task.id).gold is not None
    # Someone with no real work left gets no gold either.
    with ws.session() as s:
        for item in s.scalars(select(BoxItem).where(BoxItem.gold.is_(False))):
            item.status = BoxItemStatus.covered
        for d in s.scalars(select(BoxDrawing).where(BoxDrawing.gold.is_(None))):
            d.status = DrawingStatus.accepted
    carl = _person(ws, "carl")
    assert _task(ws, carl, gold=0.99) is None


def test_no_more_verifiers_at_once_than_votes_could_decide(ws: Workspace) -> None:
    drawer, v1, v2 = _person(ws, "drawer"), _person(ws, "v1"), _person(ws, "v2")
    task = _task(ws, drawer)
    with ws.session() as s:
        done = submit_box_task(s, task.id, drawer, {"box": [2, 3, 30, 30]})
    for who in (v1, v2):
        t = _task(ws, who)
        with ws.session() as s:
            submit_box_task(s, t.id, who, {"drawing_id": done.drawing_id, "answer": True})
    with ws.session() as s:
        drawing = s.get(BoxDrawing, done.drawing_id)
        project = get_project(s, NAME)
        # Two newcomers' yes: 0.94; one more yes reaches 0.95, one no cannot reject it.
        assert votes_to_decide(drawing.posterior, 2, project) == 1
        assert votes_to_decide(None, 0, project) == 3
        assert votes_to_decide(0.5, project.max_votes - 1, project) == 1
    # Three people ask at once: one is asked about the box, the others get other work.
    kinds = [_task(ws, _person(ws, f"late{i}")) for i in range(3)]
    asked = [t for t in kinds if t.kind == "quality" and t.drawing_id == done.drawing_id]
    assert len(asked) == 1
