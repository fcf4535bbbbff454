"""Training on frozen versions: typed recipes, the loop, exact checkpoints, inference.

>>> config = resolve_config("tiny-cpu", {"epochs": 3})
>>> result = train(version.manifest, ws.blobs, config, Path("runs/tiny"), version_id=version.id)

The names below are imported on first use (PEP 562), so that importing a leaf of this
package, such as the config schema :mod:`synsetlab.train.config`, does not load the code that
trains.

Modules, from the leaves up: ``config`` (schemas), ``checkpoint`` (files), ``models``,
``hardware``, ``distributed``, ``resolve`` (recipes and overrides), ``weights`` (models from
weights files), ``adversarial`` and ``distill`` (their algorithms), ``criteria`` (the loss of a
batch), ``loop`` (an epoch, an evaluation), ``finetune``, ``parts`` (what a run trains with),
``rundir`` (a run folder's life), ``run`` (``train``), then ``inference``, ``ensemble``,
``robustness``, ``onnx_export`` and ``ssl``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synsetlab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from synsetlab.train.config import TrainConfig
    from synsetlab.train.interrupt import TrainingInterrupted
    from synsetlab.train.loop import TrainingError, TrainingWarning, evaluate
    from synsetlab.train.models import ModelError, create_model
    from synsetlab.train.resolve import RecipeError, recipe_names, resolve_config
    from synsetlab.train.run import TrainResult, train

#: Each public name and the module that defines it.
_EXPORTS = {
    "CheckpointError": "synsetlab.train.checkpoint",
    "ModelError": "synsetlab.train.models",
    "RecipeError": "synsetlab.train.resolve",
    "TrainConfig": "synsetlab.train.config",
    "TrainResult": "synsetlab.train.run",
    "TrainingError": "synsetlab.train.loop",
    "TrainingInterrupted": "synsetlab.train.interrupt",
    "TrainingWarning": "synsetlab.train.loop",
    "create_model": "synsetlab.train.models",
    "evaluate": "synsetlab.train.loop",
    "load_checkpoint": "synsetlab.train.checkpoint",
    "recipe_names": "synsetlab.train.resolve",
    "resolve_config": "synsetlab.train.resolve",
    "save_checkpoint": "synsetlab.train.checkpoint",
    "train": "synsetlab.train.run",
}

__all__ = [
    "CheckpointError",
    "ModelError",
    "RecipeError",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrainingInterrupted",
    "TrainingWarning",
    "create_model",
    "evaluate",
    "load_checkpoint",
    "recipe_names",
    "resolve_config",
    "save_checkpoint",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
