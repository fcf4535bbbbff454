"""Models from weights files: one reader, and the three ways a file becomes a model.

Accepted files, read by :func:`read_weights` (through :func:`synsetlab.train.checkpoint.read_file`,
so every loader reports an unreadable file the same way):

- a ``synsetlab train`` checkpoint (timm or torchvision ``tv/<name>`` models): its EMA weights
  when the run kept them (what timm's ``train.py`` validates as best), its classes and config;
- a ``synsetlab pretrain`` checkpoint: a backbone without classifier, with its architecture;
- a timm training checkpoint (``{"arch": name, "state_dict": ...}``);
- a plain state dict as timm or torchvision publish them (``.pth``/``.bin``, or
  ``.safetensors``): no architecture and no classes recorded. A head of 1000 rows is then
  taken to be ImageNet-1k's, in the sorted wnid order torchvision and timm use.

What becomes of them:

- :func:`load_model`: a trained classifier for evaluation, prediction and submissions
  (synsetlab training checkpoints only: they record the classes and the transform);
- :func:`load_backbone`: a feature network without classifier, for curation;
- :func:`synsetlab.train.finetune.load_pretrained`: the start of a new run, its head matched
  to the new classes by wnid (:func:`head_classes`).

Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from synsetlab.data import DeviceNormalize
from synsetlab.taxonomy.ilsvrc import ilsvrc2012_wnids
from synsetlab.train.checkpoint import (
    CheckpointError,
    check_checkpoint,
    checkpoint_file,
    evaluation_weights,
    is_checkpoint,
    load_checkpoint,
    read_file,
    require_classifier,
)
from synsetlab.train.config import TrainConfig
from synsetlab.train.models import ModelError, create_model, load_weights, without_classifier

#: Rows of an ImageNet-1k head: a plain state dict with them predicts the sorted ILSVRC wnids.
IMAGENET_ROWS = 1000


@dataclass(frozen=True)
class SavedWeights:
    """A weights file as read: the weights to use and what the file says about them."""

    path: Path
    #: The state dict to load (a training checkpoint's EMA weights when it kept them).
    state_dict: dict[str, torch.Tensor]
    #: ``"ema"`` or ``"model"``: which of a checkpoint's weights ``state_dict`` is.
    which: str
    #: The file's other top-level entries (``arch``, ``classes``, ``config``, ...); empty
    #: for a plain state dict.
    header: dict[str, Any]

    @property
    def is_checkpoint(self) -> bool:
        """A synsetlab checkpoint (training or pretraining)."""
        return is_checkpoint(self.header)

    @property
    def is_backbone(self) -> bool:
        """A ``synsetlab pretrain`` backbone: no classifier."""
        return self.header.get("ssl_config") is not None

    @property
    def arch(self) -> str | None:
        """The architecture as ``synsetlab train --model`` names it, when recorded."""
        arch = self.header.get("arch")
        return arch if isinstance(arch, str) else None

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.header.get("model_kwargs") or {})

    @property
    def classes(self) -> list[str] | None:
        """The wnids the head's rows stand for, when recorded."""
        classes = self.header.get("classes")
        return None if classes is None else list(classes)


def read_weights(path: Path | str) -> SavedWeights:
    """Any accepted weights file (see the module docstring); :class:`CheckpointError` names
    the file and what to do when it cannot be used."""
    path = checkpoint_file(path)
    return _saved_weights(read_file(path), path)


def _saved_weights(state: Any, path: Path) -> SavedWeights:
    header: dict[str, Any] = {}
    which = "model"
    if is_checkpoint(state):
        check_checkpoint(state, path)
    if isinstance(state, dict) and "state_dict" in state:  # a synsetlab or timm checkpoint
        header = {k: v for k, v in state.items() if not k.startswith(("state_dict", "ssl_state"))}
        state, which = evaluation_weights(state)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path} holds no state dict")
    return SavedWeights(Path(path), state, which, header)


def head_classes(saved: SavedWeights, rows: int) -> list[str] | None:
    """The wnids of a head of ``rows`` rows in ``saved``: the recorded classes, else ImageNet-1k's
    sorted wnids for 1000 rows, else ``None`` (unknown)."""
    classes = saved.classes
    if classes is None and rows == IMAGENET_ROWS:
        classes = ilsvrc2012_wnids("sorted")
    if classes is not None and len(classes) != rows:
        raise CheckpointError(f"{saved.path}: {len(classes)} classes for {rows} head rows")
    return classes


def _fit_weights(model: nn.Module, saved: SavedWeights, arch: str, *, strict_head: bool) -> None:
    """Load ``saved`` into ``model`` (an ``arch``); a :class:`CheckpointError` that names the
    file when they do not fit."""
    try:
        load_weights(model, saved.state_dict, strict_head=strict_head)
    except ModelError as e:
        raise CheckpointError(f"{saved.path} does not fit {arch!r}: {e}") from e


# Classifiers -------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A checkpoint's model in eval mode, with what it needs to be used."""

    model: nn.Module
    classes: tuple[str, ...]
    config: TrainConfig
    #: The dataset version it was trained on.
    version_id: str | None
    #: ``"ema"`` when the EMA weights were loaded, else ``"model"``.
    weights: str
    #: The checkpoint file it was loaded from.
    path: Path

    def normalizer(self, device: torch.device) -> DeviceNormalize:
        data = self.config.data
        return DeviceNormalize(data.mean, data.std, device=device)


def load_model(path: Path | str, *, device: torch.device | str = "cpu") -> LoadedModel:
    """The classifier of a ``synsetlab train`` checkpoint (its EMA weights when the run kept
    them, as timm validates them), on ``device``, in eval mode."""
    state = load_checkpoint(path)
    require_classifier(state, path)
    return _classifier(_saved_weights(state, Path(path)), device)


def _classifier(saved: SavedWeights, device: torch.device | str) -> LoadedModel:
    config = TrainConfig.model_validate(saved.header["config"])
    classes = tuple(saved.header["classes"])
    model = create_model(config.model, num_classes=len(classes), **config.model_kwargs)
    _fit_weights(model, saved, config.model, strict_head=True)
    return LoadedModel(
        model.to(device).eval(),
        classes,
        config,
        saved.header.get("version_id"),
        saved.which,
        saved.path,
    )


# Backbones ---------------------------------------------------------------------------------------


@dataclass
class Backbone:
    """A trained network without its classifier, and the input normalisation it was trained
    with."""

    #: Maps ``(B, 3, H, W)`` normalised input to ``(B, D)`` features, in eval mode.
    model: nn.Module
    #: Channel mean and std on the 0-1 scale.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: The architecture, as ``synsetlab train --model`` names it (timm name or ``tv/<name>``).
    arch: str

    def normalize(self, images: np.ndarray) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float, normalised as in training."""
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


def load_backbone(path: Path | str, *, arch: str | None = None) -> Backbone:
    """The feature network of the weights file ``path``, its classifier removed.

    - a ``synsetlab train`` checkpoint: its classifier as :func:`load_model` builds it, and the
      run's normalisation;
    - a ``synsetlab pretrain`` backbone, or a timm training checkpoint: its own architecture
      and ``model_kwargs``;
    - with ``arch`` (``"resnet50"``, ``"tv/resnet18"``): any accepted file as weights of that
      model (torchvision ResNet weights also fit the timm ResNet of the same name).

    Raises :class:`CheckpointError` or :class:`~synsetlab.train.models.ModelError` (both user
    errors) naming the file and what to do.
    """
    saved = read_weights(path)
    if arch is None and saved.is_checkpoint and not saved.is_backbone:
        loaded = _classifier(saved, "cpu")
        data = loaded.config.data
        return Backbone(without_classifier(loaded.model), data.mean, data.std, loaded.config.model)
    if arch is None and saved.arch is None:
        raise CheckpointError(
            f"{saved.path} does not name its architecture: give it (--arch, a timm model name "
            "or tv/<name> for torchvision)"
        )
    name = arch or saved.arch
    assert name is not None
    model = create_model(name, num_classes=1, **({} if arch else saved.model_kwargs))
    _fit_weights(model, saved, name, strict_head=False)  # the head, of any size, goes below
    mean, std = _normalization(model, None if arch else saved.header.get("config"))
    return Backbone(without_classifier(model), mean, std, name)


def _normalization(model: nn.Module, config: object) -> tuple[tuple[float, ...], ...]:
    """The mean and std a synsetlab config records, else the timm model's own, else
    ImageNet's."""
    data = config.get("data", {}) if isinstance(config, dict) else {}
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = data.get("mean") or cfg.get("mean") or IMAGENET_DEFAULT_MEAN
    std = data.get("std") or cfg.get("std") or IMAGENET_DEFAULT_STD
    return tuple(mean), tuple(std)


__all__ = [
    "Backbone",
    "LoadedModel",
    "SavedWeights",
    "head_classes",
    "load_backbone",
    "load_model",
    "read_weights",
]
