"""Run by ``torchrun`` from test_distributed.py: train the tiny version on this process's share.

python -m torch.distributed.run --nproc_per_node 2 tests/train/ddp_worker.py BLOBS VERSION OUT \
    [OVERRIDES_JSON]

OVERRIDES_JSON: the tiny-cpu recipe's overrides (default :data:`VIT`). Each process writes its
pid to ``OUT/rank<R>.pid`` before training, and ``OUT/rank<R>.stopped`` (the signal) when a
signal stops it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest
from synsetlab.train import TrainingInterrupted, resolve_config, train

#: A tiny ViT: layer norms only, so that a global batch split over processes computes what
#: one process computes (batch norm would see per-process statistics without SyncBN).
VIT = {
    "model": "vit_tiny_patch16_224",
    "model_kwargs": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2,
                     "num_heads": 2},
    "data.image_size": 32,
    "epochs": 2,
    "batch_size": 12,
    "ema_decay": 0.9,
    "optim.accum_steps": 2,
    # SGD: Adam divides by the gradient's own scale, so float noise in near-zero gradients
    # (summation order differs between one and two processes) becomes whole-sized steps.
    "optim.name": "sgd",
    "optim.lr": 0.05,
    # fp32: bfloat16's 8-bit mantissa would swamp the summation-order differences compared.
    "amp": False,
}  # fmt: skip


def exact_fp32() -> None:
    """No TensorFloat-32 on CUDA: its 10-bit mantissa would swamp the differences compared."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def main() -> None:
    torch.set_num_threads(1)
    exact_fp32()
    blobs, version_id, out = BlobStore(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else VIT
    manifest = Manifest.from_bytes(blobs.get(version_id))
    rank = os.environ["RANK"]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.pid").write_text(str(os.getpid()))
    try:
        train(manifest, blobs, resolve_config("tiny-cpu", overrides), out, version_id=version_id)
    except TrainingInterrupted as stopped:
        (out / f"rank{rank}.stopped").write_text(str(stopped.signum))


if __name__ == "__main__":
    main()
