"""What a run does beyond the happy path: NaN loss, class balance, schedules, hidden labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from synsetlab.data import VersionDataset
from synsetlab.train import TrainingError, load_checkpoint, resolve_config, train
from synsetlab.train.config import TrainConfig
from synsetlab.train.criteria import create_loss
from synsetlab.train.parts import create_optimizer, create_scheduler, sample_weights
from tests.tiny_version import SMALL, TinyVersion


def test_a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 3, "batch_size": 12,
                                         "save_every_steps": 1, "optim.lr": 1e30,
                                         "optim.name": "sgd", "optim.weight_decay": 0})  # fmt: skip
    with pytest.raises(TrainingError, match=r"the loss is nan at step \d+: .*lower --lr") as e:
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    failed_step = int(str(e.value).split("at step ")[1].split(":")[0])
    assert failed_step > 1  # the warmup's small first rates keep the first steps finite
    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["global_step"] == failed_step - 1
    weights = [v for v in saved["state_dict"].values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in weights)


def test_best_is_the_last_checkpoint_of_the_best_epoch_without_a_second_write(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 2, "batch_size": 12})
    result = train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    best, last = load_checkpoint(result.paths.best), load_checkpoint(result.paths.last)
    errors = [r["val_top1_error"] for r in result.history]
    best_epoch = errors.index(min(errors)) + 1  # the first epoch of least error
    assert best["epoch"] == best_epoch and best["best_val_top1_error"] == min(errors)
    assert len(best["history"]) == best_epoch  # its own epoch's record included
    if best_epoch == 2:
        assert result.paths.best.samefile(result.paths.last)  # linked, not written again
    else:
        assert not torch.equal(best["state_dict"]["fc.weight"], last["state_dict"]["fc.weight"])


def test_hidden_labels_cannot_be_trained_on(tiny: TinyVersion, tmp_path: Path) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "train_split": "test", "batch_size": 2})
    with pytest.raises(TrainingError, match="'test' split has hidden labels"):
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)


def test_sync_bn_across_cpu_processes_is_refused_before_training(tiny: TinyVersion) -> None:
    from synsetlab.train.distributed import World
    from synsetlab.train.parts import build_parts

    config = resolve_config("tiny-cpu", {**SMALL, "sync_bn": True, "batch_size": 12})
    with pytest.raises(TrainingError, match="sync_bn needs CUDA"):
        build_parts(config, tiny.manifest, tiny.blobs, torch.device("cpu"), World(0, 2, 0))


def test_bfloat16_on_a_gpu_without_it_is_refused_before_training(
    tiny: TinyVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU without bfloat16 at all: autocast asked for explicitly (``amp: auto`` would not
    choose it there) must say what to do instead of failing inside the first step. The GPU is
    stood in for: the check comes before anything touches the device."""
    from synsetlab.train.distributed import World
    from synsetlab.train.parts import build_parts

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Tesla V100")
    config = resolve_config("tiny-cpu", {**SMALL, "amp": True})
    assert config.amp is True and config.amp_dtype == "bfloat16"
    with pytest.raises(TrainingError, match=r"Tesla V100 has no bfloat16: use --set amp_dtype="):
        build_parts(config, tiny.manifest, tiny.blobs, torch.device("cuda"), World())


def test_a_batch_larger_than_the_split_is_refused(tiny: TinyVersion, tmp_path: Path) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 1000})
    with pytest.raises(TrainingError, match="fewer than one batch of 1000: lower --batch-size"):
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)


def _imbalanced(tiny: TinyVersion) -> VersionDataset:
    dataset = VersionDataset(tiny.manifest, "train", tiny.blobs)
    keep = [i for i, label in enumerate(dataset.labels.tolist()) if label != 2 or i % 4 == 0]
    dataset.entries = [dataset.entries[i] for i in keep]
    dataset.labels = dataset.labels[keep]
    return dataset


def test_balance_weights_classes_inversely_to_their_size(tiny: TinyVersion) -> None:
    dataset = _imbalanced(tiny)
    counts = dataset.class_counts()
    assert counts.tolist() == [16, 16, 4]
    weights = sample_weights(TrainConfig(balance="sampler"), dataset)
    assert weights is not None
    per_class = torch.zeros(3, dtype=torch.double).index_add_(0, dataset.labels, weights)
    assert torch.allclose(per_class, torch.ones(3, dtype=torch.double))  # equal class mass
    loss = create_loss(TrainConfig(balance="loss"), dataset, torch.device("cpu"))
    assert loss.weight is not None
    assert loss.weight.tolist() == pytest.approx([36 / 48, 36 / 48, 36 / 12])
    assert sample_weights(TrainConfig(), dataset) is None


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"name": "step", "decay_epochs": 2, "decay_rate": 0.1}, [1.0, 1.0, 0.1, 0.1, 0.01]),
        ({"name": "constant"}, [1.0, 1.0, 1.0, 1.0, 1.0]),
        ({"name": "cosine"}, [1.0, 0.9045, 0.6545, 0.3455, 0.0955]),
    ],
)
def test_schedules_follow_their_definition(schedule: dict, expected: list[float]) -> None:
    config = TrainConfig(epochs=5, optim={"lr": 1.0, "name": "sgd"}, schedule=schedule)
    model = torch.nn.Linear(2, 2)
    optimizer = create_optimizer(config, model)
    scheduler = create_scheduler(config, optimizer, steps=10)
    lrs = []
    for epoch in range(5):
        scheduler.step_update(num_updates=epoch * 10)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert np.allclose(lrs, expected, atol=1e-3), lrs


def test_norms_and_biases_are_not_decayed() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optimizer = create_optimizer(TrainConfig(), model)
    decays = {len(g["params"]): g["weight_decay"] for g in optimizer.param_groups}
    assert decays == {1: 5e-4, 3: 0.0}  # conv weight; conv bias, BN weight and bias
