"""Model assistance on a real workspace: a checkpoint trained for seconds gives each question a
calibrated prior, and the simulated crowd then spends fewer votes.

The world (:func:`build_world`, once per module): 90 pictures of three shapes, each in its
own colour (:func:`tests.tiny_version.picture`), ingested as verified labels, split (10 val
per class) and frozen as ``v1``; a quarter-width resnet10t trained on it for a few epochs at
32 px; then 120 candidate pictures of the same shapes, 18 of them filed under a wrong shape,
plus 9 labelled "polygon" (three of them discs: the model answers it by its square and
triangle), 4 labelled "plane figure" (every class of the model is one: it cannot tell) and 6
labelled "heart" (a plane figure the model knows nothing of).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from synsetlab.annotate import (
    ACCEPT,
    REJECT,
    VOTE,
    AnnotationError,
    CrowdConfig,
    SimulatedCrowd,
    get_project,
    independence_table,
    next_actions,
    simulate_project,
)
from synsetlab.annotate.assist import (
    MIN_KNOWN,
    assist_project,
    candidate_priors,
    cap,
    fit_temperature,
    question_log_probs,
    store_priors,
)
from synsetlab.annotate.consensus import ConsensusTable
from synsetlab.catalog import AnnotationItem, Image
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.taxonomy import Taxonomy
from synsetlab.train import resolve_config, train
from synsetlab.train.weights import load_model
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace, init_workspace, open_workspace
from tests.annotate.conftest import new_project
from tests.tiny_version import SMALL, picture

CIRCLE, RECTANGLE, TRIANGLE = "n13873502", "n13883346", "n13879320"
POLYGON, PLANE_FIGURE, HEART = "n13866144", "n13863186", "n13865904"
#: What :func:`tests.tiny_version.picture` draws for each label: a disc, a square, a triangle.
SHAPES = (CIRCLE, RECTANGLE, TRIANGLE)
#: Candidates per shape, and of them filed under another shape.
PER_SHAPE, WRONG_PER_SHAPE = 40, 6


@dataclass(frozen=True)
class World:
    workspace: Path
    checkpoint: Path


def _write(folder: Path, wnid: str, name: str, label: int, seed: int) -> None:
    (folder / wnid).mkdir(parents=True, exist_ok=True)
    (folder / wnid / name).write_bytes(picture(label, seed=seed))


def build_world(root: Path) -> World:
    """The workspace and checkpoint of the module docstring, under ``root``."""
    torch.set_num_threads(1)
    ws = init_workspace(root / "ws")
    seed = root / "seed"
    for label, wnid in enumerate(SHAPES):
        for i in range(30):
            _write(seed, wnid, f"{i}.jpg", label, seed=1000 + 100 * label + i)
    ingest(ws, open_imagefolder(seed), workers=0, label_state="verified")
    assign_splits(ws, SplitPlan(val_per_class=10, test_per_class=0, seed=0))
    version = freeze(ws, "v1")
    # Colour tells the shapes apart here: the recipe's colour augmentations are turned off.
    config = resolve_config(
        "tiny-cpu",
        {**SMALL, "epochs": 8, "batch_size": 12, "seed": 0, "threads": 1, "amp": False,
         "data.channel_permutation": False, "data.invert": 0.0, "data.grayscale": 0.0},
    )  # fmt: skip
    train(version.manifest, ws.blobs, config, root / "run", version_id=version.id)

    crowd = root / "crowd"
    rng = np.random.default_rng(7)
    for label, wnid in enumerate(SHAPES):
        wrong = set(rng.choice(PER_SHAPE, WRONG_PER_SHAPE, replace=False).tolist())
        for i in range(PER_SHAPE):
            true = (label + 1 + i % 2) % 3 if i in wrong else label
            # The true shape is in the name: the crowd's truth (truth_of) reads it.
            _write(crowd, wnid, f"{i}-{true}.jpg", true, seed=5000 + 100 * label + i)
    for i in range(9):
        _write(crowd, POLYGON, f"{i}-{i % 3}.jpg", i % 3, seed=7000 + i)
    for i in range(4):
        _write(crowd, PLANE_FIGURE, f"{i}-{i % 3}.jpg", i % 3, seed=7500 + i)
    for i in range(6):
        _write(crowd, HEART, f"{i}-0.jpg", 0, seed=8000 + i)
    ingest(ws, open_imagefolder(crowd), workers=0)
    ws.close()
    return World(root / "ws", root / "run" / "best.pt")


def truth_of(ws: Workspace, project: str) -> dict[int, bool]:
    """Question id -> right, from the true shape in each crowd file's name (gold: its answer)."""
    taxonomy = Taxonomy.wordnet()
    with ws.session() as s:
        p = get_project(s, project)
        rows = s.execute(
            select(AnnotationItem.id, AnnotationItem.wnid, AnnotationItem.gold, Image.source_key)
            .join(Image, Image.id == AnnotationItem.image_id)
            .where(AnnotationItem.project_id == p.id)
        ).all()
    right = {}
    for item_id, wnid, gold, key in rows:
        if gold is not None:
            right[item_id] = bool(gold)
            continue
        true = SHAPES[int(Path(key).stem.split("-")[1])]
        right[item_id] = true == wnid or wnid in taxonomy.ancestors(true)
    return right


def priors_of(ws: Workspace, project: str) -> dict[int, float | None]:
    with ws.session() as s:
        p = get_project(s, project)
        return dict(
            s.execute(
                select(AnnotationItem.id, AnnotationItem.prior).where(
                    AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(None)
                )
            ).all()
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("assist"))


@pytest.fixture
def ws(world: World, tmp_path: Path) -> Iterator[Workspace]:
    shutil.copytree(world.workspace, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    yield ws
    ws.close()


def test_every_question_whose_class_the_model_knows_gets_a_calibrated_prior(
    ws: Workspace, world: World
) -> None:
    new_project(ws, classes=[*SHAPES, POLYGON, PLANE_FIGURE, HEART], gold=0.1, seed=1)
    report = assist_project(ws, "verify", world.checkpoint, batch_size=32)
    priors = priors_of(ws, "verify")
    assert report.questions == len(priors) == 3 * PER_SHAPE + 9 + 4 + 6
    # Heart: neither it nor a class below it is the model's; plane figure: all three are.
    assert report.unknown == 6 and report.unknown_classes == (HEART,)
    assert report.uninformative == 4 and report.uninformative_classes == (PLANE_FIGURE,)
    # Polygon: the sum of the square's and the triangle's probabilities.
    assert report.priors == 3 * PER_SHAPE + 9 and report.via_descendants == 9
    assert report.trained_on == 0 and report.unreadable == 0 and report.trained_known
    with ws.session() as s:
        wnid_of = dict(s.execute(select(AnnotationItem.id, AnnotationItem.wnid)).all())
    assert all(
        (prior is None) == (wnid_of[i] in (HEART, PLANE_FIGURE)) for i, prior in priors.items()
    )
    # Val images of v1 (yes) and gold negatives on them (no): fitted on the project.
    c = report.calibration
    assert c.method == "project" and c.answers >= MIN_KNOWN and c.yes >= 10
    assert c.loss_after <= c.loss_before and 0.05 <= c.temperature <= 20
    # Capped at the 0.997 target: the model alone never accepts.
    target = 0.997
    stored = np.array([p for p in priors.values() if p is not None])
    assert stored.min() >= 1 - target - 1e-12 and stored.max() <= target + 1e-12
    assert sum(report.histogram) == report.priors and report.quantiles["max"] <= target
    # The model tells the right labels from the planted wrong ones (it mistakes one of the
    # 18), polygons included, and the share of right candidates it implies is near the
    # truth (102 of 120).
    right = truth_of(ws, "verify")
    for wnids in (SHAPES, (POLYGON,)):
        given = [(p, right[i]) for i, p in priors.items() if wnid_of[i] in wnids]
        right_ones = np.array([p for p, r in given if r])
        wrong_ones = np.array([p for p, r in given if not r])
        assert np.quantile(right_ones, 0.1) > 0.9, (wnids, right_ones)
        assert np.median(wrong_ones) < 0.1 and (wrong_ones > 0.5).sum() <= 1, (wnids, wrong_ones)
    shares = [report.by_class[w].right_share for w in SHAPES]
    assert all(0.75 < share < 0.95 for share in shares), shares
    assert {report.by_class[w].share_from for w in SHAPES} == {"model"}
    assert report.by_class[POLYGON].model_share == pytest.approx(2 / 3)
    assert math.isnan(report.by_class[HEART].right_share)


def test_a_checkpoint_that_shares_no_class_is_refused(ws: Workspace, world: World) -> None:
    new_project(ws, classes=[HEART], gold=0.0)
    with pytest.raises(AnnotationError, match=r"predicts 3 classes .* none of them a class of"):
        assist_project(ws, "verify", world.checkpoint)
    assert set(priors_of(ws, "verify").values()) == {None}
    # Every class of the model is a plane figure: it would call every image one.
    new_project(ws, "figures", classes=[PLANE_FIGURE], gold=0.0)
    with pytest.raises(AnnotationError, match=r"all of them below .* cannot tell"):
        assist_project(ws, "figures", world.checkpoint)


def test_running_again_replaces_the_priors(ws: Workspace, world: World) -> None:
    new_project(ws, classes=[*SHAPES, HEART], gold=0.1, seed=1)
    with ws.session() as s:
        heart = s.scalar(
            select(AnnotationItem.id).where(
                AnnotationItem.wnid == HEART, AnnotationItem.gold.is_(None)
            )
        )
    with ws.session() as s:
        store_priors(s, "verify", {i: 0.5 for i in priors_of(ws, "verify")})
    first = assist_project(ws, "verify", world.checkpoint)
    after_first = priors_of(ws, "verify")
    # Every 0.5 is gone: the model's where it answers, none for the heart questions.
    assert first.stored.replaced == first.priors and first.stored.cleared == 6
    assert after_first[heart] is None and 0.5 not in after_first.values()
    second = assist_project(ws, "verify", world.checkpoint)
    assert second.stored.replaced == second.priors == first.priors
    assert priors_of(ws, "verify") == pytest.approx(after_first)


def test_images_the_model_trained_on_get_no_prior(
    ws: Workspace, world: World, tmp_path: Path
) -> None:
    # The 30 seed triangles again (the same bytes), now as candidate polygons: 20 were in
    # v1's train split, 10 in its val split.
    again = tmp_path / "again"
    for i in range(30):
        _write(again, POLYGON, f"{i}.jpg", 2, seed=1000 + 100 * 2 + i)
    ingest(ws, open_imagefolder(again), workers=0)
    new_project(ws, classes=[POLYGON], gold=0.1)
    report = assist_project(ws, "verify", world.checkpoint)
    assert report.questions == 30 + 9 and report.trained_on == 20 and report.priors == 19
    assert any("trained on" in note for note in report.notes)


def test_calibration_falls_back_to_the_val_split_then_to_none(ws: Workspace, world: World) -> None:
    # No gold, one class: 10 verified val circles are too few known answers for the project.
    new_project(ws, classes=[CIRCLE], gold=0.0)
    report = assist_project(ws, "verify", world.checkpoint)
    assert report.calibration.method == "val" and report.calibration.answers == 30
    assert report.priors == PER_SHAPE
    # No verified polygon, and a checkpoint whose version this workspace lacks (as if
    # trained elsewhere): no calibration; which images it trained on is unknown, as a note says.
    new_project(ws, "polygons", classes=[POLYGON], gold=0.0)
    loaded = load_model(world.checkpoint)
    loaded.version_id = "0" * 64
    report = assist_project(ws, "polygons", loaded)
    assert report.calibration.method == "none" and report.calibration.temperature == 1.0
    assert not report.trained_known and any("not in this workspace" in n for n in report.notes)
    assert report.priors == 9


def test_bad_priors_are_refused_with_nothing_written(ws: Workspace) -> None:
    new_project(ws, classes=list(SHAPES), gold=0.1)
    ids = list(priors_of(ws, "verify"))
    with ws.session() as s:
        gold = s.scalar(select(AnnotationItem.id).where(AnnotationItem.gold.is_not(None)))
    with ws.session() as s, pytest.raises(AnnotationError, match="not candidate questions"):
        store_priors(s, "verify", {ids[0]: 0.5, gold: 0.5})
    with ws.session() as s, pytest.raises(AnnotationError, match=r"prior 1.5 .* in \[0, 1\]"):
        store_priors(s, "verify", {ids[0]: 1.5})
    with ws.session() as s, pytest.raises(AnnotationError, match=r"prior nan"):
        store_priors(s, "verify", {ids[0]: math.nan})
    assert set(priors_of(ws, "verify").values()) == {None}


def test_with_priors_the_crowd_spends_fewer_votes_at_no_lower_precision(
    ws: Workspace, world: World
) -> None:
    runs = {}
    for slug, assisted in (("plain", False), ("assisted", True)):
        new_project(ws, slug, classes=list(SHAPES), initial_items=10, gold=0.1, seed=1)
        if assisted:
            assist_project(ws, slug, world.checkpoint)
        # The same 20 workers (mean accuracy 0.8, 10% spammers) for both projects.
        crowd = SimulatedCrowd(CrowdConfig(workers=20, spammers=0.1, seed=2))
        runs[slug] = simulate_project(ws, slug, crowd, truth_of(ws, slug))
    plain, assisted = runs["plain"], runs["assisted"]
    assert plain.pending == assisted.pending == 0
    # 30 subset questions get 10 votes either way; the other 90 needed ~3-4 votes each
    # without priors and ~1-2 with them.
    assert assisted.votes_per_image < 0.8 * plain.votes_per_image, (plain, assisted)
    wrong_accepted = {k: r.accepted - r.accepted_right for k, r in runs.items()}
    assert wrong_accepted["assisted"] <= wrong_accepted["plain"], wrong_accepted
    assert assisted.accepted_right >= plain.accepted_right
    assert assisted.wrong_rejected >= plain.wrong_rejected - 1
    # Run again once the tables exist: the share of right candidates is theirs.
    again = assist_project(ws, "assisted", world.checkpoint)
    assert {again.by_class[w].share_from for w in SHAPES} == {"table"}
    assert all(0.7 < again.by_class[w].right_share < 0.97 for w in SHAPES)


# The arithmetic, by hand -------------------------------------------------------------------------


def test_the_yes_probability_sums_the_classes_below_the_synset() -> None:
    log_probs = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    columns = [np.array([0]), np.array([1, 2])]  # synset 0 = class 0; synset 1 = classes 1, 2
    log_yes, log_no = question_log_probs(log_probs, columns, np.array([0, 1]))
    assert np.exp(log_yes) == pytest.approx([0.5, 0.9])
    assert np.exp(log_no) == pytest.approx([0.5, 0.1])
    # T = 2 on row 0: softmax of the square roots, 0.5^0.5 / (0.5^0.5 + 0.3^0.5 + 0.2^0.5).
    log_yes, _ = question_log_probs(log_probs[:1], columns, np.array([0]), temperature=2.0)
    expected = 0.5**0.5 / (0.5**0.5 + 0.3**0.5 + 0.2**0.5)
    assert np.exp(log_yes) == pytest.approx([expected])


def test_em_finds_the_share_of_right_candidates() -> None:
    # A model of separation 2 (model_prior's): log ratio 2 * score, score N(+-1, 1).
    rng = np.random.default_rng(1)
    right = rng.random(3000) < 0.8
    log_ratio = 2.0 * (np.where(right, 1.0, -1.0) + rng.standard_normal(3000))
    p, share = candidate_priors(log_ratio)
    assert share == pytest.approx(0.8, abs=0.02) and p.mean() == pytest.approx(share, abs=1e-3)
    # Known share: no EM, the ratio times its odds.
    p, share = candidate_priors(np.array([0.0, math.log(4.0)]), share=0.5)
    assert share == 0.5 and p == pytest.approx([0.5, 0.8])


def test_temperature_scaling_finds_the_overconfidence() -> None:
    # Labels drawn from softmax(z); the model reports softmax(3 z): T should come out near 3.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 5))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    overconfident = 3 * z - np.log(np.exp(3 * z).sum(axis=1, keepdims=True))
    columns = [np.array([c]) for c in range(5)]
    t, before, after = fit_temperature(overconfident, columns, labels, np.ones(4000, dtype=bool))
    assert 2.7 < t < 3.3 and after < before


def test_a_capped_prior_needs_an_agreeing_vote() -> None:
    # A crowd right 80% of the time, half the labels right: one vote is odds x4 or x1/4.
    table = ConsensusTable(
        p_correct=independence_table(0.5, 0.8, 0.8, max_votes=10),
        counts=np.zeros((11, 11, 2)),
        prevalence=0.5,
        sensitivity=0.8,
        specificity=0.8,
        items=0,
        strength=0.0,
    )
    sure = float(cap(np.array([0.999999]), 0.997)[0])
    assert sure == pytest.approx(0.997)
    actions = next_actions([0, 1, 0], [0, 0, 1], table=table, prior=sure)
    # No votes: no decision; one yes: accepted; one no: not accepted (an uncapped 0.999999
    # would have been: odds 1e6 / 4 is past the target's 332).
    assert actions.tolist() == [VOTE, ACCEPT, VOTE]
    assert next_actions(0, 1, table=table, prior=0.999999).tolist() == ACCEPT
    assert REJECT not in actions.tolist()
