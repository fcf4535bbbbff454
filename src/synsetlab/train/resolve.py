"""A run's config resolved: a recipe (shipped by name, or a YAML path), overrides on top, and
on a resume the config the checkpoint records.

A recipe is a YAML file of this package's ``recipes/`` folder (or any path) holding a partial
:class:`~synsetlab.train.config.TrainConfig`; overrides (CLI flags, ``--set
section.key=value``) are applied on top.
(Pretraining's config resolves in :func:`synsetlab.train.ssl.pretrain.resolve_ssl_config`.)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from synsetlab.errors import UserError
from synsetlab.train.checkpoint import saved_config
from synsetlab.train.config import EXECUTION_FIELDS, LoopConfig, TrainConfig, describe


class RecipeError(UserError, ValueError):
    """A recipe or override cannot be read or does not fit :class:`TrainConfig`."""


def recipe_names(package: str = "synsetlab.train") -> list[str]:
    """The recipes shipped with the package (those of ``package``'s ``recipes/`` folder)."""
    folder = resources.files(package) / "recipes"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """A recipe's raw values: a shipped recipe by name, or a YAML file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("synsetlab.train") / "recipes" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise RecipeError(
                f"no recipe {name_or_path!r}; shipped recipes: {', '.join(recipe_names())}, "
                "or give the path of a .yaml file"
            )
        text = resource.read_text(encoding="utf-8")
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe {name_or_path!r} is not valid YAML: {e}") from e
    if not isinstance(values, dict):
        raise RecipeError(f"recipe {name_or_path!r} must be a mapping of config fields")
    values.pop("description", None)
    return values


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=0.05"`` -> ``(["optim", "lr"], 0.05)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"override {text!r} is not KEY=VALUE (e.g. optim.lr=0.05)")
    return key.strip().split("."), yaml.safe_load(raw)


def apply_overrides(
    values: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    assignments: Sequence[str] = (),
) -> None:
    """Set, in the nested ``values``, ``overrides`` (dotted keys -> values, ``None`` values
    ignored), then ``assignments`` (``"section.key=value"`` strings)."""
    items = [(key.split("."), v) for key, v in (overrides or {}).items() if v is not None]
    items += [parse_assignment(a) for a in assignments]
    for path, value in items:
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RecipeError(f"{'.'.join(path)}: {part} is not a section")
        target[path[-1]] = value


def resolve_config(
    recipe: str | dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    assignments: list[str] = (),  # type: ignore[assignment]
    *,
    resume: Path | None = None,
) -> TrainConfig:
    """The config of a recipe (a name, a YAML path, or the values themselves, e.g. a
    checkpoint's config; none: the defaults, or with ``resume`` that checkpoint's own config
    less its execution fields), then ``overrides`` (dotted keys -> values, ``None`` values
    ignored), then ``assignments`` (``"section.key=value"`` strings)."""
    saved = saved_config(resume, execution=EXECUTION_FIELDS) if resume is not None else None
    if recipe is None:
        recipe = saved
    if isinstance(recipe, dict):
        values: dict[str, Any] = copy.deepcopy(recipe)
    else:
        values = load_recipe(recipe) if recipe else {}
    apply_overrides(values, overrides, assignments)
    try:
        config = TrainConfig.model_validate(values)
    except ValidationError as e:
        raise RecipeError(f"invalid training config ({describe(e)})") from e
    return inherit_amp(config, saved)


_Config = TypeVar("_Config", bound=LoopConfig)


def inherit_amp(config: _Config, saved: dict[str, Any] | None) -> _Config:
    """``config`` resuming a run saved with ``saved`` (its config): ``amp: auto`` keeps the
    precision the run chose when it started, wherever it resumes (the choice depends on the
    machine, and a resume must continue the same computation)."""
    if config.amp == "auto" and saved is not None and isinstance(saved.get("amp"), bool):
        return config.model_copy(update={"amp": saved["amp"]})
    return config
