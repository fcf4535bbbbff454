"""Fine-tuning: a run that starts from another model's weights (``TrainConfig.pretrained``).

The new head keeps the trained row of every class both models share, matched by wnid; a
linear probe (``finetune: linear``) trains the classifier alone, and ``freeze_bn`` keeps
batch norm as pretrained. ``synsetlab finetune --from`` takes the source run's own recipe
(:func:`source_config`) unless another is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from synsetlab.train.checkpoint import require_task, saved_config
from synsetlab.train.config import EXECUTION_FIELDS, TrainConfig
from synsetlab.train.loop import NORM_LAYERS
from synsetlab.train.models import ModelError, classifier_prefix, load_weights
from synsetlab.train.weights import head_classes, read_weights


def source_config(path: Path, *, linear: bool = False) -> dict[str, Any] | None:
    """The training config a synsetlab checkpoint records (``None`` for other files), minus
    what a new run must not inherit: where it ran and what it started from, the precision
    the source's machine chose (the new run decides for its own: ``amp: auto``), and for a
    ``linear`` probe the layer decay a full fine-tune may have used."""
    inherited = saved_config(path, execution=EXECUTION_FIELDS)
    if inherited is not None:
        for name in ("pretrained", "finetune", "freeze_bn", "amp"):
            inherited.pop(name, None)
        if linear:
            inherited.get("optim", {}).pop("layer_decay", None)
    return inherited


def load_pretrained(model: nn.Module, path: Path, classes: Sequence[str]) -> int:
    """Weights from a local file (any that :func:`synsetlab.train.weights.read_weights`
    accepts) into ``model``, whose head predicts ``classes``. The head keeps the trained row
    of every class both sides share (by wnid); other rows stay freshly initialised. Returns
    the number of rows kept."""
    saved = read_weights(path)
    if saved.is_checkpoint:
        require_task(saved.header, path, "classification")
    state = saved.state_dict
    head = classifier_prefix(model)
    weight_key, bias_key = f"{head}.weight", f"{head}.bias"
    own = model.state_dict()
    kept = 0
    if weight_key in state and weight_key in own:
        source_classes = head_classes(saved, state[weight_key].shape[0])
        new_weight, new_bias = own[weight_key].clone(), own.get(bias_key)
        new_bias = None if new_bias is None else new_bias.clone()
        index = {wnid: i for i, wnid in enumerate(source_classes or [])}
        if state[weight_key].shape[1:] == new_weight.shape[1:]:
            for target, wnid in enumerate(classes):
                if wnid in index:
                    new_weight[target] = state[weight_key][index[wnid]]
                    if new_bias is not None and bias_key in state:
                        new_bias[target] = state[bias_key][index[wnid]]
                    kept += 1
        state = {**state, weight_key: new_weight}
        if new_bias is not None:
            state[bias_key] = new_bias
    try:
        load_weights(model, state, strict_head=False)
    except ModelError as e:
        raise ModelError(
            f"{path}: {e}; fine-tune without --recipe to take the source's own settings, "
            "or pass --model"
        ) from e
    return kept


def set_trainable(model: nn.Module, config: TrainConfig) -> None:
    """``finetune: linear`` leaves only the classifier trainable; ``freeze_bn`` freezes the
    batch norms' affine weights (:func:`synsetlab.train.loop.set_train_mode` keeps their
    statistics)."""
    if config.finetune == "linear":
        head = classifier_prefix(model) + "."
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(head))
    elif config.freeze_bn:
        for module in model.modules():
            if isinstance(module, NORM_LAYERS):
                module.requires_grad_(False)
