"""Knowledge distillation (Hinton et al. 2015): a student trained on the labels and on a
teacher checkpoint's temperature-softened outputs.

    loss = (1 - alpha) * loss_fn(s, y) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))

where ``s`` and ``t`` are the student's and teacher's logits on the same batch. The ``T^2``
keeps the gradients of the soft term on the scale of the hard one as ``T`` changes. The
teacher runs in eval mode without gradients, on the batch the student sees after
augmentation, mixup and erasing (as DeiT's soft distillation does): the KD term does not read
``y``, so it is the same with hard labels or mixup's soft targets.

The teacher sees the student's inputs. Their normalisation is converted when the teacher
was trained with another mean/std (:class:`Renormalize`); their resolution is not: a
convolutional teacher takes any size, while a teacher with a fixed input size (a ViT) must
have been trained at the student's ``data.image_size``.

A run's ``distill`` section (:class:`synsetlab.train.config.DistillConfig`) becomes a
:class:`DistillationCriterion` in :func:`synsetlab.train.criteria.create_criterion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from torch import nn

from synsetlab.data.transforms import TransformConfig
from synsetlab.train.checkpoint import CheckpointError
from synsetlab.train.weights import LoadedModel, load_model


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(softmax(t / T) || softmax(s / T))``, summed over the ``C`` classes and
    averaged over the batch; logits ``(B, C)``, computed in float32."""
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * t * t


class DistillationCriterion:
    """The :class:`~synsetlab.train.criteria.Criterion` of distillation (see the module
    docstring): ``(student, x (B, 3, H, W), y (B,) or (B, C)) -> scalar``.

    ``teacher_model`` maps the student's inputs to ``(B, C)`` logits; it is put in eval mode
    and its parameters are frozen.
    """

    def __init__(
        self, teacher_model: nn.Module, loss_fn: nn.Module, alpha: float, temperature: float
    ) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha {alpha} is not in [0, 1]")
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} is not positive")
        self.teacher = teacher_model.eval().requires_grad_(False)
        self.loss_fn = loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        hard = self.loss_fn(logits, y)
        if self.alpha == 0:
            return hard  # no teacher forward pass for a term weighted 0
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        soft = distillation_loss(logits, teacher_logits, self.temperature)
        return (1 - self.alpha) * hard + self.alpha * soft


class Renormalize(nn.Module):
    """Images normalised with one mean/std -> the same images normalised with another
    (both on the 0-1 scale, as :class:`~synsetlab.data.DeviceNormalize` takes them):
    ``x' = (x * std + mean - to_mean) / to_std`` on ``(B, 3, H, W)``."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        to_mean: Sequence[float],
        to_std: Sequence[float],
    ) -> None:
        super().__init__()
        mean_, std_, to_mean_, to_std_ = (
            torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1)
            for v in (mean, std, to_mean, to_std)
        )
        self.register_buffer("scale", std_ / to_std_)
        self.register_buffer("shift", (mean_ - to_mean_) / to_std_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def load_teacher(
    path: Path | str, device: torch.device | str, classes: Sequence[str]
) -> LoadedModel:
    """A teacher checkpoint on ``device``, in eval mode, refused unless it predicts
    ``classes`` (the student's version's) in the same order."""
    loaded = load_model(path, device=device)
    if loaded.classes != tuple(classes):
        if sorted(loaded.classes) == sorted(classes):
            detail = "the same classes in another order"
        else:
            shared = len(set(loaded.classes) & set(classes))
            detail = (
                f"{len(loaded.classes)} classes against the version's {len(classes)}, "
                f"{shared} shared"
            )
        raise CheckpointError(
            f"teacher {path} does not predict the student's classes ({detail}): distil from "
            "a teacher trained on a version with the same classes, or fine-tune it on this "
            "version first (synsetlab finetune)"
        )
    return loaded


def teacher_module(teacher: LoadedModel, data: TransformConfig) -> nn.Module:
    """The teacher's model as a function of the student's inputs (normalised with
    ``data.mean``/``data.std``): behind a :class:`Renormalize` when the teacher was trained
    with another mean/std."""
    own = teacher.config.data
    if (own.mean, own.std) == (data.mean, data.std):
        return teacher.model
    device = next(teacher.model.parameters()).device
    adapt = Renormalize(data.mean, data.std, own.mean, own.std).to(device)
    return nn.Sequential(adapt, teacher.model).eval()


__all__ = [
    "DistillationCriterion",
    "Renormalize",
    "distillation_loss",
    "load_teacher",
]
