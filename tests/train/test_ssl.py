"""Self-supervised pretraining: a run's files, its loss, the backbone's reuse, the probes, and
the ``pretrain`` command."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from synsetlab.data import DeviceNormalize, ResumableSampler
from synsetlab.manifest import UnlabelledEntry
from synsetlab.train import load_checkpoint, resolve_config, train
from synsetlab.train.config import TrainConfig
from synsetlab.train.finetune import load_pretrained
from synsetlab.train.interrupt import TrainingInterrupted
from synsetlab.train.loop import SilentReporter
from synsetlab.train.models import create_model
from synsetlab.train.ssl import (
    METHODS,
    UNLABELLED,
    SSLConfig,
    SSLError,
    create_ssl_model,
    knn_accuracy,
    linear_probe,
    pretrain,
    resolve_ssl_config,
    ssl_dataset,
    train_step,
    unlabelled_manifest,
)
from tests.tiny_version import SMALL, TinyVersion

#: SMALL's quarter-width resnet10t at 32 px, with narrow heads and a short queue.
TINY = {
    "model": "resnet10t",
    "model_kwargs": SMALL["model_kwargs"],
    "image_size": 32,
    "batch_size": 12,
    "proj_hidden_dim": 64,
    "proj_dim": 32,
    "queue_size": 48,
    "device": "cpu",
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_run_writes_the_backbone_checkpoint_and_metrics(
    tiny: TinyVersion, tmp_path: Path, method: str
) -> None:
    config = SSLConfig(method=method, epochs=2, **TINY)
    result = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id="v")
    assert (result.epochs_done, result.global_step) == (2, 2 * 5)  # 60 train+val images / 12
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(np.isfinite(r["train_loss"]) for r in records)
    assert all(0 <= r["val_knn_top1_accuracy"] <= 1 for r in records)
    assert (tmp_path / "run" / "config.yaml").read_text().startswith("ssl_config:")
    saved = load_checkpoint(result.checkpoint)
    assert saved["classes"] == list(tiny.manifest.classes) and saved["version_id"] == "v"
    assert saved["ssl_config"]["method"] == method
    assert TrainConfig.model_validate(saved["config"]).model == "resnet10t"
    assert not any(k.startswith("fc.") for k in saved["state_dict"])  # no classifier


class _Interrupt(SilentReporter):
    """Stops the run like Ctrl-C right after epoch ``at`` was checkpointed."""

    def __init__(self, at: int) -> None:
        self.at = at

    def epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.at:
            raise KeyboardInterrupt


def _pretraining_state(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)["ssl_state"]
    return {**state["model"], **{f"buffer.{k}": v for k, v in state["buffers"].items()}}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_resume_continues_exactly(tiny: TinyVersion, tmp_path: Path, method: str) -> None:
    config = SSLConfig(method=method, epochs=3, knn_every=0, **TINY)
    straight = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "a", version_id="v")
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id="v",
                 reporter=_Interrupt(at=1))  # fmt: skip
    with pytest.raises(SSLError, match="already holds a run: continue it with --resume"):
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id="v")
    resumed = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id="v",
                       resume=tmp_path / "b" / "last.pt")  # fmt: skip
    assert (resumed.epochs_done, resumed.global_step) == (3, straight.global_step)
    a, b = (
        _pretraining_state(tmp_path / "a" / "last.pt"),
        _pretraining_state(tmp_path / "b" / "last.pt"),
    )
    assert a.keys() == b.keys()
    queue = [k for k in a if k.startswith("buffer.") and k.endswith(".bank") and a[k].numel()]
    assert bool(queue) == (method == "moco")  # MoCo's queue, outside the state dict
    # Without a queue (SimCLR) lightly leaves the bank's pointer uninitialised: not compared.
    compared = [k for k in a if queue or "memory_bank" not in k]
    different = [k for k in compared if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["train_loss"] for x in lines] == [
        r["train_loss"] for r in straight.history
    ]


class _SignalAt(SilentReporter):
    """Sends this process SIGINT during its ``at``-th step, as Ctrl-C would."""

    def __init__(self, at: int) -> None:
        self.at, self.steps = at, 0

    def step(self, images: int, loss: float, lr: float) -> None:
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_mid_epoch_saves_a_checkpoint_that_resumes_exactly(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    """As a training run does: the step under way ends, last.pt holds it, and the resume
    continues from that step (MoCo: its queue too), its epoch's record whole."""
    config = SSLConfig(method="moco", epochs=2, knn_every=0, **TINY)
    straight = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "a", version_id="v")
    with pytest.raises(TrainingInterrupted) as stopped:
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id="v",
                 reporter=_SignalAt(7))  # fmt: skip
    last = tmp_path / "b" / "last.pt"
    assert stopped.value.checkpoint == last and stopped.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    saved = load_checkpoint(last)
    assert (saved["epoch"], saved["epoch_step"], saved["global_step"]) == (1, 2, 7)  # 5 a epoch
    resumed = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id="v",
                       resume=last)  # fmt: skip
    assert (resumed.epochs_done, resumed.global_step) == (2, straight.global_step)
    a, b = _pretraining_state(tmp_path / "a" / "last.pt"), _pretraining_state(last)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["train_loss"] for x in lines] == [
        r["train_loss"] for r in straight.history
    ]


def test_a_resume_with_another_config_is_refused_unless_forced(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = SSLConfig(epochs=1, knn_every=0, **TINY)
    pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id="v")
    last = tmp_path / "run" / "last.pt"
    longer = config.model_copy(update={"epochs": 2, "lr": 0.002, "workers": 1})
    with pytest.raises(SSLError, match=r"differs .* in epochs \(1 -> 2\), lr \(0\.001 -> 0\.002\)"):
        pretrain(tiny.manifest, tiny.blobs, longer, tmp_path / "run", version_id="v", resume=last)
    with pytest.raises(SSLError, match="dataset version"):
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id="w", resume=last)
    forced = pretrain(tiny.manifest, tiny.blobs, longer, tmp_path / "run", version_id="v",
                      resume=last, force=True)  # fmt: skip
    assert forced.epochs_done == 2 and forced.history[-1]["lr"] > 0  # the 2-epoch cosine
    queue = SSLConfig(method="moco", epochs=1, knn_every=0, **TINY)
    pretrain(tiny.manifest, tiny.blobs, queue, tmp_path / "moco", version_id="v")
    shorter = queue.model_copy(update={"queue_size": 24, "epochs": 2})  # a fresh queue
    resumed = pretrain(tiny.manifest, tiny.blobs, shorter, tmp_path / "moco", version_id="v",
                       resume=tmp_path / "moco" / "last.pt", force=True)  # fmt: skip
    assert resumed.epochs_done == 2
    moco = config.model_copy(update={"method": "moco"})
    with pytest.raises(SSLError, match="pretrained resnet10t with simclr: resume with those"):
        pretrain(tiny.manifest, tiny.blobs, moco, tmp_path / "run", version_id="v", resume=last,
                 force=True)  # fmt: skip
    trained = tmp_path / "trained.pt"
    train(tiny.manifest, tiny.blobs, resolve_config("tiny-cpu", {**SMALL, "max_steps": 1}),
          tmp_path / "t", version_id="v")  # fmt: skip
    with pytest.raises(SSLError, match="is not a checkpoint of `synsetlab pretrain`"):
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "x", version_id="v",
                 resume=tmp_path / "t" / "last.pt")  # fmt: skip
    assert not trained.exists()


def test_the_backbone_loads_into_a_fresh_classifier(tiny: TinyVersion, tmp_path: Path) -> None:
    config = SSLConfig(epochs=1, **TINY)
    result = pretrain(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id="v")
    backbone = load_checkpoint(result.checkpoint)["state_dict"]
    classifier = create_model("resnet10t", num_classes=3, **TINY["model_kwargs"])
    head = classifier.fc.weight.detach().clone()
    assert load_pretrained(classifier, result.checkpoint, tiny.manifest.classes) == 0
    weights = classifier.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in backbone.items())
    assert torch.equal(classifier.fc.weight, head)  # the head stays as initialised
    finetune = resolve_config(
        "tiny-cpu", {**SMALL, "epochs": 1, "batch_size": 12, "pretrained": str(result.checkpoint)}
    )
    train(tiny.manifest, tiny.blobs, finetune, tmp_path / "finetune", version_id="v")


def test_pretraining_lowers_the_loss_on_a_fixed_batch(tiny: TinyVersion) -> None:
    torch.manual_seed(0)
    config = SSLConfig(**TINY)
    dataset = ssl_dataset(tiny.manifest, tiny.blobs, config)
    items = [dataset[i] for i in ResumableSampler(len(dataset), seed=0)][:24]
    views = (torch.stack([v[0] for v, _ in items]), torch.stack([v[1] for v, _ in items]))
    model = create_ssl_model(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    normalize = DeviceNormalize((0.5,) * 3, (0.25,) * 3)
    losses = [train_step(model, views, optimizer=optimizer, normalize=normalize) for _ in range(8)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_matching_views_cost_less_than_shuffled_ones() -> None:
    torch.manual_seed(0)
    model = create_ssl_model(SSLConfig(**TINY))
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        same = float(model(x, x))
        shuffled = float(model(x, x[torch.randperm(8)]))
    assert same < shuffled


def test_views_differ_and_repeat_under_a_seed(tiny: TinyVersion) -> None:
    dataset = ssl_dataset(tiny.manifest, tiny.blobs, SSLConfig(**TINY))
    (a0, a1), _ = dataset[(3, 42)]
    (b0, b1), _ = dataset[(3, 42)]
    assert a0.dtype == torch.uint8 and a0.shape == (3, 32, 32)
    assert torch.equal(a0, b0) and torch.equal(a1, b1)
    assert not torch.equal(a0, a1)


def test_the_images_come_from_the_chosen_splits_only(tiny: TinyVersion) -> None:
    gathered = unlabelled_manifest(tiny.manifest, ("train", "val"))
    assert gathered.splits == {UNLABELLED: 48 + 12}
    with pytest.raises(SSLError, match="no unlabeled images; its splits: train, val, test"):
        unlabelled_manifest(tiny.manifest, ("unlabeled",))


def test_use_unlabelled_adds_the_images_frozen_without_a_label(tiny: TinyVersion) -> None:
    # The tiny version's test images, recast as the pool a freeze keeps of unlabelled images.
    pool = tuple(
        UnlabelledEntry(**{**e.stored_fields(), "source_key": f"loose{i}.jpg"})
        for i, e in enumerate(tiny.manifest.split("test"))
    )
    labelled = tuple(e for e in tiny.manifest.entries if e.split != "test")
    manifest = replace(tiny.manifest, entries=labelled, unlabelled=pool)
    assert unlabelled_manifest(manifest, ("train",)).splits == {UNLABELLED: 48}
    assert unlabelled_manifest(manifest, ("train",), use_unlabelled=True).splits == {
        UNLABELLED: 48 + 6
    }
    only_pool = unlabelled_manifest(manifest, (), use_unlabelled=True)
    assert {e.sha256 for e in only_pool.entries} == {u.sha256 for u in pool}

    config = SSLConfig(splits=("train",), use_unlabelled=True, **TINY)
    dataset = ssl_dataset(manifest, tiny.blobs, config)
    unlabelled = torch.nonzero(dataset.labels == -1).flatten().tolist()
    assert len(dataset) == 54 and len(unlabelled) == 6
    (view, _), label = dataset[(unlabelled[0], 7)]
    assert label == -1 and view.shape == (3, 32, 32)

    with pytest.raises(SSLError, match="no unlabelled images: ingest some"):
        unlabelled_manifest(tiny.manifest, ("train",), use_unlabelled=True)
    older = replace(tiny.manifest, params={"unlabelled_or_conflicting": 4})
    with pytest.raises(SSLError, match="frozen before synsetlab kept its 4 unlabelled images"):
        unlabelled_manifest(older, ("train",), use_unlabelled=True)
    with pytest.raises(SSLError, match="no images to pretrain on"):
        unlabelled_manifest(tiny.manifest, ())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "byol"}, "unknown method 'byol': one of simclr, moco"),
        ({"model": "tv/resnet18"}, "timm backbones, not torchvision's"),
        ({"optimizer": "lars"}, "optimizer: Input should be 'adamw' or 'sgd'"),
    ],
)
def test_a_bad_config_names_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(SSLError, match=message):
        resolve_ssl_config(overrides)


def test_a_run_refuses_a_used_folder_and_an_oversized_batch(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = SSLConfig(**{**TINY, "batch_size": 100})
    with pytest.raises(SSLError, match="60 images are fewer than one batch of 100"):
        pretrain(tiny.manifest, tiny.blobs, config, tmp_path, version_id="v")
    (tmp_path / "last.pt").touch()
    with pytest.raises(SSLError, match="already holds a run"):
        pretrain(tiny.manifest, tiny.blobs, SSLConfig(**TINY), tmp_path, version_id="v")


def test_knn_votes_by_weighted_similarity() -> None:
    memory = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    queries = np.array([[2, 0.2], [0.3, 3]], dtype=np.float32)  # scale does not matter
    assert knn_accuracy(memory, labels, queries, np.array([0, 1]), k=2) == 1.0
    assert knn_accuracy(memory, labels, queries, np.array([1, 1]), k=4) == 0.5
    with pytest.raises(SSLError, match="hidden labels"):
        knn_accuracy(memory, labels, queries, np.array([-1, 1]))


def test_a_linear_probe_separates_separable_features() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    features = rng.normal(size=(60, 8)) + 4 * np.eye(8)[labels]
    assert linear_probe(features[::2], labels[::2], features[1::2], labels[1::2]) == 1.0


def test_the_pretrain_command_runs_its_example(tmp_path: Path) -> None:
    from synsetlab.cli import pretrain as command
    from synsetlab.cli.context import state
    from synsetlab.splits import SplitPlan, assign_splits
    from synsetlab.versions import freeze
    from synsetlab.workspace import init_workspace
    from tests.tiny_version import picture

    ws = init_workspace(tmp_path / "ws")
    (tmp_path / "src").mkdir()
    for label, wnid in enumerate(("n01440764", "n01443537")):
        folder = tmp_path / "src" / wnid
        folder.mkdir()
        for i in range(8):
            (folder / f"{i}.jpg").write_bytes(picture(label, seed=10 * label + i))
    for i in range(4):  # loose files: images without a label
        (tmp_path / "src" / f"loose{i}.jpg").write_bytes(picture(2, seed=100 + i))
    from synsetlab.ingest.imagefolder import open_imagefolder
    from synsetlab.ingest.pipeline import ingest

    ingest(ws, open_imagefolder(tmp_path / "src"), workers=0)
    assign_splits(ws, SplitPlan(val_per_class=2, test_per_class=1))
    freeze(ws, "v1")
    ws.close()
    app = typer.Typer()
    app.callback()(lambda: None)
    command.register(app)
    state.workspace = tmp_path / "ws"
    try:
        # The docstring's example, at SMALL widths and 32 px so that it takes a second.
        line = "pretrain v1 --method simclr --use-unlabelled --epochs 5"
        small = ["--model", "resnet10t", "--set", "model_kwargs={channels: [8, 16, 32, 64], "
                 "stem_width: 8}", "--image-size", "32", "--batch-size", "6", "--epochs", "1",
                 "--device", "cpu"]  # fmt: skip
        result = CliRunner().invoke(app, line.split() + small)
        assert result.exit_code == 0, result.output
        assert "val k-NN top-1" in result.output
        # 10 train and 4 val images (not the 2 of test), and the 4 loose ones
        assert "18 images of train, val, the unlabelled pool" in result.output
        run_dir = tmp_path / "ws" / "runs" / "simclr-resnet10t-v1"
        assert (run_dir / "last.pt").exists()
        assert f"fine-tune it with synsetlab finetune v1 --from {run_dir / 'last.pt'}" in (
            result.output.replace("\n", "")
        )
        again = CliRunner().invoke(app, line.split() + small)
        assert again.exit_code == 1 and "already holds a run" in again.output
        # Resuming takes the run's own config and folder; a change needs --force.
        resume = ["pretrain", "v1", "--resume", str(run_dir / "last.pt"), "--epochs", "2"]
        refused = CliRunner().invoke(app, resume)
        assert refused.exit_code == 1 and "in epochs (1 -> 2)" in refused.output
        longer = CliRunner().invoke(app, [*resume, "--force"])
        assert longer.exit_code == 0, longer.output
        assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
        hidden = CliRunner().invoke(
            app, [*line.split(), *small, "--split", "test", "--out", str(tmp_path / "t")]
        )  # 2 test images and the 4 loose ones: one batch
        assert hidden.exit_code == 0, hidden.output
        assert "pretraining on the pixels of test, whose labels are hidden" in hidden.output
    finally:
        state.workspace = None
