"""Training on frozen versions: typed recipes, the loop, exact checkpoints, inference.

>>> config = resolve_config("tiny-cpu", {"epochs": 3})
>>> result = train(version.manifest, ws.blobs, config, Path("runs/tiny"), version_id=version.id)
"""

from synsetlab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synsetlab.train.config import RecipeError, TrainConfig, recipe_names, resolve_config
from synsetlab.train.interrupt import TrainingInterrupted
from synsetlab.train.loop import TrainingError, TrainingWarning, evaluate
from synsetlab.train.models import ModelError, create_model
from synsetlab.train.run import TrainResult, train

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
