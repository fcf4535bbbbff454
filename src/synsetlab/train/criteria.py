"""The loss of a training batch, chosen from the config: plain, on adversarial inputs
(:mod:`synsetlab.train.adversarial`), or with a teacher's soft targets
(:mod:`synsetlab.train.distill`). Those modules hold the algorithms; this one wires them.

A criterion is ``(model, inputs (B, 3, H, W), targets) -> scalar`` (:class:`Criterion`):
the loop calls it inside autocast, and it may run the model more than once (an attack, a
clean pass) or another model (a teacher).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy
from torch import nn

from synsetlab.data import VersionDataset
from synsetlab.data.transforms import TransformConfig
from synsetlab.train.adversarial import AdversarialCriterion
from synsetlab.train.config import AdversarialConfig, DistillConfig, TrainConfig
from synsetlab.train.distill import DistillationCriterion, load_teacher, teacher_module


class Criterion(Protocol):
    """The training loss of a batch: ``(model, inputs (B, 3, H, W), targets) -> scalar``;
    targets are ``(B,)`` class indices or ``(B, C)`` soft targets (mixup)."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...


class PlainCriterion:
    """``loss_fn(model(x), y)``."""

    def __init__(self, loss_fn: nn.Module) -> None:
        self.loss_fn = loss_fn

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(model(x), y)


def create_loss(config: TrainConfig, dataset: VersionDataset, device: torch.device) -> nn.Module:
    """Cross-entropy (smoothed, class-weighted with ``balance=loss``), its soft-target form
    under mixup/cutmix, or binary cross-entropy. (The config refuses ``balance=loss`` with
    mixed labels.)"""
    mixing = config.mixup > 0 or config.cutmix > 0
    if config.loss == "bce":
        return BinaryCrossEntropy(smoothing=0.0 if mixing else config.label_smoothing)
    if mixing:
        return SoftTargetCrossEntropy()  # mixup's soft targets carry the smoothing
    weight = None
    if config.balance == "loss":
        counts = dataset.class_counts().double()
        weight = (counts.sum() / (len(counts) * counts.clamp_min(1))).float().to(device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def create_adversarial_criterion(
    config: AdversarialConfig,
    loss_fn: nn.Module,
    mean: Sequence[float],
    std: Sequence[float],
) -> Criterion:
    """The criterion a run's ``adversarial`` section asks for: plain ``loss_fn(model(x), y)``
    (method ``none``, or an ``epsilon`` of 0), else an
    :class:`~synsetlab.train.adversarial.AdversarialCriterion`. ``mean``/``std``: the run's
    normalisation, 0-1 scale."""
    if config.method == "none" or config.epsilon == 0:
        return PlainCriterion(loss_fn)
    return AdversarialCriterion(
        loss_fn,
        config.method,
        config.epsilon,
        config.steps,
        mean,
        std,
        step_size=config.step_size,
        random_start=config.random_start,
        clean_weight=config.clean_weight,
    )


def create_distillation_criterion(
    distill: DistillConfig,
    loss_fn: nn.Module,
    *,
    data: TransformConfig,
    device: torch.device | str,
    classes: Sequence[str],
) -> DistillationCriterion:
    """The criterion of a run with ``distill``: its teacher loaded on ``device`` and checked
    against ``classes``; ``data`` is the student's transform config (its mean/std)."""
    teacher = load_teacher(distill.teacher, device, classes)
    return DistillationCriterion(
        teacher_module(teacher, data), loss_fn, distill.alpha, distill.temperature
    )


def create_criterion(
    config: TrainConfig, dataset: VersionDataset, device: torch.device, classes: Sequence[str]
) -> Criterion:
    """The loss of a batch: plain, on adversarial inputs (``config.adversarial``), or with a
    teacher's soft targets (``config.distill``; the config refuses both at once)."""
    loss_fn = create_loss(config, dataset, device)
    if config.distill is not None:
        return create_distillation_criterion(
            config.distill, loss_fn, data=config.data, device=device, classes=classes
        )
    return create_adversarial_criterion(
        config.adversarial, loss_fn, config.data.mean, config.data.std
    )


__all__ = [
    "Criterion",
    "PlainCriterion",
    "create_adversarial_criterion",
    "create_criterion",
    "create_distillation_criterion",
    "create_loss",
]
