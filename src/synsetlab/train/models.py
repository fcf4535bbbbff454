"""Models by name, from timm (default) or torchvision (``tv/<name>``); never hand-written."""

from __future__ import annotations

from typing import Any

import timm
import torch
import torchvision
from torch import nn

from synsetlab.errors import UserError
from synsetlab.train.config import TORCHVISION_PREFIX


class ModelError(UserError, ValueError):
    """A model name or its weights cannot be used; the message says what to do."""


def create_model(
    name: str,
    *,
    num_classes: int,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    **kwargs: Any,
) -> nn.Module:
    """A freshly initialised classifier with ``num_classes`` outputs (random weights).

    ``name`` is a timm model name, or ``tv/<name>`` for a torchvision one
    (``torchvision.models.list_models()``); drop rates apply to timm models only.
    """
    if name.startswith(TORCHVISION_PREFIX):
        tv_name = name.removeprefix(TORCHVISION_PREFIX)
        if tv_name not in torchvision.models.list_models():
            raise ModelError(f"unknown torchvision model {tv_name!r}; see torchvision.models")
        return torchvision.models.get_model(
            tv_name, weights=None, num_classes=num_classes, **kwargs
        )
    if not timm.is_model(name):
        raise ModelError(
            f"unknown model {name!r}: give a timm name (timm.list_models()) or tv/<name> "
            "for torchvision"
        )
    return timm.create_model(
        name,
        num_classes=num_classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        **kwargs,
    )


def pre_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, S, S) -> (B, D)``: a timm model's features before the classifier (a backbone
    without classifier returns the same from ``model(x)``)."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def classifier_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the classification head (``fc``, ``head.fc``, ...)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if "classifier" in cfg:
        return str(cfg["classifier"])
    for name in ("fc", "classifier", "head"):  # torchvision's heads
        if isinstance(getattr(model, name, None), nn.Module):
            return name
    raise ModelError(f"cannot find the classifier of {type(model).__name__}")


def without_classifier(model: nn.Module) -> nn.Module:
    """``model`` with its classifier replaced by the identity, so that ``model(x)`` gives the
    pooled features ``(B, D)``: timm's ``reset_classifier(0)``; for torchvision, the head
    module (``fc``, ``classifier``) swapped out. Returned in eval mode."""
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(0)
    else:
        setattr(model, classifier_prefix(model), nn.Identity())
    return model.eval()


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], *, strict_head: bool) -> None:
    """Load ``state`` into ``model``; with ``strict_head=False`` a head of another shape is
    left as initialised (fine-tuning to other classes). Every other weight must fit."""
    prefix = classifier_prefix(model) + "."
    own = model.state_dict()
    if not strict_head:
        state = {
            k: v
            for k, v in state.items()
            if not (k.startswith(prefix) and k in own and own[k].shape != v.shape)
        }
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # weights of the wrong shape: torch lists every one
        mismatches = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        first = mismatches[0] if mismatches else str(e)
        raise ModelError(
            f"the weights do not fit this architecture ({len(mismatches) or 1} weights of "
            f"another shape, e.g. {first}): they come from other model_kwargs or another model"
        ) from e
    missing = [k for k in missing if strict_head or not k.startswith(prefix)]
    if missing or unexpected:
        raise ModelError(
            f"the weights do not fit this architecture: {len(missing)} missing "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
