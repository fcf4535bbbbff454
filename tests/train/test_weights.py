"""Models from weights files: one reader behind every loader, each accepted kind of file, and
one message for each way a file cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from synsetlab.taxonomy.ilsvrc import ilsvrc2012_wnids
from synsetlab.train import CheckpointError, load_checkpoint, resolve_config, train
from synsetlab.train.checkpoint import save_checkpoint
from synsetlab.train.finetune import load_pretrained
from synsetlab.train.models import pre_logits
from synsetlab.train.weights import head_classes, load_backbone, load_model, read_weights
from tests.tiny_version import CLASSES, SMALL, TinyVersion


@pytest.fixture(scope="module")
def run(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run that kept EMA weights."""
    out = tmp_path_factory.mktemp("weights") / "run"
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "max_steps": 2,
                                         "ema_decay": 0.5, "val_split": None})  # fmt: skip
    train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
    return out / "last.pt"


def test_a_training_checkpoint_gives_its_ema_weights_classes_and_config(run: Path) -> None:
    saved = read_weights(run)
    checkpoint = load_checkpoint(run)
    assert saved.is_checkpoint and not saved.is_backbone and saved.which == "ema"
    assert saved.classes == list(CLASSES) and saved.arch == "resnet10t"
    assert saved.model_kwargs == SMALL["model_kwargs"]
    assert all(torch.equal(v, checkpoint["state_dict_ema"][k]) for k, v in saved.state_dict.items())
    loaded = load_model(run)
    assert loaded.weights == "ema" and loaded.classes == CLASSES and loaded.path == run
    # The backbone is the classifier without its head, normalised as the run trained.
    backbone = load_backbone(run)
    assert backbone.arch == "resnet10t" and backbone.mean == tuple(loaded.config.data.mean)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone.model(x), pre_logits(loaded.model, x))


def test_a_pretrained_backbone_loads_as_a_backbone_and_a_start_not_as_a_classifier(
    tmp_path: Path,
) -> None:
    """What ``synsetlab pretrain`` saves: a synsetlab checkpoint of a backbone (no head)."""
    source = timm.create_model("test_resnet", num_classes=0)
    path = save_checkpoint(tmp_path / "last.pt", {
        "arch": "test_resnet", "classes": list(CLASSES), "config": {"model": "test_resnet"},
        "ssl_config": {"method": "simclr"}, "state_dict": source.state_dict(),
        "state_dict_ema": None, "epoch": 1, "global_step": 5,
    })  # fmt: skip
    with pytest.raises(CheckpointError, match=r"self-supervised backbone .* fine-tune it first"):
        load_model(path)
    assert read_weights(path).is_backbone
    assert load_backbone(path).model.num_features == source.num_features
    fresh = timm.create_model("test_resnet", num_classes=len(CLASSES))
    assert load_pretrained(fresh, path, CLASSES) == 0  # no head to keep rows of
    torch.testing.assert_close(fresh.conv1[0].weight, source.conv1[0].weight)


def test_a_plain_safetensors_state_dict_loads_as_backbone_and_start(tmp_path: Path) -> None:
    source = timm.create_model("test_resnet", num_classes=3)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    saved = read_weights(path)
    assert saved.header == {} and saved.classes is None and saved.arch is None
    assert load_backbone(path, arch="test_resnet").model.num_classes == 0
    fresh = timm.create_model("test_resnet", num_classes=3)
    assert load_pretrained(fresh, path, CLASSES) == 0  # 3 rows of unknown classes: none kept
    torch.testing.assert_close(fresh.conv1[0].weight, source.conv1[0].weight)


def test_head_rows_stand_for_recorded_classes_or_imagenet(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pth"
    torch.save({"fc.weight": torch.zeros(1000, 4)}, plain)
    assert head_classes(read_weights(plain), 1000) == ilsvrc2012_wnids("sorted")
    assert head_classes(read_weights(plain), 10) is None
    recorded = tmp_path / "timm.pth.tar"
    torch.save({"arch": "x", "classes": list(CLASSES), "state_dict": {"w": torch.zeros(1)}},
               recorded)  # fmt: skip
    assert head_classes(read_weights(recorded), 3) == list(CLASSES)
    with pytest.raises(CheckpointError, match="3 classes for 1000 head rows"):
        head_classes(read_weights(recorded), 1000)


def _loaders(path: Path) -> list:
    model = timm.create_model("test_resnet", num_classes=3)
    return [
        lambda: load_checkpoint(path),
        lambda: load_model(path),
        lambda: read_weights(path),
        lambda: load_backbone(path, arch="test_resnet"),
        lambda: load_pretrained(model, path, CLASSES),
    ]


def test_every_loader_says_the_same_of_an_unreadable_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not weights")
    messages = set()
    for load in _loaders(junk):
        with pytest.raises(CheckpointError) as e:
            load()
        messages.add(str(e.value))
    (message,) = messages
    assert message.startswith(f"{junk} cannot be read as a checkpoint (")
    assert "corrupt, truncated or not a PyTorch" in message and "weights_only" not in message


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "does not exist"), ("folder", "is a folder, not a checkpoint file")],
)
def test_every_loader_says_what_to_give_instead_of_a_missing_file_or_a_folder(
    tmp_path: Path, kind: str, message: str
) -> None:
    path = tmp_path / "run"
    if kind == "folder":
        path.mkdir()
    for load in _loaders(path):
        with pytest.raises(CheckpointError, match=message):
            load()


def test_weights_files_without_weights_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with pytest.raises(CheckpointError, match="holds no state dict"):
        read_weights(empty)
    with pytest.raises(CheckpointError, match="is not a synsetlab training checkpoint"):
        load_model(empty)
