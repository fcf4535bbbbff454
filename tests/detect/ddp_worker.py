"""Run by ``torchrun`` from test_run.py: train the tiny detector on this process's share.

python -m torch.distributed.run --nproc_per_node 2 tests/detect/ddp_worker.py BLOBS VERSION OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from synsetlab.blobs import BlobStore
from synsetlab.detect import train_detector
from synsetlab.manifest import Manifest
from tests.detect.tiny_detector import tiny_config


def main() -> None:
    torch.set_num_threads(1)
    blobs, version_id, out = BlobStore(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    manifest = Manifest.from_bytes(blobs.get(version_id))
    train_detector(manifest, blobs, tiny_config(), out, version_id=version_id)


if __name__ == "__main__":
    main()
