"""Adversarial examples, adversarial training and corruption robustness, on a tiny model
trained for two epochs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from pydantic import ValidationError

from synsetlab.data import VersionDataset, create_transform
from synsetlab.train import load_checkpoint, resolve_config, train
from synsetlab.train.adversarial import AdversarialCriterion, fgsm, pgd, to_pixels
from synsetlab.train.config import AdversarialConfig
from synsetlab.train.criteria import PlainCriterion, create_adversarial_criterion
from synsetlab.train.robustness import (
    CORRUPTIONS,
    SEVERITIES,
    corrupt,
    corruption_parameter,
    evaluate_corruptions,
    evaluate_pgd,
)
from synsetlab.train.weights import LoadedModel, load_model
from tests.tiny_version import SMALL, TinyVersion


@pytest.fixture(scope="module")
def loaded(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 2, "batch_size": 12})
    out = tmp_path_factory.mktemp("run")
    train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
    return load_model(out / "last.pt")


@pytest.fixture(scope="module")
def val_batch(tiny: TinyVersion, loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """The 12 val images as uint8 evaluation crops ``(12, 3, 32, 32)``, and their labels."""
    dataset = VersionDataset(
        tiny.manifest,
        "val",
        tiny.blobs,
        transform=create_transform(loaded.config.data, train=False),
    )
    images, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(images), torch.tensor(labels)


def _stats(loaded: LoadedModel) -> dict[str, tuple[float, float, float]]:
    return {"mean": loaded.config.data.mean, "std": loaded.config.data.std}


def _loss_and_error(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) != y).float().mean())


# Attacks -----------------------------------------------------------------------------------------


def test_pgd_raises_the_loss_and_error_at_least_as_much_as_fgsm(
    loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = loaded.normalizer(torch.device("cpu"))(images)
    model = loaded.model
    clean = _loss_and_error(model, x, y)
    one_step = _loss_and_error(model, fgsm(model, x, y, epsilon=4, **_stats(loaded)), y)
    generator = torch.Generator().manual_seed(0)
    x_pgd = pgd(model, x, y, epsilon=4, steps=10, generator=generator, **_stats(loaded))
    projected = _loss_and_error(model, x_pgd, y)
    assert clean[0] < one_step[0] <= projected[0]
    assert clean[1] <= one_step[1] <= projected[1]
    assert projected[1] > clean[1]


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_stay_within_epsilon_in_pixel_space(
    attack: str, loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = loaded.normalizer(torch.device("cpu"))(images)
    if attack == "fgsm":
        x_adv = fgsm(loaded.model, x, y, epsilon=4, **_stats(loaded))
    else:
        x_adv = pgd(loaded.model, x, y, epsilon=4, steps=3, **_stats(loaded))
    pixels = to_pixels(x_adv, **_stats(loaded))
    moved = (pixels - images.float() / 255).abs()
    assert moved.max() <= 4 / 255 + 1e-5
    assert moved.max() >= 4 / 255 - 1e-5  # the budget is used, not wasted
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype


def test_epsilon_zero_changes_nothing(
    loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = loaded.normalizer(torch.device("cpu"))(images)
    assert torch.equal(fgsm(loaded.model, x, y, epsilon=0, **_stats(loaded)), x)
    assert torch.equal(pgd(loaded.model, x, y, epsilon=0, steps=3, **_stats(loaded)), x)


@pytest.mark.parametrize("training", [True, False])
def test_attacks_restore_the_mode_and_leave_parameters_and_their_gradients_alone(
    training: bool, loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = loaded.normalizer(torch.device("cpu"))(images)
    model = copy.deepcopy(loaded.model).train(training)
    frozen = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    frozen.train(not training)  # a fine-tuning run's frozen batch norm, or the opposite
    modes = {name: m.training for name, m in model.named_modules()}
    params = list(model.parameters())
    params[0].grad = torch.ones_like(params[0])  # a micro-batch's gradient, accumulated
    state = copy.deepcopy(model.state_dict())  # batch-norm statistics too
    pgd(model, x, y, epsilon=4, steps=2, **_stats(loaded))
    fgsm(model, x, y, epsilon=4, **_stats(loaded))
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert torch.equal(params[0].grad, torch.ones_like(params[0]))
    assert all(p.grad is None for p in params[1:])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_the_adversarial_criterion_trains(
    method: str, loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = loaded.normalizer(torch.device("cpu"))(images)
    model = copy.deepcopy(loaded.model).train()
    config = AdversarialConfig(method=method, epsilon=4, steps=2, clean_weight=0.25)
    criterion = create_adversarial_criterion(
        config, torch.nn.CrossEntropyLoss(), loaded.config.data.mean, loaded.config.data.std
    )
    assert isinstance(criterion, AdversarialCriterion)
    loss = criterion(model, x, y)
    assert loss.dim() == 0 and torch.isfinite(loss)
    clean = PlainCriterion(torch.nn.CrossEntropyLoss())(model, x, y)
    assert float(loss.detach()) > float(clean.detach())
    loss.backward()
    assert model.training
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_no_attack_is_the_plain_criterion() -> None:
    loss_fn = torch.nn.CrossEntropyLoss()
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    assert isinstance(
        create_adversarial_criterion(AdversarialConfig(), loss_fn, mean, std), PlainCriterion
    )
    off = AdversarialConfig(method="pgd", epsilon=0)
    assert isinstance(create_adversarial_criterion(off, loss_fn, mean, std), PlainCriterion)


def test_adversarial_training_runs_end_to_end(tiny: TinyVersion, tmp_path: Path) -> None:
    """The config section and criterion as criteria.py wires them: an epoch of PGD training,
    whose loss (on attacked batches) is above plain training's."""
    from synsetlab.train.config import TrainConfig

    if "adversarial" not in TrainConfig.model_fields:
        pytest.skip("TrainConfig has no adversarial section yet")
    losses = {}
    for method in ("none", "pgd"):
        config = resolve_config(
            "tiny-cpu",
            {**SMALL, "epochs": 1, "batch_size": 12,
             "adversarial.method": method, "adversarial.steps": 2},
        )  # fmt: skip
        out = tmp_path / method
        result = train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
        losses[method] = result.history[-1]["train_loss"]
        assert load_checkpoint(out / "last.pt")["config"]["adversarial"]["method"] == method
    assert np.isfinite(losses["pgd"]) and losses["pgd"] > losses["none"]


# Corruptions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corruptions_grow_with_severity_and_repeat_for_a_seed(
    corruption: str, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images = val_batch[0][:4]
    distances = []
    for severity in SEVERITIES:
        out = corrupt(images, corruption, severity, seed=7)
        assert out.dtype == torch.uint8 and out.shape == images.shape
        assert torch.equal(out, corrupt(images, corruption, severity, seed=7))
        distances.append(float((out.float() - images.float()).abs().mean()))
    assert distances[0] > 0
    assert distances == sorted(distances) and len(set(distances)) == len(distances)


def test_noise_follows_each_image_s_seed_not_its_batch(
    val_batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images = val_batch[0][:3]
    batch = corrupt(images, "gaussian_noise", 3, seed=[11, 12, 13])
    assert torch.equal(batch[1], corrupt(images[1], "gaussian_noise", 3, seed=[12]))
    assert not torch.equal(batch[1], corrupt(images[1], "gaussian_noise", 3, seed=[13]))


@pytest.mark.parametrize(
    ("corruption", "severity", "side", "expected"),
    [
        ("gaussian_blur", 1, 224, 1.0),  # ImageNet-C
        ("gaussian_blur", 5, 32, 1.0),  # CIFAR-10-C
        ("gaussian_blur", 1, 64, 0.5),  # Tiny ImageNet-C
        ("gaussian_blur", 5, 160, 6.0 * 160 / 224),  # the nearest table, blur scaled
        ("jpeg_compression", 1, 32, 80),
        ("gaussian_noise", 5, 160, 0.38),
        ("contrast", 5, 64, 0.05),
    ],
)
def test_parameters_are_imagenet_c_s_at_the_nearest_size(
    corruption: str, severity: int, side: int, expected: float
) -> None:
    assert corruption_parameter(corruption, severity, side) == pytest.approx(expected)


# Evaluation --------------------------------------------------------------------------------------


def test_evaluate_corruptions_scores_every_condition(
    tiny: TinyVersion, loaded: LoadedModel
) -> None:
    result = evaluate_corruptions(
        loaded, tiny.manifest, tiny.blobs, "val", corruptions=CORRUPTIONS, severities=(1, 3, 5)
    )
    assert result.images == 12
    assert set(result.errors) == {(c, s) for c in CORRUPTIONS for s in (1, 3, 5)}
    assert all(0 <= e <= 1 for e in [result.clean_error, *result.errors.values()])
    assert result.mean_corruption_error == pytest.approx(np.mean(list(result.errors.values())))
    document = result.to_dict()
    assert set(document["errors"]) == set(CORRUPTIONS)
    assert set(document["errors"]["contrast"]) == {"1", "3", "5"}
    again = evaluate_corruptions(
        loaded, tiny.manifest, tiny.blobs, "val", corruptions=("gaussian_noise",),
        severities=(3,), batch_size=5,
    )  # fmt: skip
    assert again.errors["gaussian_noise", 3] == result.errors["gaussian_noise", 3]


def test_evaluate_pgd_scores_each_epsilon(tiny: TinyVersion, loaded: LoadedModel) -> None:
    result = evaluate_pgd(loaded, tiny.manifest, tiny.blobs, "val", epsilons=[0, 2, 8], steps=3)
    assert list(result.errors) == [0.0, 2.0, 8.0]
    assert all(0 <= e <= 1 for e in result.errors.values())
    clean = evaluate_corruptions(
        loaded, tiny.manifest, tiny.blobs, "val", corruptions=("contrast",), severities=(1,)
    ).clean_error
    assert result.errors[0.0] == clean
    assert result.errors[8.0] >= result.errors[0.0]
    assert result.to_dict()["errors"] == {"0": clean, "2": result.errors[2.0],
                                          "8": result.errors[8.0]}  # fmt: skip


def test_hidden_test_labels_are_scored_only_when_revealed(
    tiny: TinyVersion, loaded: LoadedModel
) -> None:
    with pytest.raises(ValueError, match="'test' split's labels are hidden"):
        evaluate_pgd(loaded, tiny.manifest, tiny.blobs, "test", epsilons=[0])
    result = evaluate_pgd(
        loaded, tiny.manifest, tiny.blobs, "test", epsilons=[0, 2], steps=2, reveal_hidden=True
    )
    assert result.images == 6 and result.split == "test"


# Bad inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corruption", "severity", "match"),
    [
        ("fog", 1, "unknown corruption 'fog'"),
        ("contrast", 0, "severity 0 is not"),
        ("contrast", 6, "severity 6 is not"),
    ],
)
def test_bad_corruptions_name_the_bad_value(
    corruption: str,
    severity: int,
    match: str,
    tiny: TinyVersion,
    loaded: LoadedModel,
    val_batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    with pytest.raises(ValueError, match=match):
        corrupt(val_batch[0], corruption, severity)
    with pytest.raises(ValueError, match=match):
        evaluate_corruptions(
            loaded, tiny.manifest, tiny.blobs, corruptions=[corruption], severities=[severity]
        )


def test_bad_budgets_and_images_name_the_bad_value(
    tiny: TinyVersion, loaded: LoadedModel, val_batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, y = val_batch
    x = images.float()
    with pytest.raises(ValueError, match="epsilon -1 must be"):
        evaluate_pgd(loaded, tiny.manifest, tiny.blobs, epsilons=[2, -1])
    with pytest.raises(ValueError, match=r"epsilon -0\.5 must be"):
        pgd(loaded.model, x, y, epsilon=-0.5, steps=2, **_stats(loaded))
    with pytest.raises(ValueError, match="epsilon nan must be"):
        fgsm(loaded.model, x, y, epsilon=float("nan"), **_stats(loaded))
    with pytest.raises(ValueError, match="steps 0 must be"):
        pgd(loaded.model, x, y, epsilon=2, steps=0, **_stats(loaded))
    with pytest.raises(ValidationError, match="input_value=-1"):
        AdversarialConfig(method="pgd", epsilon=-1)
    with pytest.raises(ValidationError, match="input_value='cw'"):
        AdversarialConfig(method="cw")
    with pytest.raises(ValueError, match="expected uint8"):
        corrupt(x, "contrast", 1)
    with pytest.raises(ValueError, match="2 seeds for 12 images"):
        corrupt(images, "gaussian_noise", 1, seed=[1, 2])
