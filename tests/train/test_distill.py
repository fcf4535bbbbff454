"""Distillation: the criterion is Hinton et al.'s formula, gradients reach only the student,
the teacher is checked and renormalised, and a short distillation run trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from pydantic import ValidationError
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from torch import nn
from torch.utils.data import RandomSampler

from synsetlab.data import DeviceNormalize, VersionDataset, create_loader, create_transform
from synsetlab.train import CheckpointError, load_checkpoint, resolve_config, save_checkpoint, train
from synsetlab.train.config import DistillConfig
from synsetlab.train.criteria import create_distillation_criterion
from synsetlab.train.distill import (
    DistillationCriterion,
    Renormalize,
    distillation_loss,
    load_teacher,
    teacher_module,
)
from synsetlab.train.models import create_model
from synsetlab.train.parts import create_optimizer
from tests.tiny_version import SMALL, TinyVersion

#: The teacher's own normalisation, unlike the student's (ImageNet's).
TEACHER_DATA = {"data.mean": [0.5, 0.5, 0.5], "data.std": [0.25, 0.25, 0.25]}


def _models(seed: int = 0) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    return student, teacher, torch.randn(4, 3, 2, 2), torch.tensor([0, 3, 1, 4])


@pytest.mark.parametrize(("alpha", "temperature"), [(0.3, 4.0), (1.0, 1.0), (0.7, 0.5)])
def test_the_criterion_is_the_hinton_formula(alpha: float, temperature: float) -> None:
    student, teacher, x, y = _models()
    loss = DistillationCriterion(teacher, nn.CrossEntropyLoss(), alpha, temperature)(student, x, y)
    s, t = student(x).detach().double().numpy(), teacher(x).detach().double().numpy()

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    hard = -np.log(softmax(s)[np.arange(4), y.numpy()]).mean()
    p_t, p_s = softmax(t / temperature), softmax(s / temperature)
    kl = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1).mean()
    expected = (1 - alpha) * hard + alpha * temperature**2 * kl
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_alpha_zero_is_the_plain_loss_without_the_teacher() -> None:
    student, teacher, x, y = _models()
    calls: list[int] = []
    teacher.register_forward_hook(lambda *_: calls.append(1))
    loss = DistillationCriterion(teacher, nn.CrossEntropyLoss(), 0.0, 4.0)(student, x, y)
    assert torch.equal(loss, F.cross_entropy(student(x), y)) and not calls


def test_gradients_reach_only_the_student() -> None:
    student, teacher, x, y = _models()
    teacher.train()
    criterion = DistillationCriterion(teacher, nn.CrossEntropyLoss(), 1.0, 2.0)
    assert not teacher.training  # eval mode: no dropout, batch-norm statistics untouched
    criterion(student, x, y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())


def test_the_kd_term_ignores_mixups_soft_targets() -> None:
    student, teacher, x, y = _models()
    soft = 0.6 * F.one_hot(y, 5).float() + 0.4 * F.one_hot(y.roll(1), 5).float()
    alpha, t = 0.4, 3.0
    criterion = DistillationCriterion(teacher, SoftTargetCrossEntropy(), alpha, t)
    loss = criterion(student, x, soft)
    kd = distillation_loss(student(x), teacher(x), t)
    expected = (1 - alpha) * SoftTargetCrossEntropy()(student(x), soft) + alpha * kd
    assert torch.allclose(loss, expected)
    assert float(distillation_loss(teacher(x), teacher(x), t)) == pytest.approx(0, abs=1e-6)


def test_the_config_checks_its_ranges() -> None:
    config = DistillConfig(teacher="runs/big/best.pt")
    assert (config.alpha, config.temperature) == (0.5, 4.0)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        DistillConfig(teacher="t.pt", alpha=1.5)
    with pytest.raises(ValidationError, match="greater than 0"):
        DistillConfig(teacher="t.pt", temperature=0)


@pytest.fixture(scope="module")
def teacher_path(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SMALL checkpoint trained with its own normalisation (mean 0.5, std 0.25)."""
    config = resolve_config(
        "tiny-cpu", {**SMALL, "epochs": 2, "batch_size": 12, "seed": 5, **TEACHER_DATA}
    )
    out = tmp_path_factory.mktemp("teacher")
    return train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id).paths.best


def test_a_teacher_of_other_classes_is_refused(
    tiny: TinyVersion, teacher_path: Path, tmp_path: Path
) -> None:
    classes = list(tiny.manifest.classes)
    assert load_teacher(teacher_path, "cpu", classes).classes == tuple(classes)
    message = r"teacher .* does not predict the student's classes \(the same classes in another"
    with pytest.raises(CheckpointError, match=message):
        load_teacher(teacher_path, "cpu", classes[::-1])
    with pytest.raises(CheckpointError, match=r"\(3 classes against the version's 4, 3 shared\)"):
        load_teacher(teacher_path, "cpu", [*classes, "n01491361"])
    state = load_checkpoint(teacher_path)
    state.pop("format")
    other = save_checkpoint(tmp_path / "other.pt", {**state, "classes": [*classes[:2], "n0"]})
    with pytest.raises(CheckpointError, match=r"other\.pt does not predict"):
        create_distillation_criterion(
            DistillConfig(teacher=str(other)), nn.CrossEntropyLoss(),
            data=resolve_config("tiny-cpu", SMALL).data, device="cpu", classes=classes,
        )  # fmt: skip


def test_the_teacher_sees_the_students_inputs_in_its_own_normalisation(
    tiny: TinyVersion, teacher_path: Path
) -> None:
    student_data = resolve_config("tiny-cpu", SMALL).data
    teacher = load_teacher(teacher_path, "cpu", tiny.manifest.classes)
    assert teacher.config.data.mean != student_data.mean
    module = teacher_module(teacher, student_data)
    assert isinstance(module[0], Renormalize)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    as_student = DeviceNormalize(student_data.mean, student_data.std)(images)
    with torch.no_grad():
        expected = teacher.model(teacher.normalizer(torch.device("cpu"))(images))
        assert torch.allclose(module(as_student), expected, atol=1e-4)
    same = teacher_module(teacher, teacher.config.data)
    assert same is teacher.model


def test_a_short_distillation_run_trains(tiny: TinyVersion, teacher_path: Path) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "mixup": 0.2})
    classes = tiny.manifest.classes
    criterion = create_distillation_criterion(
        DistillConfig(teacher=str(teacher_path), alpha=0.7, temperature=2.0),
        SoftTargetCrossEntropy(), data=config.data, device="cpu", classes=classes,
    )  # fmt: skip
    torch.manual_seed(0)
    student = create_model(config.model, num_classes=len(classes), **config.model_kwargs)
    teacher_before = {k: v.clone() for k, v in criterion.teacher.state_dict().items()}
    optimizer = create_optimizer(config, student)
    dataset = VersionDataset(
        tiny.manifest, "train", tiny.blobs, transform=create_transform(config.data, train=True)
    )
    normalize = DeviceNormalize(config.data.mean, config.data.std)
    mixup = Mixup(mixup_alpha=0.2, label_smoothing=0.1, num_classes=len(classes))
    student.train()
    losses = []
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(0))
    for images, labels in create_loader(dataset, batch_size=12, sampler=sampler, drop_last=True):
        x, y = mixup(normalize(images), labels)
        loss = criterion(student, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert len(losses) == 4 and all(np.isfinite(losses))
    after = criterion.teacher.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in teacher_before.items())  # BN stats too
