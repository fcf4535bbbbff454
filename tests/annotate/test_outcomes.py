"""From votes to label states on a real catalog: aggregate, provenance, undo, summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.annotate import (
    AnnotationError,
    AnnotationSummary,
    aggregate_project,
    annotation_summary,
    catalog_truth,
    next_task,
    project_progress,
    submit_task,
    undo_outcomes,
    verified_labels,
)
from synsetlab.catalog import AnnotationItem, AnnotationOutcome, ItemStatus, Label, LabelState
from synsetlab.workspace import Workspace
from tests.annotate.conftest import CLASSES, annotator, copy_workspace, new_project


def crowd_of_truth_tellers(ws: Workspace, people: int = 6) -> None:
    """``people`` annotators answer every page truthfully until no page is left."""
    truth = catalog_truth(ws, "verify").right
    ids = [annotator(ws, f"a{i}") for i in range(people)]
    while True:
        issued = 0
        for person in ids:
            with ws.session() as s:
                task = next_task(s, "verify", person)
                if task is not None:
                    submit_task(s, task.id, person, {i: truth[i] for i in task.item_ids})
                    issued += 1
        if not issued:
            return


@pytest.fixture(scope="module")
def voted_template(shapes_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shapes after six truthful annotators answered every page (built once)."""
    root = tmp_path_factory.mktemp("voted") / "ws"
    ws = copy_workspace(shapes_template, root)
    new_project(ws, initial_items=6, initial_votes=4, max_votes=6, gold=0.2, page_size=6)
    crowd_of_truth_tellers(ws)
    ws.close()
    return root


@pytest.fixture
def voted(voted_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy_workspace(voted_template, tmp_path / "ws")
    yield ws
    ws.close()


@pytest.mark.parametrize("method", ["dynamic", "majority", "dawid-skene"])
def test_aggregate_then_undo_restores_every_label_state(
    voted: Workspace, method: str, label_states
) -> None:
    before = label_states(voted)
    truth = catalog_truth(voted, "verify").right
    with voted.session() as s:
        done = aggregate_project(s, "verify", method=method)
    after = label_states(voted)
    assert done.verified + done.rejected == sum(
        a != b for a, b in zip(before.values(), after.values(), strict=True)
    )
    assert done.verified > 20 and done.rejected >= 1
    with voted.session() as s:
        items = {
            (image, wnid): item_id
            for item_id, image, wnid in s.execute(
                select(AnnotationItem.id, AnnotationItem.image_id, AnnotationItem.wnid).where(
                    AnnotationItem.gold.is_(None)
                )
            )
        }
        for label in s.scalars(select(Label).where(Label.state != LabelState.candidate)):
            # Truthful voters: every state set agrees with the planted truth.
            right = truth[items[(label.image_id, label.wnid)]]
            assert (label.state is LabelState.verified) == right
        outcomes = s.scalars(select(AnnotationOutcome)).all()
        assert {o.method for o in outcomes} == {method}
        assert all(o.yes_votes + o.no_votes > 0 for o in outcomes)
        assert all(o.state_before is LabelState.candidate for o in outcomes)
    with voted.session() as s:
        undone = undo_outcomes(s, "verify")
    assert undone.restored == done.verified + done.rejected and undone.changed_since == 0
    assert label_states(voted) == before


def test_aggregating_again_replaces_the_earlier_outcomes(voted: Workspace, label_states) -> None:
    before = label_states(voted)
    with voted.session() as s:
        first = aggregate_project(s, "verify", method="majority")
    with voted.session() as s:
        second = aggregate_project(s, "verify", method="dynamic")
    assert second.undone == first.verified + first.rejected
    with voted.session() as s:
        active = s.scalars(select(AnnotationOutcome).where(AnnotationOutcome.undone_at.is_(None)))
        assert {o.method for o in active} == {"dynamic"}
        decided = s.scalars(
            select(AnnotationItem).where(
                AnnotationItem.gold.is_(None), AnnotationItem.status != ItemStatus.pending
            )
        ).all()
    assert second.verified + second.rejected == len(decided)
    with voted.session() as s:
        undo_outcomes(s, "verify")
    assert label_states(voted) == before


def test_undo_leaves_a_label_that_changed_since(voted: Workspace, label_states) -> None:
    with voted.session() as s:
        aggregate_project(s, "verify")
        outcome = s.scalars(select(AnnotationOutcome)).first()
        label = s.get(Label, outcome.label_id)
        label.state = (
            LabelState.rejected
            if outcome.state_after is LabelState.verified
            else (LabelState.verified)
        )
        changed = (label.id, label.state)
    with voted.session() as s:
        undone = undo_outcomes(s, "verify")
    assert undone.changed_since == 1
    assert label_states(voted)[changed[0]] is changed[1]


def test_crowd_verified_labels_carry_their_evidence(voted: Workspace) -> None:
    with voted.session() as s:
        aggregate_project(s, "verify", method="dynamic")
        images = list(s.scalars(select(Label.image_id)))
        verified = verified_labels(s, images)
        n_verified = len(s.scalars(select(Label).where(Label.state == LabelState.verified)).all())
    assert len(verified) == n_verified > 0
    assert [(v.image_id, v.wnid) for v in verified] == sorted(
        (v.image_id, v.wnid) for v in verified
    )
    verdict = verified[0]
    assert verdict.project == "verify" and verdict.method == "dynamic"
    assert verdict.yes >= 1 and verdict.posterior >= 0.997 and verdict.decided_at.endswith("+00:00")
    with voted.session() as s:
        undo_outcomes(s, "verify")
        assert verified_labels(s, images) == []


def test_progress_and_the_datasheets_summary(voted: Workspace) -> None:
    with voted.session() as s:
        progress = project_progress(s, "verify")
        summary = annotation_summary(s, CLASSES)
    assert [c.wnid for c in progress.classes] == sorted(CLASSES)
    for c in progress.classes:
        assert c.accepted + c.rejected + c.pending == c.images and c.table_ready
        assert c.estimated_precision is None or c.estimated_precision >= 0.997
    assert progress.pages > 0 and progress.gold_votes > 0 and progress.open_pages == 0
    assert len(progress.annotators) == 6
    assert all(a.gold_accuracy > 0.7 for a in progress.annotators)  # truthful: all right
    assert set(summary.classes) == set(CLASSES)
    for c in summary.classes.values():
        assert c.projects == ("verify",) and c.agreement == 1.0  # truth tellers agree
        assert 2 <= c.votes_per_image <= 6  # 4 on the initial subset, fewer after
    assert summary.annotators == 6 and summary.stopped == 0 and summary.gold_accuracy == 1.0
    record = json.loads(json.dumps(summary.to_dict()))  # JSON-safe, for a version's record
    assert AnnotationSummary.from_dict(record) == summary


def test_an_unknown_method_is_refused(voted: Workspace) -> None:
    with pytest.raises(AnnotationError, match="method 'vote': choose one of"), voted.session() as s:
        aggregate_project(s, "verify", method="vote")  # type: ignore[arg-type]
