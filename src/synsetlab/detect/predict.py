"""A trained detector from its checkpoint, and its detections over a split of a version.

Detections come back as :class:`~synsetlab.detect.records.ImageDetections`, in ILSVRC's
0-based inclusive pixels of the stored image, labels as indices into the detector's classes:
what evaluation (:mod:`synsetlab.metrics.detection`) and submissions read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.detect.config import DetectorConfig
from synsetlab.detect.data import DetectionDataset, create_detection_loader, to_pixels
from synsetlab.detect.models import create_detector
from synsetlab.detect.records import ImageDetections
from synsetlab.manifest import Manifest, ManifestEntry
from synsetlab.train.checkpoint import CheckpointError, load_checkpoint

__all__ = [
    "TASK",
    "LoadedDetector",
    "detect_images",
    "load_detector",
    "predict_split",
    "require_detector",
]

#: The ``task`` entry of a detector's checkpoint (classifier checkpoints have none).
TASK = "detection"


@dataclass(frozen=True)
class LoadedDetector:
    """A detector checkpoint's model, ready to predict."""

    #: In eval mode, on ``device``.
    model: nn.Module
    #: Wnids; class ``i`` is torchvision's label ``i + 1`` (0 is the background).
    classes: list[str]
    config: DetectorConfig
    device: torch.device


def require_detector(state: dict[str, Any], path: Path | str) -> None:
    """Refuse a checkpoint that holds no detector (a classifier, a pretrained backbone) with
    a :class:`~synsetlab.train.checkpoint.CheckpointError` saying what to use it for."""
    if state.get("task") == TASK:
        return
    if state.get("ssl_config") is not None:
        raise CheckpointError(
            f"{path} is a self-supervised backbone from `synsetlab pretrain`, not a detector: "
            f"train one from it (synsetlab train-detector VERSION --backbone-from {path})"
        )
    raise CheckpointError(
        f"{path} is a classifier checkpoint, not a detector: use it with synsetlab evaluate "
        "or predict, or as a detector's backbone (synsetlab train-detector VERSION "
        f"--backbone-from {path})"
    )


def load_detector(path: Path | str, *, device: torch.device | str = "cpu") -> LoadedDetector:
    """The detector of a ``synsetlab train-detector`` checkpoint, on ``device``, in eval
    mode; a :class:`CheckpointError` for any other file, saying what it is for."""
    state = load_checkpoint(path)
    require_detector(state, path)
    config = DetectorConfig.model_validate(state["config"])
    classes = list(state["classes"])
    model = create_detector(config, classes, load_backbone=False)
    model.load_state_dict(state["state_dict"])
    device = torch.device(device)
    return LoadedDetector(model.to(device).eval(), classes, config, device)


@torch.no_grad()
def detect_images(
    model: nn.Module,
    batches: Iterable[tuple[list[torch.Tensor], Any]],
    entries: Sequence[ManifestEntry],
    *,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> list[ImageDetections]:
    """``model``'s detections (eval mode, fp32) of the images ``batches`` yield, which are
    ``entries``' in order; ``progress(n)`` after each batch of ``n`` images."""
    model.eval()
    found: list[ImageDetections] = []
    for images, _ in batches:
        outputs = model([image.to(device).float().div_(255) for image in images])
        for output in outputs:
            entry = entries[len(found)]
            found.append(_as_record(entry.sha256, output))
        if progress is not None:
            progress(len(images))
    return found


def _as_record(sha256: str, output: dict[str, torch.Tensor]) -> ImageDetections:
    scores = output["scores"].float().cpu().numpy().astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    boxes = to_pixels(output["boxes"].float().cpu().numpy().astype(np.float64))[order]
    # A box narrower than a pixel would end before it starts in inclusive pixels.
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    labels = output["labels"].cpu().numpy().astype(np.int64)[order] - 1
    return ImageDetections(sha256=sha256, boxes=boxes, scores=scores[order], labels=labels)


def predict_split(
    loaded: LoadedDetector,
    manifest: Manifest,
    blobs: BlobStore,
    *,
    split: str,
    batch_size: int = 8,
    max_per_image: int = 100,
    progress: Callable[[int], None] | None = None,
) -> list[ImageDetections]:
    """One :class:`ImageDetections` per entry of ``split`` (hidden labels too: no boxes are
    read), in manifest order, at most ``max_per_image`` each; ``progress(n)`` after each batch
    of ``n`` images."""
    dataset = DetectionDataset(manifest, split, blobs, targets=False)
    loader = create_detection_loader(dataset, batch_size=batch_size)
    heads = loaded.model.roi_heads
    before, heads.detections_per_img = heads.detections_per_img, max_per_image
    try:
        return detect_images(loaded.model, loader, dataset.entries, device=loaded.device,
                             progress=progress)  # fmt: skip
    finally:
        heads.detections_per_img = before
