"""Detectors by name: the registry, RoI pooling against RoI Align, and backbones started from
real classification checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synsetlab.detect import DETECTORS, DetectorConfig, DetectorError, create_detector
from synsetlab.detect.models import MultiScaleRoIPool
from synsetlab.train import resolve_config, train
from synsetlab.train.checkpoint import save_checkpoint
from synsetlab.train.config import TrainConfig
from synsetlab.train.models import create_model
from synsetlab.train.rundir import Progress, checkpoint_state
from tests.detect.tiny_detector import tiny_config
from tests.tiny_version import SMALL, TinyVersion

CLASSES = ["n13873502", "n13879320", "n13883346"]


def _step(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """One training forward and backward on two 48x64 images; the losses."""
    torch.manual_seed(0)
    images = [torch.rand(3, 48, 64) for _ in range(2)]
    targets = [
        {"boxes": torch.tensor([[4.0, 5.0, 30.0, 40.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[10.0, 2.0, 60.0, 20.0], [0.0, 30.0, 12.0, 47.0]]),
         "labels": torch.tensor([2, 3])},
    ]  # fmt: skip
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    return losses


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_registered_detector_trains_and_detects(name: str) -> None:
    model = create_detector(DetectorConfig(model=name, min_size=64, max_size=64), CLASSES)
    losses = _step(model)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness",
                           "loss_rpn_box_reg"}  # fmt: skip
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.roi_heads.box_predictor.cls_score.out_features == len(CLASSES) + 1
    model.eval()
    with torch.no_grad():
        (out,) = model([torch.rand(3, 48, 64)])
    assert out["boxes"].shape[1] == 4 and set(out) == {"boxes", "scores", "labels"}


@pytest.mark.parametrize("roi_op", ["align", "pool"])
def test_roi_pool_and_roi_align_both_train(roi_op: str) -> None:
    model = create_detector(tiny_config(roi_op=roi_op), CLASSES)
    pooler = model.roi_heads.box_roi_pool
    assert isinstance(pooler, MultiScaleRoIPool) == (roi_op == "pool")
    _step(model)
    head = model.roi_heads.box_head.fc6.weight.grad
    assert head is not None and head.abs().sum() > 0
    backbone = next(p for p in model.backbone.body.parameters() if p.requires_grad)
    assert backbone.grad is not None and backbone.grad.abs().sum() > 0


def test_roi_pool_takes_each_box_from_its_fpn_level() -> None:
    """A box is max-pooled from the level torchvision's LevelMapper gives it: a constant
    feature map per level shows which level was read."""
    pool = MultiScaleRoIPool(["0", "1", "2", "3"], output_size=2, sampling_ratio=2)
    sizes = (128, 64, 32, 16)  # strides 4, 8, 16, 32 of a 512 px image
    features = {str(i): torch.full((1, 1, s, s), float(i)) for i, s in enumerate(sizes)}
    sides = (20.0, 250.0, 500.0)  # FPN: level floor(4 + log2(side / 224)), from 2 to 5
    boxes = [torch.tensor([[0.0, 0.0, side, side] for side in sides])]
    out = pool(features, boxes, [(512, 512)])
    assert out.shape == (3, 1, 2, 2)
    assert [out[i].unique().item() for i in range(3)] == [0.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def resnet_checkpoint(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny-cpu classifier (quarter width): two steps of `synsetlab train`."""
    out = tmp_path_factory.mktemp("cls")
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 1, "max_steps": 2, "amp": False})
    train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
    return out / "last.pt"


def test_backbone_from_a_classifier_checkpoint_loads_its_weights(resnet_checkpoint: Path) -> None:
    config = tiny_config(backbone_from=str(resnet_checkpoint))
    model = create_detector(config, CLASSES)
    state = torch.load(resnet_checkpoint, weights_only=True)["state_dict"]
    body = model.backbone.body
    assert torch.equal(body.state_dict()["layer3.0.conv1.weight"], state["layer3.0.conv1.weight"])
    assert torch.equal(body.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    # torchvision's pretrained form: early stages and every batch norm frozen
    assert not body.conv1[0].weight.requires_grad and body.layer4[0].conv1.weight.requires_grad
    assert "FrozenBatchNorm2d" in type(body.layer4[0].bn1).__name__


def _tv_classifier(path: Path, arch: str) -> Path:
    """A synsetlab checkpoint of a torchvision classifier, as `synsetlab train` writes one."""
    torch.manual_seed(1)
    config = TrainConfig(model=arch, epochs=1)
    model = create_model(arch, num_classes=3)
    state = checkpoint_state(config, CLASSES, "v", Progress(), state_dict=model.state_dict())
    return save_checkpoint(path, state)


def test_backbone_from_a_torchvision_classifier_maps_its_keys(tmp_path: Path) -> None:
    path = _tv_classifier(tmp_path / "mnv3.pt", "tv/mobilenet_v3_large")
    config = DetectorConfig(backbone_from=str(path), min_size=64, max_size=64)
    model = create_detector(config, CLASSES)
    state = torch.load(path, weights_only=True)["state_dict"]
    body = model.backbone.body.state_dict()
    assert torch.equal(body["4.block.0.0.weight"], state["features.4.block.0.0.weight"])
    assert torch.equal(body["16.1.running_var"], state["features.16.1.running_var"])
    _step(model)


def test_a_classifier_of_another_architecture_is_refused_naming_what_fits(
    resnet_checkpoint: Path, tmp_path: Path
) -> None:
    config = DetectorConfig(backbone_from=str(resnet_checkpoint))
    with pytest.raises(DetectorError) as e:
        create_detector(config, CLASSES)
    message = str(e.value)
    assert "resnet10t" in message and "tv/mobilenet_v3_large" in message
    assert "--model fasterrcnn" in message
    tv = _tv_classifier(tmp_path / "mnv3.pt", "tv/mobilenet_v3_large")
    with pytest.raises(DetectorError, match="use --model fasterrcnn_mobilenet_v3_large_fpn"):
        create_detector(DetectorConfig(model="fasterrcnn", backbone_from=str(tv)), CLASSES)


def test_unknown_detector_and_backbone_are_refused() -> None:
    with pytest.raises(DetectorError, match=r"unknown detector 'yolo'.*fasterrcnn_resnet50_fpn"):
        create_detector(DetectorConfig(model="yolo"), CLASSES)
    with pytest.raises(DetectorError, match="needs a backbone"):
        create_detector(DetectorConfig(model="fasterrcnn"), CLASSES)
    with pytest.raises(DetectorError, match="unknown timm backbone 'nonet'"):
        create_detector(DetectorConfig(model="fasterrcnn", backbone="nonet"), CLASSES)


def test_backbone_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    torch.save(create_model("resnet10t", num_classes=3).state_dict(), tmp_path / "w.pth")
    config = tiny_config(backbone_weights=str(tmp_path / "w.pth"))  # quarter width: no fit
    with pytest.raises(Exception, match="does not fit the detector's backbone"):
        create_detector(config, CLASSES)
