"""A simulated crowd verifies a synthetic workspace through next_task and submit_task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.annotate import (
    AnnotationError,
    AnnotationNotFoundError,
    CrowdConfig,
    SimulatedCrowd,
    catalog_truth,
    simulate_project,
)
from synsetlab.catalog import AnnotationVote
from synsetlab.workspace import Workspace
from tests.annotate.conftest import copy_workspace, new_project


@pytest.fixture
def crowd_ws(crowd_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy_workspace(crowd_template, tmp_path / "ws")
    yield ws
    ws.close()


def test_the_crowd_accepts_right_labels_and_rejects_planted_wrong_ones(crowd_ws: Workspace) -> None:
    new_project(crowd_ws, initial_items=20, gold=0.1, seed=1)
    truth = catalog_truth(crowd_ws, "verify")
    assert truth.recorded == 120 and sum(not truth.right[i] for i in truth.right) > 18
    # 30 workers right 90% of the time on average, 10% of them spammers.
    crowd = SimulatedCrowd(CrowdConfig(workers=30, accuracy=(18, 2), spammers=0.1, seed=1))
    progress: list[int] = []
    run = simulate_project(
        crowd_ws, "verify", crowd, truth.right, on_progress=lambda n, total: progress.append(n)
    )
    assert run.questions == 120 and run.wrong == 18 and run.pending == 0
    assert sum(progress) == 120
    # At a 0.997 target about 0.3 wrong labels are expected among ~100 accepted; seeds 0-3
    # accepted none, rejected all 18 planted ones and kept 88-100% of the 102 right ones.
    assert run.accepted - run.accepted_right <= 2
    assert run.wrong_rejected >= 16
    assert run.accepted_right >= 80
    assert 5 < run.votes_per_image < 10 and run.gold_votes > 0 and run.fast_votes > 0
    # Every answer went through submit_task: stored once per (question, worker), on a page.
    with crowd_ws.session() as s:
        stored, pages = s.execute(
            select(func.count(), func.count(func.distinct(AnnotationVote.task_id)))
        ).one()
    assert stored == run.votes and pages == run.pages


def test_a_budget_stops_the_crowd(crowd_ws: Workspace) -> None:
    new_project(crowd_ws, initial_items=10, gold=0.0, page_size=10)
    truth = catalog_truth(crowd_ws, "verify")
    crowd = SimulatedCrowd(CrowdConfig(workers=12, seed=0))
    run = simulate_project(crowd_ws, "verify", crowd, truth.right, budget=50)
    assert run.out_of_budget and 50 <= run.votes < 60 and run.pending > 0


def test_a_crowd_too_small_or_a_missing_project(crowd_ws: Workspace) -> None:
    new_project(crowd_ws, initial_votes=10)
    truth = catalog_truth(crowd_ws, "verify")
    with pytest.raises(AnnotationError, match=r"5 workers, but each image .* needs 10 votes"):
        simulate_project(crowd_ws, "verify", SimulatedCrowd(CrowdConfig(workers=5)), truth.right)
    with pytest.raises(AnnotationError, match="budget 0"):
        simulate_project(crowd_ws, "verify", SimulatedCrowd(), truth.right, budget=0)
    with pytest.raises(AnnotationNotFoundError, match="no annotation project 'nope'"):
        catalog_truth(crowd_ws, "nope")
