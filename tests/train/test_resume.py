"""Exact resumption: N steps straight equal N/2 steps, a resume, and the rest, bit for bit."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from synsetlab.data import DeviceNormalize
from synsetlab.train import run as run_module
from synsetlab.train.checkpoint import load_checkpoint, load_moments
from synsetlab.train.config import TrainConfig
from synsetlab.train.history import read_history
from synsetlab.train.interrupt import TrainingInterrupted
from synsetlab.train.loop import SilentReporter, TrainingError
from synsetlab.train.resolve import resolve_config
from synsetlab.train.run import TrainResult, train
from tests.tiny_version import SMALL, TinyVersion

#: Every source of randomness on: augmentation, mixup/cutmix, erasing, dropout, EMA.
BUSY = {
    **SMALL,
    "epochs": 3,
    "batch_size": 12,
    "data.auto_augment": "trivialaugment",
    "mixup": 0.2,
    "cutmix": 1.0,
    "random_erasing": 0.25,
    "drop_rate": 0.1,
    "ema_decay": 0.9,
    "optim.accum_steps": 2,
}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    return {**state["state_dict"], **{f"ema.{k}": v for k, v in state["state_dict_ema"].items()}}


def _assert_identical(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def _assert_same_history(straight: TrainResult, run: Path) -> None:
    """The interrupted run's whole record, in its checkpoint and in metrics.jsonl, is the
    straight run's: every epoch once, the same losses, learning rates and validation
    figures to the bit; a throughput for every epoch (timings differ)."""
    logged = read_history(run / "metrics.jsonl")
    assert logged == load_checkpoint(run / "last.pt")["history"]
    assert [r["epoch"] for r in logged] == [r["epoch"] for r in straight.history]
    for want, got in zip(straight.history, logged, strict=True):
        assert got.keys() == want.keys()
        assert got["images_per_s"] is not None and got["images_per_s"] > 0
        same = {k: v for k, v in want.items() if k != "images_per_s"}
        assert {k: got[k] for k in same} == same, f"epoch {want['epoch']}"


class _SignalAt(SilentReporter):
    """Sends this process ``signum`` during its ``at``-th step, as Ctrl-C or a scheduler's
    SIGTERM would."""

    def __init__(self, at: int, signum: int = signal.SIGINT) -> None:
        self.at, self.signum, self.steps = at, signum, 0

    def step(self, images: int, loss: float, lr: float) -> None:
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), self.signum)


def _straight(tiny: TinyVersion, out: Path, values: dict[str, Any] = BUSY) -> TrainResult:
    config = resolve_config("tiny-cpu", values)
    return train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)


def _resume(tiny: TinyVersion, run: Path, checkpoint: Path, **values: Any) -> TrainResult:
    config = resolve_config(None, values, resume=checkpoint)
    return train(tiny.manifest, tiny.blobs, config, run, version_id=tiny.version_id,
                 resume=checkpoint)  # fmt: skip


# Mid-epoch (4 steps an epoch) with two loader processes in the interrupted run, then at an
# epoch end: neither the stop nor the workers may change a bit.
@pytest.mark.parametrize(("stop_at", "workers"), [(5, 2), (8, 0)])
def test_resume_continues_exactly(
    tiny: TinyVersion, tmp_path: Path, stop_at: int, workers: int
) -> None:
    config = resolve_config("tiny-cpu", BUSY)
    straight = train(tiny.manifest, tiny.blobs, config, tmp_path / "a", version_id=tiny.version_id)
    assert straight.global_step == 12 and not straight.stopped_early

    budget = resolve_config("tiny-cpu", {**BUSY, "max_steps": stop_at, "workers": workers})
    first = train(tiny.manifest, tiny.blobs, budget, tmp_path / "b", version_id=tiny.version_id)
    assert first.stopped_early and first.global_step == stop_at
    assert load_checkpoint(tmp_path / "b" / "last.pt")["global_step"] == stop_at
    rest = train(
        tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id=tiny.version_id,
        resume=tmp_path / "b" / "last.pt",
    )  # fmt: skip
    assert rest.global_step == 12 and rest.epochs_done == 3
    _assert_identical(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt")
    _assert_same_history(straight, tmp_path / "b")


# A signal mid-epoch, and on an epoch's last step: that checkpoint holds every step of the
# epoch but not its record or validation, which the resume must produce, not an empty epoch.
@pytest.mark.parametrize(
    ("at", "signum"), [(6, signal.SIGINT), (4, signal.SIGINT), (7, signal.SIGTERM)]
)
def test_a_signal_saves_a_checkpoint_that_resumes_exactly(
    tiny: TinyVersion, tmp_path: Path, at: int, signum: int
) -> None:
    straight = _straight(tiny, tmp_path / "a")
    config = resolve_config("tiny-cpu", BUSY)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tiny.manifest, tiny.blobs, config, tmp_path / "b", version_id=tiny.version_id,
              reporter=_SignalAt(at, signum))  # fmt: skip
    last = tmp_path / "b" / "last.pt"
    assert stopped.value.checkpoint == last and stopped.value.exit_code == 128 + signum
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    saved = load_checkpoint(last)
    assert saved["global_step"] == at  # the step under way was finished, then saved
    assert (saved["epoch"], saved["epoch_step"]) == ((at - 1) // 4, (at - 1) % 4 + 1)
    assert saved["epoch_partial"]["loss_steps"] == saved["epoch_step"]
    rest = _resume(tiny, tmp_path / "b", last)
    assert rest.global_step == 12 and rest.epochs_done == 3
    _assert_identical(tmp_path / "a" / "last.pt", last)
    _assert_same_history(straight, tmp_path / "b")


def test_a_crash_after_a_step_checkpoint_on_the_epochs_last_step(
    tiny: TinyVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """save_every_steps dividing the epoch writes last.pt on its last step; a crash before
    the end-of-epoch save (here in the first validation) leaves that checkpoint."""
    values = {**BUSY, "save_every_steps": 4}  # 4 steps an epoch
    straight = _straight(tiny, tmp_path / "a", values)
    validate = run_module._validate

    def crash_once(*args: Any) -> dict[str, Any]:
        monkeypatch.setattr(run_module, "_validate", validate)
        raise RuntimeError("the machine went down")

    monkeypatch.setattr(run_module, "_validate", crash_once)
    with pytest.raises(RuntimeError, match="went down"):
        _straight(tiny, tmp_path / "b", values)
    last = tmp_path / "b" / "last.pt"
    saved = load_checkpoint(last)
    assert (saved["epoch"], saved["epoch_step"], saved["history"]) == (0, 4, [])
    _resume(tiny, tmp_path / "b", last)
    _assert_same_history(straight, tmp_path / "b")


def test_resuming_from_an_earlier_checkpoint_rewrites_the_history(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    straight = _straight(tiny, tmp_path / "a")
    run, last, early = tmp_path / "b", tmp_path / "b" / "last.pt", tmp_path / "b" / "early.pt"
    _straight(tiny, run, {**BUSY, "max_steps": 4})  # one epoch
    shutil.copyfile(last, early)
    _resume(tiny, run, last)  # to the end: epochs 1, 2, 3
    # Back to epoch 1, and a step budget ends the resumed run after epoch 2: the file says
    # what that run's checkpoint says, not [1, 2, 3, 2].
    again = _resume(tiny, run, early, max_steps=8)
    assert [r["epoch"] for r in read_history(run / "metrics.jsonl")] == [1, 2]
    assert [r["epoch"] for r in again.history] == [1, 2]
    _resume(tiny, run, last)
    _assert_same_history(straight, run)


def test_validation_autocasts_to_the_configured_dtype() -> None:
    """float16 runs validated in bfloat16."""
    seen: list[torch.dtype] = []

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3 * 4 * 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(x.flatten(1))
            seen.append(y.dtype)
            return y

    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    parts = SimpleNamespace(
        ema=None, model=Probe(), val_loader=[(images, torch.tensor([0, 1]))],
        normalize=DeviceNormalize((0.5,) * 3, (0.5,) * 3, device=torch.device("cpu")),
    )  # fmt: skip
    cpu = torch.device("cpu")
    for amp, dtype, expected in [(True, "float16", torch.float16),
                                 (True, "bfloat16", torch.bfloat16),
                                 (False, "float16", torch.float32)]:  # fmt: skip
        seen.clear()
        config = TrainConfig(amp=amp, amp_dtype=dtype)
        run_module._validate(parts, config, cpu)  # type: ignore[arg-type]
        assert seen == [expected]


def test_resume_refuses_a_changed_config_unless_forced(tiny: TinyVersion, tmp_path: Path) -> None:
    config = resolve_config("tiny-cpu", {**BUSY, "epochs": 1, "mixup": 0, "cutmix": 0})
    train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    last = tmp_path / "run" / "last.pt"
    changed = resolve_config("tiny-cpu", {**BUSY, "epochs": 2, "optim.lr": 0.01, "workers": 1,
                                          "mixup": 0, "cutmix": 0})  # fmt: skip
    with pytest.raises(
        TrainingError, match=r"differs .* in epochs \(1 -> 2\), optim\.lr \(.+ -> 0\.01\): res"
    ):
        train(tiny.manifest, tiny.blobs, changed, tmp_path / "run", version_id=tiny.version_id,
              resume=last)  # fmt: skip
    forced = train(tiny.manifest, tiny.blobs, changed, tmp_path / "run",
                   version_id=tiny.version_id, resume=last, force=True)  # fmt: skip
    assert forced.epochs_done == 2
    # The new settings rule the added epoch: the schedule is the 2-epoch one at lr 0.01, not
    # the 1-epoch one that had ended (at lr 0).
    fresh = train(tiny.manifest, tiny.blobs, changed, tmp_path / "fresh",
                  version_id=tiny.version_id)  # fmt: skip
    assert forced.history[-1]["lr"] == pytest.approx(fresh.history[-1]["lr"])
    assert 0 < forced.history[-1]["lr"] < 0.01
    saved = load_checkpoint(last)["optimizer"]
    assert saved["param_groups"][0]["initial_lr"] == 0.01 and saved["state"]  # moments kept


def test_a_forced_resume_counts_the_new_schedule_in_its_own_steps(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    quiet = {**BUSY, "mixup": 0, "cutmix": 0}
    first = resolve_config("tiny-cpu", {**quiet, "epochs": 1})  # 4 steps of 12 images
    train(tiny.manifest, tiny.blobs, first, tmp_path / "run", version_id=tiny.version_id)
    bigger = resolve_config("tiny-cpu", {**quiet, "epochs": 2, "batch_size": 24,
                                         "optim.accum_steps": 1})  # fmt: skip
    last = tmp_path / "run" / "last.pt"
    forced = train(tiny.manifest, tiny.blobs, bigger, tmp_path / "run",
                   version_id=tiny.version_id, resume=last, force=True)  # fmt: skip
    fresh = train(tiny.manifest, tiny.blobs, bigger, tmp_path / "fresh",
                  version_id=tiny.version_id)  # fmt: skip
    assert forced.global_step == fresh.global_step == 4  # 2 steps an epoch now
    assert forced.history[-1]["lr"] == pytest.approx(fresh.history[-1]["lr"])


def test_moments_carry_over_only_into_the_same_optimiser() -> None:
    model = torch.nn.Linear(3, 2)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(4, 3)).sum().backward()
    sgd.step()
    again = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    load_moments(again, sgd.state_dict())
    assert len(again.state) == 2 and again.param_groups[0]["lr"] == 0.5  # the new settings
    assert again.param_groups[0]["weight_decay"] == 1e-3
    adamw = torch.optim.AdamW(model.parameters(), lr=0.01)
    load_moments(adamw, sgd.state_dict())  # SGD's momentum means nothing to AdamW
    assert len(adamw.state) == 0 and adamw.param_groups[0]["lr"] == 0.01


def test_a_forced_resume_into_another_architecture_says_so(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "max_steps": 1})
    train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    wider = resolve_config(
        "tiny-cpu", {**SMALL, "model_kwargs": {"channels": [16, 16, 32, 64], "stem_width": 8}}
    )
    with pytest.raises(TrainingError, match=r"do not fit this architecture .* resume with the"):
        train(tiny.manifest, tiny.blobs, wider, tmp_path / "run", version_id=tiny.version_id,
              resume=tmp_path / "run" / "last.pt", force=True)  # fmt: skip


def test_a_run_folder_is_never_overwritten(tiny: TinyVersion, tmp_path: Path) -> None:
    config = resolve_config("tiny-cpu", {**BUSY, "max_steps": 1})
    train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(TrainingError, match="already holds a run: continue it with --resume"):
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_the_printed_resume_command_keeps_the_execution_settings() -> None:
    """A checkpoint's config leaves out how the run executed (a step budget, the device, ...):
    the command printed after Ctrl-C gives them again, and nothing else (the rest comes from
    the checkpoint)."""
    from synsetlab.cli.train import EXECUTION_OPTIONS, resume_command
    from synsetlab.train.config import EXECUTION_FIELDS

    assert set(EXECUTION_OPTIONS) <= EXECUTION_FIELDS
    given = {"max_steps": 100, "device": "cpu", "threads": None, "workers": 2, "epochs": 3}
    line = resume_command(["synsetlab", "train", "v1"], Path("runs/a b/last.pt"), given,
                          ["save_every_steps=10", "optim.lr=0.1"])  # fmt: skip
    assert line == (
        "synsetlab train v1 --resume 'runs/a b/last.pt' --max-steps 100 --device cpu "
        "--workers 2 --set save_every_steps=10"
    )
