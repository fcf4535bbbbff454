"""Detectors by name (:data:`DETECTORS`): torchvision's Faster R-CNNs, and ``fasterrcnn`` over
any timm backbone under torchvision's feature pyramid; their backbones start from a synsetlab
classification checkpoint or a local weights file. Nothing is downloaded.

Labels follow torchvision: 0 is the background, class ``i`` of a version is label ``i + 1``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import freeze_batch_norm_2d
from torch import nn
from torchvision.models.detection import (
    FasterRCNN,
    fasterrcnn_mobilenet_v3_large_320_fpn,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign, roi_pool
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool
from torchvision.ops.poolers import _setup_scales

from synsetlab.detect.config import DetectorConfig, DetectorError
from synsetlab.train.checkpoint import CheckpointError
from synsetlab.train.weights import SavedWeights, read_weights

__all__ = [
    "DETECTORS",
    "DetectorSpec",
    "MultiScaleRoIPool",
    "TimmFPNBackbone",
    "backbone_source",
    "create_detector",
    "resolve_backbone",
]

#: The generic detector: any timm backbone under torchvision's FPN and Faster R-CNN heads.
GENERIC = "fasterrcnn"


@dataclass(frozen=True)
class DetectorSpec:
    """A torchvision detector of the registry, and the classifier its backbone is."""

    build: Callable[..., FasterRCNN]
    #: The synsetlab classifier (``synsetlab train --model``) whose weights fit the backbone.
    classifier: str
    #: Builds the backbone alone (frozen batch norm, ``trainable`` stages), to start from weights.
    backbone: Callable[[int], nn.Module]
    #: Maps a classifier state-dict key to the backbone body's (``None``: not the body's).
    body_key: Callable[[str], str | None]


def _same_key(key: str) -> str | None:
    return key


def _mobilenet_key(key: str) -> str | None:
    return key.removeprefix("features.") if key.startswith("features.") else None


def _resnet_key(key: str) -> str | None:
    return None if key.startswith("fc.") else key


def _mobilenet(trainable: int) -> nn.Module:
    return mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                              trainable_layers=trainable)  # fmt: skip


def _resnet50(trainable: int) -> nn.Module:
    return resnet_fpn_backbone(backbone_name="resnet50", weights=None, trainable_layers=trainable)


#: Detector name -> how to build it. ``fasterrcnn`` (not listed) takes any timm backbone.
DETECTORS: dict[str, DetectorSpec] = {
    "fasterrcnn_mobilenet_v3_large_fpn": DetectorSpec(
        fasterrcnn_mobilenet_v3_large_fpn, "tv/mobilenet_v3_large", _mobilenet, _mobilenet_key
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": DetectorSpec(
        fasterrcnn_mobilenet_v3_large_320_fpn, "tv/mobilenet_v3_large", _mobilenet, _mobilenet_key
    ),
    "fasterrcnn_resnet50_fpn": DetectorSpec(
        fasterrcnn_resnet50_fpn, "tv/resnet50", _resnet50, _resnet_key
    ),
}


def detector_names() -> list[str]:
    return [*DETECTORS, GENERIC]


class TimmFPNBackbone(nn.Module):
    """A timm ``features_only`` network under torchvision's :class:`FeaturePyramidNetwork`
    (what torchvision's ``BackboneWithFPN`` does for the networks ``IntermediateLayerGetter``
    can walk; timm's feature extraction walks any of its models)."""

    def __init__(self, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(
            body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool()
        )
        #: What torchvision's detection heads read.
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = self.body(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(features)))


class MultiScaleRoIPool(MultiScaleRoIAlign):
    """RoI max pooling (Fast R-CNN's RoIPool) over the FPN levels, each RoI on the level
    torchvision's own ``LevelMapper`` assigns it (the FPN paper's rule).

    Written here because torchvision offers multi-level RoI *Align* only; the level mapping
    and scales are its own (``_setup_scales``), only the pooling op differs.
    """

    def forward(  # type: ignore[override]
        self,
        x: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        features = [v for k, v in x.items() if k in self.featmap_names]
        scales, mapper = _setup_scales(
            features, image_shapes, self.canonical_scale, self.canonical_level
        )
        rois = torch.cat(
            [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
        ).float()
        levels = mapper(boxes)
        first = features[0]
        out = first.new_zeros((len(rois), first.shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, scales, strict=True)):
            index = torch.where(levels == level)[0]
            # fp32, as torchvision's autocast does for roi_align: roi_pool has no CPU bfloat16
            pooled = roi_pool(feature.float(), rois[index], self.output_size, spatial_scale=scale)
            out.index_put_((index,), pooled.to(out.dtype))
        return out


# Backbone weights --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackboneSource:
    """Weights to start a backbone from, and what their file says about them."""

    saved: SavedWeights
    #: The classifier architecture as ``synsetlab train --model`` names it, when recorded.
    arch: str | None
    model_kwargs: dict[str, Any]
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None


def backbone_source(config: DetectorConfig) -> BackboneSource | None:
    """The file ``backbone_from`` or ``backbone_weights`` names, read (``None``: neither)."""
    path = config.backbone_from or config.backbone_weights
    if path is None:
        return None
    saved = read_weights(Path(path))
    if config.backbone_from:
        if saved.header.get("task") == "detection":
            raise DetectorError(
                f"{path} is a detector checkpoint; --backbone-from takes a classifier "
                "(synsetlab train or pretrain): resume a detector run with --resume"
            )
        if not saved.is_checkpoint or saved.arch is None:
            raise DetectorError(
                f"{path} is not a synsetlab classification checkpoint: give plain weights "
                "with --backbone-weights, or a run's best.pt of `synsetlab train`"
            )
    data = (saved.header.get("config") or {}).get("data") or {}
    mean, std = data.get("mean"), data.get("std")
    return BackboneSource(
        saved,
        saved.arch if config.backbone_from else None,
        saved.model_kwargs if config.backbone_from else {},
        None if mean is None else tuple(mean),
        None if std is None else tuple(std),
    )


def resolve_backbone(config: DetectorConfig) -> DetectorConfig:
    """``config`` with what its backbone checkpoint decides filled in: the ``fasterrcnn``
    backbone's architecture and kwargs, and the normalisation (else ImageNet's). A run
    records the result, so that its checkpoints rebuild without the backbone file."""
    if config.model not in DETECTORS and config.model != GENERIC:
        raise DetectorError(
            f"unknown detector {config.model!r}; choose one of {', '.join(detector_names())}"
        )
    source = backbone_source(config)
    update: dict[str, Any] = {}
    if source is not None and source.arch is not None:
        _check_fits(config, source.arch)
        if config.model == GENERIC:  # the weights decide the shape: the kwargs go with them
            update["backbone"] = source.arch
            update["backbone_kwargs"] = source.model_kwargs
    if config.model == GENERIC and (update.get("backbone") or config.backbone) is None:
        raise DetectorError(
            "the fasterrcnn detector needs a backbone: --backbone-from a classification "
            "checkpoint, or --set backbone=<timm model name>"
        )
    if config.mean is None or config.std is None:
        update["mean"] = config.mean or (source and source.mean) or tuple(IMAGENET_DEFAULT_MEAN)
        update["std"] = config.std or (source and source.std) or tuple(IMAGENET_DEFAULT_STD)
    return config.model_copy(update=update)


def _check_fits(config: DetectorConfig, arch: str) -> None:
    """Refuse a classifier of an architecture the detector's backbone is not."""
    path = config.backbone_from
    if config.model == GENERIC:
        if arch.startswith("tv/"):
            fits = [name for name, spec in DETECTORS.items() if spec.classifier == arch]
            hint = f"use --model {fits[0]}" if fits else "train a timm classifier"
            raise DetectorError(
                f"{path} is a torchvision classifier ({arch}); the fasterrcnn detector takes "
                f"timm backbones: {hint}"
            )
        if config.backbone is not None and config.backbone != arch:
            raise DetectorError(
                f"{path} is a {arch} classifier, not the backbone {config.backbone!r} asked for"
            )
        return
    want = DETECTORS[config.model].classifier
    if arch != want:
        raise DetectorError(
            f"{path} is a {arch} classifier, and {config.model}'s backbone is a {want}: give "
            f"a checkpoint of `synsetlab train --model {want}`, or use --model fasterrcnn, "
            f"whose backbone is the checkpoint's own architecture ({arch})"
        )


def _load_body(body: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` (keys already the body's) into ``body``: every body weight must come
    from it, with its shape; weights of layers the detector does not use are left out."""
    own = body.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if wrong or missing:
        example = wrong[:1] or missing[:2]
        raise CheckpointError(
            f"{what} does not fit the detector's backbone: {len(wrong)} weights of another "
            f"shape, {len(missing)} missing (e.g. {example}); it comes from another "
            "architecture or other model kwargs"
        )
    body.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


# Creation ----------------------------------------------------------------------------------------


def create_detector(
    config: DetectorConfig, classes: Sequence[str], *, load_backbone: bool = True
) -> FasterRCNN:
    """A Faster R-CNN for ``classes`` (labels ``1..C``, 0 the background), as ``config``
    asks; call :func:`resolve_backbone` on ``config`` first.

    With ``load_backbone`` (a new run) the backbone starts from ``backbone_from`` or
    ``backbone_weights``; its batch norms are then frozen and only the last
    ``trainable_backbone_layers`` stages train, as torchvision does with pretrained
    backbones. Without (a checkpoint's weights follow), the same architecture is built."""
    config = resolve_backbone(config) if config.mean is None else config
    start = config.backbone_from or config.backbone_weights
    trainable = 3 if config.trainable_backbone_layers is None else config.trainable_backbone_layers
    num_classes = len(classes) + 1
    if config.model == GENERIC:
        model = _generic(config, num_classes, pretrained=bool(start), trainable=trainable)
        body = model.backbone.body
        key_map: Callable[[str], str | None] = _same_key
    else:
        spec = DETECTORS[config.model]
        kwargs = dict(config.model_kwargs)
        if config.anchor_sizes is not None:
            kwargs["rpn_anchor_generator"] = _anchors(config.anchor_sizes, 3)
        model = spec.build(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)
        if start:  # torchvision's pretrained-backbone form: frozen batch norm and early stages
            model.backbone = spec.backbone(trainable)
        body, key_map = model.backbone.body, spec.body_key
    if start and load_backbone:
        state = {}
        for key, value in _source_state(config).items():
            mapped = key_map(key)
            if mapped is not None:
                state[mapped] = value
        _load_body(body, state, start)
    if config.roi_op == "pool":
        align = model.roi_heads.box_roi_pool
        model.roi_heads.box_roi_pool = MultiScaleRoIPool(
            align.featmap_names, align.output_size, align.sampling_ratio
        )
    transform = model.transform
    if config.min_size is not None:
        transform.min_size = (config.min_size,)
    if config.max_size is not None:
        transform.max_size = config.max_size
    transform.image_mean, transform.image_std = list(config.mean), list(config.std)
    return model


def _source_state(config: DetectorConfig) -> dict[str, torch.Tensor]:
    source = backbone_source(config)
    assert source is not None
    return source.saved.state_dict


def _anchors(sizes: Sequence[int], levels: int) -> AnchorGenerator:
    """Anchors of aspect ratios 1:2, 1:1, 2:1: one size per level when ``sizes`` has one per
    level (torchvision's ResNet form), else every size on every level (its MobileNet form)."""
    per_level = tuple((s,) for s in sizes) if len(sizes) == levels else (tuple(sizes),) * levels
    return AnchorGenerator(per_level, ((0.5, 1.0, 2.0),) * levels)


def _generic(
    config: DetectorConfig, num_classes: int, *, pretrained: bool, trainable: int
) -> FasterRCNN:
    """``fasterrcnn``: the timm backbone's feature levels under an FPN (one more level by
    max pooling), RoI heads of ``box_head_size``."""
    assert config.backbone is not None
    if not timm.is_model(config.backbone):
        raise DetectorError(f"unknown timm backbone {config.backbone!r} (timm.list_models())")
    try:
        body = timm.create_model(
            config.backbone,
            features_only=True,
            out_indices=config.out_indices,
            **config.backbone_kwargs,
        )
    except (IndexError, ValueError, TypeError) as e:
        raise DetectorError(f"cannot build {config.backbone} as a detector backbone: {e}") from e
    if pretrained:
        _freeze(body, trainable)
    backbone = TimmFPNBackbone(body, config.fpn_channels)
    levels = len(config.out_indices) + 1
    sizes = config.anchor_sizes or tuple(32 * 2**i for i in range(levels))
    names = [str(i) for i in range(len(config.out_indices))]
    align = MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2)
    head = TwoMLPHead(config.fpn_channels * 7 * 7, config.box_head_size)
    # FasterRCNN sizes its own predictor for a 1024-wide head: give one for this width.
    predictor = FastRCNNPredictor(config.box_head_size, num_classes)
    return FasterRCNN(backbone, None, rpn_anchor_generator=_anchors(sizes, levels),
                      box_roi_pool=align, box_head=head, box_predictor=predictor,
                      **config.model_kwargs)  # fmt: skip


def _freeze(body: nn.Module, trainable: int) -> None:
    """A pretrained timm body as torchvision treats its own: batch norms frozen, and only the
    last ``trainable`` feature stages trained."""
    freeze_batch_norm_2d(body)
    # timm's feature wrapper names its modules with "_" for "." (stages.1 -> stages_1).
    modules = [info["module"].replace(".", "_") for info in body.feature_info.get_dicts()]
    keep = tuple(f"{m}." for m in modules[len(modules) - trainable :]) if trainable else ()
    for name, param in body.named_parameters():
        if not name.startswith(keep):
            param.requires_grad_(False)
