"""DDP: two processes (launched by torchrun) train what one process trains with the same
global batch: on the CPU through gloo, and with SyncBN on a GPU where there is one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from synsetlab.train import load_checkpoint, resolve_config, train
from synsetlab.train.distributed import init_world
from tests.tiny_version import SMALL, TinyVersion
from tests.train.ddp_worker import VIT

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_command(
    tiny: TinyVersion, out: Path, overrides: dict[str, Any] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that train ``tiny`` with the tiny-cpu recipe and
    ``overrides`` in two processes."""
    path = os.pathsep.join(
        filter(None, [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")])
    )
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(WORKER), tiny.blobs.url, tiny.version_id, str(out),
    ]  # fmt: skip
    if overrides is not None:
        command.append(json.dumps(overrides))
    return command, env


def _torchrun(tiny: TinyVersion, out: Path, overrides: dict[str, Any] | None = None) -> None:
    """Train ``tiny`` with the tiny-cpu recipe and ``overrides`` in two processes."""
    command, env = _torchrun_command(tiny, out, overrides)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_train_what_one_process_trains(tiny: TinyVersion, tmp_path: Path) -> None:
    _torchrun(tiny, tmp_path / "ddp")

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


def test_a_signal_to_one_process_stops_every_process_on_the_same_step(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    """A scheduler's SIGTERM to one rank: were it to stop alone, the other would wait in the
    next step's all-reduce for ever. Both stop, after the same step, and last.pt holds it."""
    out = tmp_path / "ddp"
    # save_every_steps=1: last.pt shows that steps are under way.
    command, env = _torchrun_command(tiny, out, {**VIT, "epochs": 500, "save_every_steps": 1})
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (out / "last.pt").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0][-3000:]
        os.kill(int((out / "rank1.pid").read_text()), signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-3000:]
    assert (out / "rank0.stopped").read_text() == (out / "rank1.stopped").read_text() == "15"
    saved = load_checkpoint(out / "last.pt")
    assert saved["world_size"] == 2 and saved["global_step"] >= 1


def tiny_initial_head() -> torch.Tensor:
    from synsetlab.train.parts import build_model
    from tests.tiny_version import CLASSES

    return build_model(resolve_config("tiny-cpu", VIT), CLASSES).state_dict()["head.weight"]


#: tiny-cpu's small ResNet (batch norm) in fp32 SGD on GPU 0. Two processes share that GPU
#: through gloo (NCCL refuses two ranks on one GPU): SyncBN's all-gather is the same either way.
BN_ON_GPU = {
    **SMALL, "device": "cuda:0", "dist_backend": "gloo", "epochs": 2, "batch_size": 12,
    "optim.name": "sgd", "optim.lr": 0.05, "amp": False,
}  # fmt: skip


def _largest_gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two state dicts' float tensors."""
    return max(
        (a[name].float() - b[name].float()).abs().max().item()
        for name in a
        if a[name].is_floating_point()
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch runs SyncBatchNorm on CUDA only")
def test_sync_bn_on_a_gpu_trains_what_one_process_trains(
    tiny: TinyVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``sync_bn``, two processes' batch norm sees the whole global batch, as one process
    does; without it each normalises by its own half, and the weights drift apart."""
    _torchrun(tiny, tmp_path / "synced", {**BN_ON_GPU, "sync_bn": True})
    _torchrun(tiny, tmp_path / "unsynced", BN_ON_GPU)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    train(tiny.manifest, tiny.blobs, resolve_config("tiny-cpu", BN_ON_GPU), tmp_path / "one",
          version_id=tiny.version_id)  # fmt: skip

    one = load_checkpoint(tmp_path / "one" / "last.pt")["state_dict"]
    synced = load_checkpoint(tmp_path / "synced" / "last.pt")["state_dict"]
    unsynced = load_checkpoint(tmp_path / "unsynced" / "last.pt")["state_dict"]
    assert synced.keys() == one.keys()
    gap, control = _largest_gap(one, synced), _largest_gap(one, unsynced)
    print(
        f"largest weight or statistic gap to one process: sync_bn {gap:.2e}, without {control:.2e}"
    )
    assert gap < 1e-3
    assert control > 20 * gap


def test_nccl_on_the_cpu_is_refused_with_the_backend_to_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="dist_backend=gloo"):
        init_world(torch.device("cpu"), "nccl")
