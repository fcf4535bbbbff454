"""Exact resumption: N steps straight equal N/2 steps, a resume, and the rest, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synsetlab.train.checkpoint import load_checkpoint, load_moments
from synsetlab.train.config import resolve_config
from synsetlab.train.loop import TrainingError
from synsetlab.train.run import train
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
    assert [r["epoch"] for r in rest.history] == [1, 2, 3]


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
    with pytest.raises(TrainingError, match="already holds a run; continue it with --resume"):
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
