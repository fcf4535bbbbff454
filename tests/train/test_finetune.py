"""Fine-tuning: a head that keeps the rows of shared classes, linear probe, frozen batch norm,
weights from plain state dicts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import timm
import torch

from synsetlab.manifest import Manifest
from synsetlab.taxonomy.ilsvrc import ilsvrc2012_wnids
from synsetlab.train import CheckpointError, load_checkpoint, resolve_config, train
from synsetlab.train.finetune import load_pretrained
from synsetlab.train.parts import build_model
from tests.tiny_version import CLASSES, SMALL, TinyVersion

TIGER_SHARK = "n01491361"


@pytest.fixture(scope="module")
def source(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("source") / "run"
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 1, "batch_size": 12})
    train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
    return out / "last.pt"


def _other_classes(tiny: TinyVersion) -> Manifest:
    """tench's images become tiger sharks: classes (goldfish, great white, tiger shark)."""
    entries = [
        dataclasses.replace(e, wnid=TIGER_SHARK) if e.wnid == CLASSES[0] else e
        for e in tiny.manifest.entries
    ]
    return Manifest(classes=(CLASSES[1], CLASSES[2], TIGER_SHARK), entries=tuple(entries))


def test_the_head_keeps_the_rows_of_shared_classes(tiny: TinyVersion, source: Path) -> None:
    trained = load_checkpoint(source)["state_dict"]
    other = _other_classes(tiny)
    config = resolve_config("tiny-cpu", {**SMALL, "pretrained": str(source), "seed": 3})
    model = build_model(config, other.classes)
    state = model.state_dict()
    assert torch.equal(state["fc.weight"][0], trained["fc.weight"][1])  # goldfish
    assert torch.equal(state["fc.weight"][1], trained["fc.weight"][2])  # great white shark
    assert not any(torch.equal(state["fc.weight"][2], row) for row in trained["fc.weight"])
    assert torch.equal(state["conv1.0.weight"], trained["conv1.0.weight"])


def test_linear_probe_trains_only_the_head_and_keeps_batch_norm(
    tiny: TinyVersion, source: Path, tmp_path: Path
) -> None:
    other = _other_classes(tiny)
    config = resolve_config(
        "tiny-cpu",
        {**SMALL, "pretrained": str(source), "finetune": "linear", "epochs": 1, "batch_size": 12},
    )
    train(other, tiny.blobs, config, tmp_path / "probe", version_id="other")
    before, after = (
        load_checkpoint(source)["state_dict"],
        load_checkpoint(tmp_path / "probe" / "last.pt")["state_dict"],
    )
    changed = {k for k in after if not k.startswith("fc.") and not torch.equal(before[k], after[k])}
    assert not changed, sorted(changed)[:3]  # running statistics included
    assert not torch.equal(before["fc.weight"][1], after["fc.weight"][0])  # the head learned


def test_frozen_batch_norm_keeps_statistics_while_the_rest_learns(
    tiny: TinyVersion, source: Path, tmp_path: Path
) -> None:
    config = resolve_config(
        "tiny-cpu",
        {**SMALL, "pretrained": str(source), "freeze_bn": True, "epochs": 1, "batch_size": 12},
    )
    train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    before = load_checkpoint(source)["state_dict"]
    after = load_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    norms = [k for k in after if k.startswith("bn1.") or ".bn" in k]
    assert norms and all(torch.equal(before[k], after[k]) for k in norms)
    assert not torch.equal(before["conv1.0.weight"], after["conv1.0.weight"])


def test_a_plain_imagenet_state_dict_maps_its_1000_rows_by_sorted_wnid(tmp_path: Path) -> None:
    imagenet = timm.create_model("resnet18", num_classes=1000)
    weights = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), weights)  # as torchvision and timm publish them
    wnids = ilsvrc2012_wnids("sorted")
    model = timm.create_model("resnet18", num_classes=3)
    kept = load_pretrained(model, weights, (CLASSES[1], CLASSES[0], "n99999999"))
    assert kept == 2
    fc = model.state_dict()["fc.weight"]
    assert torch.equal(fc[0], imagenet.fc.weight[wnids.index(CLASSES[1])].detach())
    assert torch.equal(fc[1], imagenet.fc.weight[wnids.index(CLASSES[0])].detach())


def test_unreadable_or_mismatched_weights_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 10)
    model = timm.create_model("resnet18", num_classes=3)
    with pytest.raises(CheckpointError, match="cannot be read as a checkpoint"):
        load_pretrained(model, bad, CLASSES)
    other = tmp_path / "resnet34.pth"
    torch.save(timm.create_model("resnet34", num_classes=3).state_dict(), other)
    with pytest.raises(ValueError, match="do not fit this architecture"):
        load_pretrained(model, other, CLASSES)
