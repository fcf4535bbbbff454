"""Baselines: the chance baseline's file, and a trained checkpoint's predictions scored and
marked on the boards (:mod:`synsetlab.baselines`, composed above the challenge and training
packages)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta
from pathlib import Path

import pytest

from synsetlab.baselines import baseline_from_checkpoint, class_prior_submission
from synsetlab.catalog import SubmissionStatus, Version
from synsetlab.challenge import answer_key, parse_submission
from synsetlab.challenge.challenges import create_challenge
from synsetlab.challenge.errors import ChallengeError
from synsetlab.manifest import Manifest
from synsetlab.train import resolve_config, train
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace, init_workspace
from tests.challenge.workspace import CLASSES, phase
from tests.tiny_version import SMALL, TinyVersion


def test_the_class_prior_guesses_the_most_frequent_classes_everywhere(ws: Workspace) -> None:
    manifest = load_version(ws, "v1").manifest
    data = class_prior_submission(manifest)
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["ImageId", "PredictionString"]
    assert sorted(r[0] for r in rows[1:]) == sorted({e.sha256 for e in manifest.split("test")})
    # 3 train images a class: equal counts, so class order, and all 4 of them (fewer than 5).
    assert {r[1] for r in rows[1:]} == {" ".join(CLASSES)}
    key = answer_key(manifest, public_fraction=0.5, seed=0)
    assert parse_submission(data, key, task="classification").format == "kaggle"


def test_the_class_prior_needs_a_train_split(ws: Workspace) -> None:
    manifest = load_version(ws, "v1").manifest
    test_only = dataclasses.replace(manifest, entries=tuple(manifest.split("test")))
    with pytest.raises(ChallengeError, match="no train split to take class frequencies from"):
        class_prior_submission(test_only)


def _challenge_on(tiny: TinyVersion, root: Path) -> Workspace:
    """A workspace whose blob store holds the tiny version, and a challenge on its test split."""
    ws = init_workspace(root, blob_url=tiny.blobs.url)
    manifest: Manifest = tiny.manifest
    with ws.session() as s:
        s.add(Version(id=tiny.version_id, name="tiny", images=len(manifest.entries),
                      classes=len(manifest.classes)))  # fmt: skip
    create_challenge(ws, "tiny", name="tiny", slug="tiny", seed=0,
                     phases=[phase("dev", timedelta(hours=-1), timedelta(days=1))])  # fmt: skip
    return ws


def test_a_checkpoint_baseline_is_scored_and_named_after_its_model(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    ws = _challenge_on(tiny, tmp_path / "ws")
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "max_steps": 1,
                                         "val_split": None})  # fmt: skip
    run = train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    try:
        sub = baseline_from_checkpoint(ws, "tiny", run.paths.last, device="cpu")
        named = baseline_from_checkpoint(ws, "tiny", run.paths.last, name="mine")
    finally:
        ws.close()
    assert sub.status == SubmissionStatus.scored and sub.error in (None, "")
    assert sub.baseline == "resnet10t (last.pt)" and named.baseline == "mine"
    assert {"public", "private"} <= set(sub.scores)
