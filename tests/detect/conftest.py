"""Fixtures of the detector tests: one tiny scenes version for the whole session, and one
torch thread per test process (two test processes share the two cores, as tests/train)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.detect.scenes_version import make_scenes_workspace

torch.set_num_threads(1)


@dataclass(frozen=True)
class ScenesVersion:
    root: Path
    manifest: Manifest
    blobs: BlobStore
    version_id: str


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs choose their threads (train.hardware.choose_threads) after OMP_NUM_THREADS."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def det_scenes(tmp_path_factory: pytest.TempPathFactory) -> ScenesVersion:
    """Version v1 of 3 classes x 8 scenes of 64x48 (4 train, 2 val, 2 test a class), every
    object boxed, in a workspace at ``root``."""
    root = make_scenes_workspace(tmp_path_factory.mktemp("det"), per_class=8)
    ws = open_workspace(root)
    try:
        v = load_version(ws, "v1")
        return ScenesVersion(root, v.manifest, ws.blobs, v.id)
    finally:
        ws.close()
