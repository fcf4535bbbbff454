"""DDP: two CPU processes (gloo, launched by torchrun) train what one process trains with the
same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from synsetlab.train import load_checkpoint, resolve_config, train
from tests.tiny_version import TinyVersion
from tests.train.ddp_worker import VIT

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_what_one_process_trains(tiny: TinyVersion, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(WORKER), tiny.blobs.url, tiny.version_id, str(tmp_path / "ddp"),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    single = train(tiny.manifest, tiny.blobs, resolve_config("tiny-cpu", VIT), tmp_path / "one",
                   version_id=tiny.version_id)  # fmt: skip
    assert single.global_step == 2 * (48 // 12)
    two = load_checkpoint(tmp_path / "ddp" / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "last.pt")
    assert two["global_step"] == one["global_step"]
    for key in ("state_dict", "state_dict_ema"):
        for name, value in one[key].items():
            assert torch.allclose(two[key][name], value, atol=2e-5, rtol=1e-4), (key, name)
    assert not torch.equal(one["state_dict"]["head.weight"], tiny_initial_head())
    # Only rank 0 writes: one metrics line per epoch, not two.
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 2


def tiny_initial_head() -> torch.Tensor:
    from synsetlab.train.setup import build_model
    from tests.tiny_version import CLASSES

    return build_model(resolve_config("tiny-cpu", VIT), CLASSES).state_dict()["head.weight"]
