"""The crowd's record of a version, taken from a real catalog after a simulated crowd voted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from synsetlab.annotate import aggregate_project, project_progress, verified_labels
from synsetlab.annotate.snapshot import fleiss_agreement, snapshot_crowd
from synsetlab.catalog import Label, LabelState
from synsetlab.catalog.current import current_images
from synsetlab.workspace import Workspace
from tests.crowd_version import CLASSES, copy_workspace, crowd_template


@pytest.fixture
def crowd(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy_workspace(crowd_template(tmp_path_factory), tmp_path / "ws")
    yield ws
    ws.close()


def test_fleiss_agreement_on_a_hand_computed_example() -> None:
    # Image 1: 3 yes of 3 (all 3 pairs agree); image 2: 1 yes of 3 (1 of 3 pairs agrees);
    # image 3: one vote, no pair: left out. Observed (1 + 1/3) / 2 = 2/3; yes share 4/6, so
    # chance agreement 4/9 + 1/9 = 5/9 and kappa (2/3 - 5/9) / (1 - 5/9) = 1/4.
    observed, kappa = fleiss_agreement(np.array([3, 1, 1]), np.array([3, 3, 1]))
    assert observed == pytest.approx(2 / 3) and kappa == pytest.approx(0.25)
    assert fleiss_agreement(np.array([2, 4]), np.array([2, 4])) == (1.0, None)  # all yes
    assert fleiss_agreement(np.array([1, 0]), np.array([1, 0])) == (None, None)


def test_the_record_agrees_with_the_catalog(crowd: Workspace) -> None:
    with crowd.session() as s:
        images = [i.image_id for i in current_images(s, include_excluded=True)]
        record = snapshot_crowd(s, images, CLASSES)
        progress = project_progress(s, "verify")
        verdicts = verified_labels(s, images)
    (project,) = record.projects
    assert project.slug == "verify" and project.method == "dynamic"
    assert project.classes == tuple(sorted(CLASSES))
    assert project.questions == progress.images and project.votes == progress.votes
    assert project.discounted_votes == progress.discounted_votes > 0
    assert project.stopped == sum(a.state == "stopped" for a in progress.annotators) >= 1
    assert project.verified == sum(c.accepted for c in progress.classes)
    assert project.rejected == sum(c.rejected for c in progress.classes)
    assert set(record.classes) == set(CLASSES)
    for c in record.classes.values():
        mine = next(p for p in progress.classes if p.wnid == c.wnid)
        assert (c.questions, c.verified, c.rejected) == (mine.images, mine.accepted, mine.rejected)
        assert c.estimated_precision == pytest.approx(mine.estimated_precision)
        assert c.estimated_precision >= 0.997
        assert 0 < c.agreement <= 1 and -1 <= c.kappa <= 1
    assert len(record.annotators) == len(progress.annotators)
    assert record.verified == tuple(verdicts)
    assert len(record.verified) == project.verified
    # No annotator's name is kept: a datasheet may be published.
    assert b"sim-" not in record.to_bytes()


def test_majority_vote_gives_no_precision_estimate(crowd: Workspace) -> None:
    with crowd.session() as s:
        aggregate_project(s, "verify", method="majority")
        images = list(s.scalars(select(Label.image_id)))
        record = snapshot_crowd(s, images, CLASSES)
    assert record.projects[0].method == "majority"
    assert all(c.estimated_precision is None for c in record.classes.values())
    assert {v.method for v in record.verified} == {"majority"}


def test_classes_no_project_asked_about_have_no_record(crowd: Workspace) -> None:
    with crowd.session() as s:
        record = snapshot_crowd(s, [], ["n02084071"])  # dog
    assert not record.asked and record.classes == {} and record.verified == ()


def test_a_label_a_curator_overrode_is_no_longer_counted_as_the_crowds(
    crowd: Workspace,
) -> None:
    with crowd.session() as s:
        images = [i.image_id for i in current_images(s, include_excluded=True)]
        before = snapshot_crowd(s, images, CLASSES)
        first = before.verified[0]
        label = s.scalar(
            select(Label).where(Label.image_id == first.image_id, Label.wnid == first.wnid)
        )
        label.state = LabelState.rejected  # by hand, after the crowd's outcome
        s.flush()
        after = snapshot_crowd(s, images, CLASSES)
    assert len(after.verified) == len(before.verified) - 1
    assert after.projects[0].verified == before.projects[0].verified - 1 == len(after.verified)
    assert after.classes[first.wnid].verified == before.classes[first.wnid].verified - 1
