"""Detector training runs: the run folder, exact resumption, DDP under torchrun, refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synsetlab.detect import DetectorError, load_detector, predict_split, train_detector
from synsetlab.detect.run import DetectorResult
from synsetlab.train.checkpoint import CheckpointError, load_checkpoint
from synsetlab.train.history import read_history
from synsetlab.train.weights import load_model
from tests.detect.conftest import ScenesVersion
from tests.detect.tiny_detector import tiny_config
from tests.tiny_version import TinyVersion

WORKER = Path(__file__).with_name("ddp_worker.py")


def _train(scenes: ScenesVersion, out: Path, **changes: object) -> DetectorResult:
    resume = changes.pop("resume", None)
    return train_detector(scenes.manifest, scenes.blobs, tiny_config(**changes), out,
                          version_id=scenes.version_id, resume=resume)  # fmt: skip


@pytest.fixture(scope="module")
def straight(det_scenes: ScenesVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two whole epochs of the tiny detector (3 steps each)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    result = _train(det_scenes, out)
    assert (result.epochs_done, result.global_step, result.stopped_early) == (2, 6, False)
    return out


def test_a_run_writes_its_folder(straight: Path, det_scenes: ScenesVersion) -> None:
    assert {"config.yaml", "metrics.jsonl", "last.pt", "best.pt", "tensorboard"} <= {
        p.name for p in straight.iterdir()
    }
    assert any(
        p.name.startswith("events.out.tfevents") for p in (straight / "tensorboard").iterdir()
    )
    history = read_history(straight / "metrics.jsonl")
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(0 <= r["val_det_map"] <= 1 and r["train_loss"] > 0 for r in history)
    state = load_checkpoint(straight / "last.pt")
    assert state["task"] == "detection" and state["classes"] == list(det_scenes.manifest.classes)
    assert state["config"]["mean"] is not None  # resolved: the checkpoint rebuilds alone
    best = max(history, key=lambda r: r["val_det_map"])
    assert load_checkpoint(straight / "best.pt")["epoch"] == best["epoch"]
    config = (straight / "config.yaml").read_text()
    assert "model: fasterrcnn" in config and "precision:" in config


def test_predictions_of_a_split_in_stored_pixels(straight: Path, det_scenes: ScenesVersion) -> None:
    loaded = load_detector(straight / "best.pt")
    seen: list[int] = []
    found = predict_split(loaded, det_scenes.manifest, det_scenes.blobs, split="test",
                          batch_size=4, max_per_image=5, progress=seen.append)  # fmt: skip
    entries = det_scenes.manifest.split("test")
    assert [d.sha256 for d in found] == [e.sha256 for e in entries] and sum(seen) == len(entries)
    for d, e in zip(found, entries, strict=True):
        assert len(d.boxes) <= 5 and d.boxes.shape == (len(d.scores), 4)
        assert (d.boxes[:, :2] >= 0).all() and (d.boxes[:, 2] <= e.width - 1).all()
        assert (d.boxes[:, 3] <= e.height - 1).all() and (d.boxes[:, 2:] >= d.boxes[:, :2]).all()
        assert (d.scores[:-1] >= d.scores[1:]).all()
        assert ((d.labels >= 0) & (d.labels < len(loaded.classes))).all()


def test_a_resumed_run_ends_with_the_same_weights_bit_for_bit(
    straight: Path, det_scenes: ScenesVersion, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = _train(det_scenes, out, max_steps=4)  # stops one step into epoch 2
    assert (first.epochs_done, first.global_step, first.stopped_early) == (1, 4, True)
    done = _train(det_scenes, out, resume=out / "last.pt")
    assert (done.epochs_done, done.global_step) == (2, 6)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(out / "last.pt")
    different = [
        k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])
    ]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    want, got = read_history(straight / "metrics.jsonl"), read_history(out / "metrics.jsonl")
    assert [{k: v for k, v in r.items() if k != "images_per_s"} for r in got] == [
        {k: v for k, v in r.items() if k != "images_per_s"} for r in want
    ]


def test_a_resume_with_another_config_is_refused(straight: Path, det_scenes: ScenesVersion,
                                                 tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(DetectorError, match=r"hflip \(0.5 -> 0.0\).*--force"):
        _train(det_scenes, tmp_path / "x", hflip=0.0, resume=straight / "last.pt")
    with pytest.raises(DetectorError, match=r"already holds a run.*--resume"):
        _train(det_scenes, straight)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_under_torchrun(det_scenes: ScenesVersion, tmp_path: Path) -> None:
    root = str(Path(__file__).parents[2])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(WORKER), det_scenes.blobs.url, det_scenes.version_id, str(tmp_path / "ddp"),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")
    # 12 images, a global batch of 4 split over 2 processes: 3 steps an epoch, as one process
    assert (state["epoch"], state["global_step"], state["world_size"]) == (2, 6, 2)
    # only rank 0 writes: one metrics line an epoch, not two
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 2


def test_classifier_and_detector_checkpoints_are_refused_by_each_other(
    straight: Path, tmp_path: Path, tiny: TinyVersion
) -> None:
    with pytest.raises(CheckpointError, match="detector from `synsetlab train-detector`"):
        load_model(straight / "best.pt")
    from synsetlab.train import resolve_config, train

    config = resolve_config("tiny-cpu", {"epochs": 1, "max_steps": 1, "data.image_size": 32,
                                         "model_kwargs": {"channels": [8, 16, 32, 64],
                                                          "stem_width": 8}})  # fmt: skip
    train(tiny.manifest, tiny.blobs, config, tmp_path / "cls", version_id=tiny.version_id)
    with pytest.raises(
        CheckpointError, match=r"classifier checkpoint, not a detector.*--backbone-from"
    ):
        load_detector(tmp_path / "cls" / "last.pt")


def test_a_version_without_boxes_is_refused_and_nothing_written(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    with pytest.raises(DetectorError, match="no boxes to train a detector on: draw them"):
        train_detector(tiny.manifest, tiny.blobs, tiny_config(), tmp_path / "run",
                       version_id=tiny.version_id)  # fmt: skip
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("roi_op", ["pool", "align"])
def test_a_run_in_bfloat16_autocast_trains_and_says_so(
    det_scenes: ScenesVersion, tmp_path: Path, roi_op: str
) -> None:
    """``amp: true`` is obeyed where bfloat16 is only emulated (this CPU, maybe): the whole
    step runs under autocast, RoI pooling included, and the run records its precision."""
    result = _train(det_scenes, tmp_path / "run", amp=True, roi_op=roi_op, epochs=1)
    assert result.amp is not None and result.amp.enabled and result.global_step == 3
    history = read_history(tmp_path / "run" / "metrics.jsonl")
    assert history[0]["train_loss"] > 0 and torch.isfinite(torch.tensor(history[0]["train_loss"]))
    assert "bfloat16" in (tmp_path / "run" / "config.yaml").read_text()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["amp"] is True
