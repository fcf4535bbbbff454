"""Training checkpoints: everything a run needs to continue exactly, written atomically.

A checkpoint is one ``torch.save`` file, read back with ``weights_only=True`` (no pickled
code), holding the keys timm's ``train.py`` uses (``arch``, ``state_dict``,
``state_dict_ema``, ``optimizer``, ``epoch``) and what exact resumption adds: scheduler,
grad scaler, global step, position in the epoch, every RNG state, the resolved config, the
dataset version and its classes.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synsetlab.atomic import atomic_file
from synsetlab.errors import UserError

FORMAT = "synsetlab-checkpoint-1"
REQUIRED = ("format", "arch", "classes", "config", "state_dict", "epoch", "global_step")


class CheckpointError(UserError, ValueError):
    """A checkpoint or weights file is missing, corrupt, not what was asked for, or does not
    fit the architecture (training, fine-tuning, inference and feature extraction alike)."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (see the module docstring) to ``path`` atomically: a crash leaves the
    previous file, never half of a new one."""
    with atomic_file(path) as f:
        torch.save({"format": FORMAT, **state}, f)
    return path


def link_checkpoint(source: Path, target: Path) -> Path:
    """Make ``target`` hold what ``source`` holds without writing it again: a hard link (a
    copy where the filesystem has none), swapped in atomically. ``source`` is later replaced
    by :func:`save_checkpoint` (a new file), so ``target`` keeps these bytes."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    tmp.replace(target)
    return target


def checkpoint_file(path: Path | str, *, suggest: str = "best.pt") -> Path:
    """``path`` if it is a file; else :class:`CheckpointError` saying what to give instead:
    for a run folder, its ``suggest`` (``best.pt`` to use a model, ``last.pt`` to resume)."""
    path = Path(path).expanduser()
    if path.is_dir():
        hint = f"; did you mean {path / suggest}?" if (path / suggest).is_file() else ""
        raise CheckpointError(f"{path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def read_file(path: Path, *, mmap: bool = False) -> Any:
    """What a weights or checkpoint file holds: ``torch.load`` with ``weights_only=True`` (no
    pickled code runs), or safetensors for ``.safetensors``. Every loader of this package
    reads through here, so an unreadable file gets one :class:`CheckpointError`. ``mmap``:
    map a torch file instead of reading it (only what is used is read)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # a leaf of safetensors, for this format

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # torch and safetensors raise RuntimeError, EOFError, Unpickling...
        # Not torch's own text: for a file that is no checkpoint it advises weights_only=False,
        # which would run whatever the file holds.
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint ({type(e).__name__}): it is corrupt, "
            "truncated or not a PyTorch checkpoint or weights file (.pt, .pth, .bin, "
            ".safetensors: synsetlab cannot read others); use another (e.g. best.pt, or an "
            "earlier copy)"
        ) from e


def is_checkpoint(state: Any) -> bool:
    """Whether ``state`` (what :func:`read_file` gave) is a synsetlab checkpoint."""
    return isinstance(state, dict) and state.get("format") == FORMAT


def load_checkpoint(path: Path | str, *, suggest: str = "best.pt") -> dict[str, Any]:
    """Read a synsetlab checkpoint; :class:`CheckpointError` says why one cannot be used
    (``suggest``: see :func:`checkpoint_file`)."""
    path = checkpoint_file(path, suggest=suggest)
    state = read_file(path)
    check_checkpoint(state, path)
    return state


def check_checkpoint(state: Any, path: Path | str) -> None:
    """Refuse what is not a whole synsetlab checkpoint (a :class:`CheckpointError`)."""
    if not is_checkpoint(state):
        raise CheckpointError(
            f"{path} is not a synsetlab training checkpoint; to start from plain weights, "
            "use --pretrained (or finetune --from)"
        )
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")


def saved_config(
    path: Path | str,
    *,
    execution: Collection[str],
    key: str = "config",
    task: str = "classification",
) -> dict[str, Any] | None:
    """The config a checkpoint records under ``key`` (``ssl_config``: a pretraining run's)
    without its ``execution`` fields (where and how the run executed, e.g. a step budget):
    what ``--resume`` continues when no recipe is named. ``None`` for files that are no such
    checkpoint (loading them reports why). A checkpoint of another ``task`` (a detector's
    where a classifier's config is wanted, or the reverse) is a :class:`CheckpointError`:
    its config would not fit."""
    try:  # mmap: only the config is read, not the weights and optimiser state
        state = read_file(Path(path), mmap=True)
    except CheckpointError:  # the loader reports unreadable files when the run loads them
        return None
    if not isinstance(state, dict):
        return None
    require_task(state, path, task)
    if not isinstance(state.get(key), dict):
        return None
    return {k: v for k, v in state[key].items() if k not in execution}


def require_task(state: dict[str, Any], path: Path | str, task: str) -> None:
    """Refuse a checkpoint of another task than ``task`` (``classification``: what
    ``synsetlab train``, ``finetune`` and ``pretrain`` write; ``detection``:
    ``train-detector``), saying which commands take it."""
    found = state.get("task", "classification") if is_checkpoint(state) else task
    if found == task:
        return
    if found == "detection":
        raise CheckpointError(
            f"{path} is a detector from `synsetlab train-detector`, not a classifier: resume "
            "it with `synsetlab train-detector --resume`, evaluate it with `synsetlab "
            "evaluate-detector`"
        )
    raise CheckpointError(
        f"{path} is a classifier checkpoint, not a detector: resume it with `synsetlab train "
        "--resume`; to start a detector's backbone from it, use train-detector --backbone-from"
    )


def require_classifier(state: dict[str, Any], path: Path | str) -> None:
    """Refuse a backbone from ``synsetlab pretrain``, or a detector from ``synsetlab
    train-detector``, where a trained classifier is needed (evaluation, prediction, resuming
    a training run)."""
    require_task(state, path, "classification")
    if state.get("ssl_config") is not None:
        raise CheckpointError(
            f"{path} is a self-supervised backbone from `synsetlab pretrain`, with no "
            "classifier: fine-tune it first (`synsetlab finetune VERSION --from "
            f"{path}`) and use that run's best.pt"
        )


def load_moments(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """A saved optimiser state (momentum, Adam moments) under ``optimizer``'s own
    hyperparameters (lr, weight decay, ...): what a resume with another config keeps. Where
    the optimiser or its parameter groups differ, it keeps its fresh state."""
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    saved_keys = {k for g in saved.get("param_groups", []) for k in g if k != "params"}
    if saved_keys != {k for g in hyper for k in g}:  # another optimiser: its moments do not fit
        return
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError):  # other groups (e.g. layer decay switched): start afresh
        return
    for group, own in zip(optimizer.param_groups, hyper, strict=True):
        group.update(own)


def evaluation_weights(state: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The weights to use a checkpoint with, and which they are: its EMA weights when the run
    kept them (what timm's ``train.py`` validates as best), ``"ema"``; else ``"model"``."""
    if state.get("state_dict_ema"):
        return state["state_dict_ema"], "ema"
    return state.get("state_dict") or {}, "model"


def rng_state() -> dict[str, Any]:
    """Every global RNG state, in forms ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    random.setstate(_python_state_from_tensor(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_tensor(state: tuple) -> dict[str, Any]:
    version, internal, gauss = state
    return {
        "version": version,
        "internal": torch.tensor(internal, dtype=torch.int64),
        "gauss": gauss,
    }


def _python_state_from_tensor(state: dict[str, Any]) -> tuple:
    return state["version"], tuple(int(v) for v in state["internal"].tolist()), state["gauss"]
