"""ONNX export: onnxruntime computes what PyTorch does, the metadata says how to feed it, and a
failed export never leaves or replaces a file."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import typer
from typer.testing import CliRunner

import synsetlab
from synsetlab.cli import export_model as export_model_cli
from synsetlab.data import VersionDataset, create_transform
from synsetlab.train import CheckpointError, resolve_config, train
from synsetlab.train.onnx_export import OnnxExportError, export_onnx
from synsetlab.train.weights import load_model
from tests.tiny_version import CLASSES, SMALL, TinyVersion

#: The issue's bound on onnxruntime's logits against PyTorch's.
ATOL = 1e-4


def _train(tiny: TinyVersion, out: Path, overrides: dict[str, object]) -> Path:
    config = resolve_config("tiny-cpu", {"epochs": 1, "batch_size": 12, **overrides})
    return train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id).paths.last


@pytest.fixture(scope="module")
def checkpoint(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny resnet10t (one epoch, EMA weights too)."""
    return _train(tiny, tmp_path_factory.mktemp("run"), {**SMALL, "ema_decay": 0.9})


@pytest.fixture(scope="module")
def exported(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "model.onnx").path


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_onnxruntime_matches_pytorch_on_real_images(
    tiny: TinyVersion, checkpoint: Path, tmp_path: Path
) -> None:
    report = export_onnx(checkpoint, tmp_path / "model.onnx")
    assert report.path == tmp_path / "model.onnx"
    assert report.size_bytes == report.path.stat().st_size > 0
    assert report.opset == 20 and report.max_abs_diff is not None and report.max_abs_diff < ATOL
    assert (report.architecture, report.num_classes, report.input_size) == ("resnet10t", 3, 32)

    loaded = load_model(checkpoint)
    data = loaded.config.data
    dataset = VersionDataset(
        tiny.manifest, "val", tiny.blobs, transform=create_transform(data, train=False),
        decode_min_side=data.decode_size(train=False),
    )  # fmt: skip
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    x = loaded.normalizer(torch.device("cpu"))(images)
    with torch.no_grad():
        expected = loaded.model(x).numpy()
    (got,) = _session(report.path).run(["logits"], {"images": x.numpy()})
    assert got.shape == (len(dataset), len(CLASSES))
    assert np.abs(got - expected).max() < ATOL
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_the_metadata_says_how_to_feed_the_model(
    tiny: TinyVersion, checkpoint: Path, exported: Path
) -> None:
    session = _session(exported)
    meta = session.get_modelmeta().custom_metadata_map
    config = load_model(checkpoint).config
    assert json.loads(meta["classes"]) == list(CLASSES)
    assert json.loads(meta["mean"]) == list(config.data.mean)
    assert json.loads(meta["std"]) == list(config.data.std)
    assert json.loads(meta["input_size"]) == [3, 32, 32]
    assert json.loads(meta["crop_pct"]) == config.data.crop_pct
    assert meta["dataset_version"] == tiny.version_id
    assert meta["synsetlab_version"] == synsetlab.__version__
    assert (meta["architecture"], meta["weights"]) == ("resnet10t", "ema")
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("images", "tensor(float)", [3, 32, 32])
    assert isinstance(inp.shape[0], str) and out.name == "logits"


@pytest.mark.parametrize("batch", [1, 5])
def test_the_batch_axis_is_dynamic(exported: Path, batch: int) -> None:
    x = np.random.default_rng(batch).standard_normal((batch, 3, 32, 32), dtype=np.float32)
    (logits,) = _session(exported).run(["logits"], {"images": x})
    assert logits.shape == (batch, len(CLASSES))


def test_a_static_batch_and_another_opset(checkpoint: Path, tmp_path: Path) -> None:
    report = export_onnx(checkpoint, tmp_path / "m.onnx", opset=13, dynamic_batch=False)
    assert report.opset == 13 and report.max_abs_diff is not None
    assert report.max_abs_diff < ATOL
    assert _session(report.path).get_inputs()[0].shape == [1, 3, 32, 32]
    with pytest.raises(OnnxExportError, match="opset 30 is not supported: give 9 to 20"):
        export_onnx(checkpoint, tmp_path / "m.onnx", opset=30)


def test_a_corrupt_checkpoint_is_a_clear_error_and_writes_nothing(
    checkpoint: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "last.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt, truncated or not a PyTorch checkpoint"):
        export_onnx(corrupt, tmp_path / "out" / "model.onnx")
    assert not (tmp_path / "out").exists()
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"an earlier export")
    with pytest.raises(CheckpointError, match="does not exist"):
        export_onnx(tmp_path / "missing.pt", existing)
    assert existing.read_bytes() == b"an earlier export" and not _leftovers(tmp_path)


def test_an_existing_file_is_replaced_only_after_a_passing_check(
    checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"an earlier export")
    # No difference is below a tolerance of 0: the check fails after a complete export.
    with pytest.raises(OnnxExportError, match=r"differ from PyTorch's .* not written"):
        export_onnx(checkpoint, out, atol=0.0)
    assert out.read_bytes() == b"an earlier export" and not _leftovers(tmp_path)
    report = export_onnx(checkpoint, out)
    assert out.read_bytes() != b"an earlier export" and not _leftovers(tmp_path)
    assert len(_session(out).get_modelmeta().custom_metadata_map) >= 8
    assert report.size_bytes == out.stat().st_size
    with pytest.raises(OnnxExportError, match="is a folder"):
        export_onnx(checkpoint, tmp_path)
    with pytest.raises(OnnxExportError, match="is the checkpoint itself"):
        export_onnx(checkpoint, checkpoint)
    with pytest.raises(OnnxExportError, match=r"model\.pt: name the ONNX file \*\.onnx"):
        export_onnx(checkpoint, tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


@pytest.mark.parametrize("model", ["resnet18", "tv/resnet18"])
def test_full_width_timm_and_torchvision_models_export(
    tiny: TinyVersion, tmp_path: Path, model: str
) -> None:
    overrides = {"model": model, "model_kwargs": {}, "data.image_size": 32, "max_steps": 1,
                 "val_split": None}  # fmt: skip
    last = _train(tiny, tmp_path / "run", overrides)
    report = export_onnx(last, tmp_path / "model.onnx")
    assert report.architecture == model and report.max_abs_diff is not None
    assert report.max_abs_diff < ATOL
    meta = _session(report.path).get_modelmeta().custom_metadata_map
    assert (meta["architecture"], meta["weights"]) == (model, "model")


def _root() -> None:
    """A stand-in for synsetlab's root command."""


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(_root)
    export_model_cli.register(app)
    return app


def test_the_cli_runs_its_documented_example(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = export_model_cli.export_model.__doc__ or ""
    example = next(line for line in doc.splitlines() if "Example:" in line)
    args = shlex.split(example.split("Example:")[1])[1:]
    assert args[0] == "export-model"
    monkeypatch.chdir(tmp_path)
    Path(args[1]).parent.mkdir(parents=True)
    shutil.copy(checkpoint, args[1])
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert f"exported resnet10t (3 classes, 32 px) to {args[2]}" in result.stdout
    assert "opset 20" in result.stdout and "onnxruntime matches PyTorch" in result.stdout
    assert Path(args[2]).is_file()

    unchecked = runner.invoke(_app(), ["export-model", args[1], "b.onnx", "--no-check",
                                       "--opset", "17"])  # fmt: skip
    assert unchecked.exit_code == 0, unchecked.output
    assert "opset 17" in unchecked.stdout and "onnxruntime" not in unchecked.stdout

    Path("bad.pt").write_bytes(b"not a checkpoint")
    failed = runner.invoke(_app(), ["export-model", "bad.pt", "c.onnx"])
    assert failed.exit_code == 1 and "error:" in failed.stderr
    assert (
        "corrupt, truncated or not a PyTorch" in failed.stderr and "Traceback" not in failed.output
    )
    assert not Path("c.onnx").exists()
