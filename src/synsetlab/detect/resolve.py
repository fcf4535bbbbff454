"""A detector run's config resolved: a detector recipe (shipped by name in
``synsetlab/detect/recipes/``, or a YAML path), overrides on top, and on a resume the config
the checkpoint records, as :func:`synsetlab.train.resolve.resolve_config` does for
classifiers (whose recipe reading and ``--set`` parsing this reuses)."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synsetlab.detect.config import DETECTOR_EXECUTION_FIELDS, DetectorConfig
from synsetlab.train.checkpoint import saved_config
from synsetlab.train.config import describe
from synsetlab.train.resolve import (
    RecipeError,
    apply_overrides,
    inherit_amp,
    load_recipe,
    recipe_names,
)

__all__ = [
    "default_detector_recipe",
    "detector_recipe_names",
    "load_detector_recipe",
    "resolve_detector_config",
]

#: The recipe a run without --recipe or --model gets, by where it trains: torchvision's
#: MobileNetV3 FPN at 800 px takes about 6 s a step of 2 images on a 2-core AVX2 CPU (some
#: 18 hours for 12 epochs of 900 scenes, 2.6 GiB), the tiny recipe about 25 images/s.
DEFAULT_RECIPES = {"cuda": "fasterrcnn-mobilenet", "cpu": "tiny-det-cpu"}


def default_detector_recipe(device: str | None = "auto") -> str:
    """The shipped recipe for a run that names neither a recipe nor a model, chosen for the
    machine (``device`` as a run takes it; ``auto``: CUDA when available)."""
    import torch  # only here: resolving a named recipe needs no torch

    name = device or "auto"
    cuda = torch.cuda.is_available() if name == "auto" else name.startswith("cuda")
    return DEFAULT_RECIPES["cuda" if cuda else "cpu"]


def detector_recipe_names() -> list[str]:
    """The detector recipes shipped with the package."""
    return recipe_names("synsetlab.detect")


def load_detector_recipe(name_or_path: str) -> dict[str, Any]:
    """A detector recipe's raw values: a shipped one by name, or a YAML file by path."""
    path = Path(name_or_path).expanduser()
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        resource = resources.files("synsetlab.detect") / "recipes" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise RecipeError(
                f"no detector recipe {name_or_path!r}; shipped: "
                f"{', '.join(detector_recipe_names())}, or give the path of a .yaml file"
            )
        path = Path(str(resource))
    return load_recipe(str(path))


def resolve_detector_config(
    recipe: str | dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    assignments: list[str] = (),  # type: ignore[assignment]
    *,
    resume: Path | None = None,
) -> DetectorConfig:
    """The config of a recipe (a name, a YAML path or the values; none: the defaults, or with
    ``resume`` that checkpoint's config less its execution fields), then ``overrides``
    (dotted keys -> values, ``None`` ignored), then ``assignments`` (``"key=value"``)."""
    saved = None
    if resume is not None:
        saved = saved_config(resume, execution=DETECTOR_EXECUTION_FIELDS, task="detection")
    if recipe is None:
        recipe = saved
    values = copy.deepcopy(recipe) if isinstance(recipe, dict) else {}
    if isinstance(recipe, str) and recipe:
        values = load_detector_recipe(recipe)
    apply_overrides(values, overrides, assignments)
    try:
        config = DetectorConfig.model_validate(values)
    except ValidationError as e:
        raise RecipeError(f"invalid detector config ({describe(e)})") from e
    return inherit_amp(config, saved)
