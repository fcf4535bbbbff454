"""CNN embeddings from a local checkpoint feed duplicate search and label-issue detection
(plumbing: shapes, order, CLI, the checkpoints ``synsetlab train`` writes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.curate.duplicates import content_keys
from synsetlab.curate.features import content_embeddings
from synsetlab.train import resolve_config, train
from synsetlab.train.checkpoint import CheckpointError
from synsetlab.workspace import Workspace
from tests.curate.conftest import fill
from tests.tiny_version import TinyVersion


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t").state_dict(), path)  # made here: no download
    return path


def test_one_row_per_content_in_content_key_order(
    sqlite_workspace: Workspace, tmp_path: Path, weights: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=3)
    vectors = content_embeddings(
        sqlite_workspace, weights, arch="resnet10t", image_size=64, workers=0
    )
    keys = content_keys(sqlite_workspace)
    assert vectors.shape == (len(keys), 512) and vectors.dtype == np.float32
    again = content_embeddings(
        sqlite_workspace, weights, arch="resnet10t", image_size=64, workers=0
    )
    np.testing.assert_allclose(vectors, again, rtol=1e-4, atol=1e-5)


def test_cli_links_with_embeddings_and_refuses_bad_weights(
    sqlite_workspace: Workspace, tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=3)
    monkeypatch.chdir(sqlite_workspace.root)
    runner = CliRunner()
    args = ["curate", "duplicates", "--embeddings", str(weights), "--arch", "resnet10t"]
    result = runner.invoke(app, [*args, "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "Duplicates among 9 contents" in result.stdout
    with pytest.raises(CheckpointError):
        content_embeddings(sqlite_workspace, tmp_path / "missing.pth", arch="resnet10t")
    bad = runner.invoke(app, ["curate", "duplicates", "--embeddings", str(tmp_path / "x.pth")])
    assert bad.exit_code == 1 and "x.pth does not exist" in bad.stderr


@pytest.fixture
def torchvision_run(tiny: TinyVersion, tmp_path: Path) -> Path:
    """A ``synsetlab train`` checkpoint of torchvision's ResNet-18 (one step)."""
    overrides = {"model": "tv/resnet18", "model_kwargs": {}, "data.image_size": 32,
                 "max_steps": 1, "val_split": None, "epochs": 1, "batch_size": 12}  # fmt: skip
    config = resolve_config("tiny-cpu", overrides)
    run = train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    return run.paths.last


def test_a_torchvision_checkpoint_that_evaluate_loads_feeds_both_commands(
    sqlite_workspace: Workspace,
    tmp_path: Path,
    torchvision_run: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue: ``tv/resnet18`` checkpoints were refused ("unknown timm architecture")."""
    fill(sqlite_workspace, tmp_path / "photos", per_class=4)
    monkeypatch.chdir(sqlite_workspace.root)
    runner = CliRunner(env={"COLUMNS": "200"})
    checkpoint = str(torchvision_run)
    result = runner.invoke(
        app, ["curate", "duplicates", "--embeddings", checkpoint, "--workers", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "Duplicates among 12 contents" in result.stdout
    args = ["--features", checkpoint, "--folds", "2", "--image-size", "32", "--workers", "0"]
    result = runner.invoke(app, ["curate", "label-issues", *args])
    assert result.exit_code == 0, result.output
    assert "among 12 images in 3 classes" in result.stdout
    assert f"features: {checkpoint}" in result.stdout
