"""Recipes, overrides and what a resume may change."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsetlab.train.config import EXECUTION_FIELDS, TrainConfig
from synsetlab.train.resolve import RecipeError, recipe_names, resolve_config
from synsetlab.train.rundir import config_changes


def test_every_shipped_recipe_resolves() -> None:
    assert recipe_names() == ["resnet18-sgd", "resnet50-a3", "tiny-cpu"]
    classic = resolve_config("resnet18-sgd")
    assert (classic.model, classic.optim.name, classic.optim.momentum) == ("resnet18", "sgd", 0.9)
    assert (classic.optim.weight_decay, classic.schedule.name) == (5e-4, "step")
    assert (classic.data.image_size, classic.data.eval_resize) == (224, 256)
    a3 = resolve_config("resnet50-a3")
    assert (a3.data.image_size, a3.data.eval_size, a3.loss) == (160, 224, "bce")


def test_flags_then_assignments_override_the_recipe(tmp_path: Path) -> None:
    config = resolve_config(
        "tiny-cpu",
        {"epochs": 7, "optim.lr": None},  # None: not given on the command line
        ["optim.lr=0.5", "data.auto_augment=randaugment", "model_kwargs={stem_width: 4}"],
    )
    assert (config.epochs, config.optim.lr, config.data.auto_augment) == (7, 0.5, "randaugment")
    assert config.model_kwargs == {"stem_width": 4}
    own = tmp_path / "mine.yaml"
    own.write_text("model: resnet18\nepochs: 2\n")
    assert resolve_config(str(own)).epochs == 2


@pytest.mark.parametrize(
    ("recipe", "assignments", "message"),
    [
        ("nope", [], "no recipe 'nope'; shipped recipes: resnet18-sgd"),
        ("tiny-cpu", ["optim.lr=-1"], "optim.lr: Input should be greater than 0"),
        ("tiny-cpu", ["optim.speed=3"], "optim.speed: Extra inputs are not permitted"),
        ("tiny-cpu", ["lr"], "override 'lr' is not KEY=VALUE"),
        ("tiny-cpu", ["epochs.x=1"], "epochs.x: epochs is not a section"),
    ],
)
def test_bad_recipes_and_overrides_say_what_is_wrong(
    recipe: str, assignments: list[str], message: str
) -> None:
    with pytest.raises(RecipeError, match=message.replace(".", r"\.").replace("'", "'")):
        resolve_config(recipe, None, assignments)


def test_bad_yaml_is_a_recipe_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        resolve_config(str(bad))


def test_config_changes_ignore_execution_fields() -> None:
    old = TrainConfig().model_dump(mode="json")
    new = TrainConfig(workers=7, max_steps=3, device="cpu", epochs=5, optim={"lr": 0.2})
    assert config_changes(old, new, EXECUTION_FIELDS) == {
        "epochs": (old["epochs"], 5),
        "optim.lr": (0.1, 0.2),
    }


def test_the_set_examples_of_the_help_and_the_readme_are_real_fields() -> None:
    import inspect
    import re

    from synsetlab.cli.train import train as command

    help_text = inspect.signature(command).parameters["set_"].default.help
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    config_bullet = readme[readme.index("- **Config.**") :].split("\n- ")[0]
    examples = re.findall(r"--set (\S+=[^\s`)]+)", help_text + config_bullet)
    assert len(examples) >= 3
    config = resolve_config("tiny-cpu", {}, examples)
    assert config.schedule.warmup_epochs == 5 and config.mixup == 0.2


def test_a_linear_probe_refuses_layer_decay() -> None:
    with pytest.raises(RecipeError, match=r"a linear probe .* trains the classifier alone"):
        resolve_config("tiny-cpu", {"finetune": "linear", "optim.layer_decay": 0.75})
    assert resolve_config("tiny-cpu", {"finetune": "full", "optim.layer_decay": 0.75})
