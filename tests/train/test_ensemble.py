"""Ensembles: the mean of the members' probabilities, scored as one model beside them; members
that disagree on their classes are refused; the CLI command runs as documented."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from synsetlab.blobs import BlobStore
from synsetlab.cli import ensemble as ensemble_cli
from synsetlab.cli.app import app as synsetlab_app
from synsetlab.cli.context import state
from synsetlab.manifest import Manifest
from synsetlab.train import load_checkpoint, resolve_config, save_checkpoint, train
from synsetlab.train.ensemble import (
    EnsembleError,
    evaluate_ensemble,
    load_ensemble,
    predict_ensemble,
)
from synsetlab.train.inference import evaluate_split, predict_split
from synsetlab.train.weights import load_model
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.tiny_version import SMALL, TinyVersion

#: A second member of another input size and normalisation than the first.
OTHER = {"data.image_size": 40, "data.mean": [0.5, 0.5, 0.5], "data.std": [0.25, 0.25, 0.25]}


def _train(
    manifest: Manifest, blobs: BlobStore, out: Path, version_id: str, seed: int, **overrides: Any
) -> Path:
    config = resolve_config(
        "tiny-cpu", {**SMALL, "epochs": 2, "batch_size": 12, "seed": seed, **overrides}
    )
    return train(manifest, blobs, config, out, version_id=version_id).paths.best


@pytest.fixture(scope="module")
def members(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("members")
    return [
        _train(tiny.manifest, tiny.blobs, root / "a", tiny.version_id, seed=0),
        _train(tiny.manifest, tiny.blobs, root / "b", tiny.version_id, seed=1, **OTHER),
    ]


def test_the_ensemble_averages_the_members_probabilities(
    tiny: TinyVersion, members: list[Path]
) -> None:
    ensemble = load_ensemble(members, weights=[3, 1])
    assert ensemble.weights == (0.75, 0.25)
    assert ensemble.members[1].config.data.image_size == 40
    out = predict_ensemble(ensemble, tiny.manifest, tiny.blobs, "val", tta_flip=True)
    alone = [
        predict_split(load_model(p), tiny.manifest, tiny.blobs, "val", tta_flip=True)[1]
        for p in members
    ]
    expected = 0.75 * alone[0].probs + 0.25 * alone[1].probs
    np.testing.assert_allclose(out.ensemble.probs, expected, atol=1e-6)
    np.testing.assert_allclose(out.ensemble.probs.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(alone[0].probs, alone[1].probs)
    np.testing.assert_array_equal(out.ensemble.labels, alone[0].labels)
    picked = expected[np.arange(len(expected)), alone[0].labels]
    assert out.ensemble.loss == pytest.approx(float(-np.log(picked).mean()), rel=1e-5)


def test_its_report_sits_beside_the_members_errors(
    tiny: TinyVersion, members: list[Path], tmp_path: Path
) -> None:
    result = evaluate_ensemble(members, tiny.manifest, tiny.blobs, "val", out_dir=tmp_path)
    assert result.report.n_images == 12 and 0 <= result.report.top1_error <= 1
    for path, member in zip(members, result.members, strict=True):
        own = evaluate_split(load_model(path), tiny.manifest, tiny.blobs, "val")
        assert (member.path, member.weight) == (path, 0.5)
        assert member.top1_error == pytest.approx(own.top1_error)
        assert member.top5_error is None  # three classes
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["top1_error"] == pytest.approx(result.report.top1_error)
    assert [m["checkpoint"] for m in document["members"]] == [str(p) for p in members]
    assert (tmp_path / "confusion.png").exists() and (tmp_path / "reliability.png").exists()
    with pytest.raises(ValueError, match="'test' split's labels are hidden"):
        evaluate_ensemble(members, tiny.manifest, tiny.blobs, "test")


def _with_classes(path: Path, classes: list[str], out: Path) -> Path:
    state_ = load_checkpoint(path)
    state_.pop("format")
    return save_checkpoint(out, {**state_, "classes": classes})


def test_members_with_other_classes_are_refused(
    tiny: TinyVersion, members: list[Path], tmp_path: Path
) -> None:
    a, b, c = tiny.manifest.classes
    reordered = _with_classes(members[1], [b, a, c], tmp_path / "reordered.pt")
    message = r"reordered.pt predicts other classes than .*a/best.pt \(the same classes in an"
    with pytest.raises(EnsembleError, match=message):
        load_ensemble([members[0], reordered])
    other = _with_classes(members[1], [a, b, "n01491361"], tmp_path / "other.pt")
    with pytest.raises(EnsembleError, match=r"other.pt .*\(3 classes, 2 of them shared, against"):
        load_ensemble([members[0], members[1], other])


@pytest.mark.parametrize(
    ("weights", "message"),
    [([1.0], "1 weights for 2 checkpoints"), ([1.0, -1.0], "must be non-negative")],
)
def test_bad_weights_are_refused(members: list[Path], weights: list[float], message: str) -> None:
    with pytest.raises(EnsembleError, match=message):
        load_ensemble(members, weights=weights)


@pytest.fixture(scope="module")
def workspace_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a frozen version ``v1`` of 10 synthetic classes, and two small models
    trained on it in ``runs/a`` and ``runs/b``."""
    root = tmp_path_factory.mktemp("ensemble-cli")
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SYNSETLAB_WORKSPACE", raising=False)
        mp.chdir(root)
        for line in (
            "init ws",
            "-w ws synthetic generate ws/shapes --per-class 10 --size 48x48",
            "-w ws ingest manifest ws/shapes/manifest.csv --workers 0",
            "-w ws split --val-per-class 2 --test-per-class 2",
            "-w ws version freeze --name v1",
        ):
            result = runner.invoke(synsetlab_app, shlex.split(line))
            assert result.exit_code == 0, f"{line}\n{result.output}"
    ws = open_workspace(root / "ws")
    v = load_version(ws, "v1")
    for name, seed in (("a", 0), ("b", 1)):
        _train(v.manifest, ws.blobs, root / "ws" / "runs" / name, v.id, seed, batch_size=10)
    ws.close()
    return root / "ws"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A group, so that commands are called by name as under ``synsetlab``."""

    ensemble_cli.register(app)
    return app


def test_the_cli_example_runs_as_documented(
    workspace_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace_runs)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.setattr(state, "workspace", None)
    torch.set_num_threads(1)
    doc = ensemble_cli.ensemble.__doc__ or ""
    example = next(line.strip() for line in doc.splitlines() if "Example:" in line)
    args = shlex.split(example.removeprefix("Example: synsetlab "))
    assert args[:4] == ["ensemble", "runs/a/best.pt", "runs/b/best.pt", "v1"]
    app, runner = _app(), CliRunner(env={"COLUMNS": "200"})

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│" in line}
    assert {"runs/a/best.pt", "runs/b/best.pt", "ensemble"} <= rows.keys()
    document = json.loads(
        (workspace_runs / "runs" / "ensemble-v1-val" / "metrics.json").read_text()
    )
    # 20 val entries, 19 contents: the generator plants one byte-identical pair, counted once.
    assert document["n_images"] == 19 and document["num_classes"] == 10
    assert f"{document['top5_error']:.4f}" in rows["ensemble"]
    assert [m["weight"] for m in document["members"]] == [0.5, 0.5]

    result = runner.invoke(app, [*args, "--weights", "3,1", "--tta", "flip", "--out", "w"])
    assert result.exit_code == 0, result.output
    assert json.loads(Path("w/metrics.json").read_text())["tta_flip"] is True

    for bad, message in (
        (["ensemble", "runs/a/best.pt", "v1"], "give two or more checkpoints, then the version"),
        (["ensemble", "runs/a/best.pt", "runs/b/best.pt"], "put the version after the checkpoints"),
        ([*args, "--weights", "1,x"], "--weights '1,x' is not comma-separated numbers"),
        ([*args, "--weights", "1"], "1 weights for 2 checkpoints"),
        (["ensemble", "runs/a/best.pt", "runs/b/best.pt", "v9"], "no version 'v9'"),
    ):
        result = runner.invoke(app, bad)
        assert result.exit_code == 1 and message in result.output, (bad, result.output)
