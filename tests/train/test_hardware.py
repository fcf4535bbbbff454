"""What the machine decides: bfloat16 autocast only where the hardware computes it, and
torch's threads. The decisions are functions of the CPU's flags, so every machine is tested
here with the flags of others."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml

from synsetlab.train.checkpoint import load_checkpoint
from synsetlab.train.finetune import source_config
from synsetlab.train.hardware import (
    CpuInfo,
    choose_amp,
    choose_threads,
    decide_amp,
    read_cpuinfo,
)
from synsetlab.train.loop import TrainingWarning
from synsetlab.train.resolve import resolve_config
from synsetlab.train.run import train
from tests.tiny_version import SMALL, TinyVersion

#: /proc/cpuinfo of the development machines (AVX2 only: bfloat16 is emulated).
ZEN2_AVX2 = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC
flags		: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2 sha_ni vaes
"""
#: A Sapphire Rapids core: AVX512-BF16 and AMX.
SAPPHIRE_RAPIDS = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu sse sse2 avx avx2 avx512f avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile
"""
#: Skylake-SP: AVX512 without BF16, which oneDNN's own check counts as bfloat16 support.
SKYLAKE_AVX512 = """model name	: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
flags		: fpu sse sse2 avx avx2 avx512f avx512bw avx512vl avx512dq
"""
#: aarch64: Graviton 3 (BF16) and Graviton 2 (none).
GRAVITON3 = """processor	: 0
BogoMIPS	: 2100.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16 i8mm sve
CPU part	: 0xd40
"""
GRAVITON2 = """processor	: 0
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU part	: 0xd0c
"""


@pytest.mark.parametrize(
    ("text", "machine", "native"),
    [
        (ZEN2_AVX2, "x86_64", ()),
        (SAPPHIRE_RAPIDS, "x86_64", ("avx512_bf16", "amx_bf16")),
        (SKYLAKE_AVX512, "x86_64", ()),
        (GRAVITON3, "aarch64", ("bf16",)),
        (GRAVITON2, "aarch64", ()),
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(
    text: str, machine: str, native: tuple[str, ...]
) -> None:
    cpu = CpuInfo.parse(text, machine)
    assert cpu.native_bf16 == native
    assert CpuInfo.parse(text).native_bf16 == native  # the architecture guessed from the text


def test_auto_trains_in_bfloat16_only_where_the_cpu_computes_it() -> None:
    cpu = torch.device("cpu")
    laptop = choose_amp("auto", "bfloat16", cpu, CpuInfo.parse(ZEN2_AVX2))
    assert not laptop.enabled and not laptop.emulated and laptop.warning() is None
    assert laptop.describe() == (
        "amp: off, auto: this CPU has no native bfloat16 (avx512_bf16, amx_bf16 absent)"
    )
    server = choose_amp("auto", "bfloat16", cpu, CpuInfo.parse(SAPPHIRE_RAPIDS))
    assert server.enabled and server.native and server.warning() is None
    assert server.describe() == (
        "amp: bfloat16 autocast, auto: this CPU computes bfloat16 natively (avx512_bf16, amx_bf16)"
    )
    assert not choose_amp("auto", "bfloat16", cpu, CpuInfo.parse(SKYLAKE_AVX512)).enabled
    assert choose_amp("auto", "bfloat16", cpu, CpuInfo.parse(GRAVITON3, "aarch64")).enabled
    # float16 autocast on a CPU is never chosen by itself.
    assert not choose_amp("auto", "float16", cpu, CpuInfo.parse(SAPPHIRE_RAPIDS)).enabled


def test_an_explicit_setting_is_obeyed_with_a_warning_where_emulated() -> None:
    cpu = torch.device("cpu")
    forced = choose_amp(True, "bfloat16", cpu, CpuInfo.parse(ZEN2_AVX2))
    assert forced.enabled and forced.emulated
    assert forced.warning() is not None
    assert "amp is on (as the config says) and this CPU has no native bfloat16" in forced.warning()
    assert "--no-amp" in forced.warning()
    native = choose_amp(True, "bfloat16", cpu, CpuInfo.parse(SAPPHIRE_RAPIDS))
    assert native.enabled and native.warning() is None
    off = choose_amp(False, "bfloat16", cpu, CpuInfo.parse(SAPPHIRE_RAPIDS))
    assert not off.enabled and off.describe() == "amp: off, as the config says"


def test_the_decision_itself() -> None:
    assert decide_amp("auto", "bfloat16", "cuda", native=True, reason="r").enabled
    assert not decide_amp("auto", "bfloat16", "cuda", native=False, reason="r").enabled
    assert decide_amp(True, "bfloat16", "cpu", native=False, reason="r").emulated
    assert not decide_amp(False, "bfloat16", "cpu", native=True, reason="r").enabled


@pytest.mark.parametrize(("capability", "enabled"), [((7, 0), False), ((8, 0), True)])
def test_on_a_gpu_auto_needs_ampere_for_bfloat16(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], enabled: bool
) -> None:
    """The GPU is stood in for: only its name and compute capability are asked."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Some GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    choice = choose_amp("auto", "bfloat16", torch.device("cuda"))
    assert choice.enabled is enabled
    assert f"compute capability {capability[0]}.{capability[1]}" in choice.reason
    assert choose_amp("auto", "float16", torch.device("cuda")).enabled


def test_threads_leave_room_for_the_loader_and_the_machine() -> None:
    none: dict[str, str] = {}
    assert choose_threads(None, workers=0, cpus=2, environ=none).threads == 1
    assert choose_threads(None, workers=0, cpus=1, environ=none).threads == 1
    assert choose_threads(None, workers=4, cpus=16, environ=none).threads == 12
    # Two torchrun processes on 16 CPUs with 2 loader workers each: 8 - 2.
    assert choose_threads(None, workers=2, processes=2, cpus=16, environ=none).threads == 6
    env = {"OMP_NUM_THREADS": "3"}
    assert choose_threads(None, workers=0, cpus=16, environ=env).threads == 3
    assert choose_threads(5, workers=0, cpus=16, environ=env).threads == 5  # asked for
    assert choose_threads(None, workers=0, cpus=2, environ=none).describe() == (
        "threads: 1 (2 CPUs available, 1 for the rest of the machine)"
    )


def test_a_run_records_what_auto_chose_and_its_resume_keeps_it(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "max_steps": 1, "threads": 1})
    assert config.amp == "auto"
    result = train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    here = read_cpuinfo()
    assert here is not None  # Linux
    expected = bool(here.native_bf16)
    assert result.amp is not None and result.amp.enabled is expected
    last = tmp_path / "run" / "last.pt"
    assert load_checkpoint(last)["config"]["amp"] is expected  # decided, not "auto"
    document = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert document["config"]["amp"] is expected
    assert document["precision"] == result.amp.describe()
    assert document["threads"] == 1
    # Resuming with the recipe again ("auto") keeps the run's choice: no refusal for a
    # changed config, whatever this machine would choose now.
    again = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "max_steps": 2}, resume=last)
    assert again.amp is expected


@pytest.mark.filterwarnings("ignore::synsetlab.train.loop.TrainingWarning")  # the resume
def test_a_checkpoint_saved_with_amp_true_still_resumes(tiny: TinyVersion, tmp_path: Path) -> None:
    """Runs from before ``amp: auto`` (the recipes said ``amp: true``) resume as they were,
    with a warning on a CPU that emulates bfloat16."""
    old = {**SMALL, "batch_size": 12, "max_steps": 1, "amp": True, "threads": 1}
    config = resolve_config("tiny-cpu", old)
    emulated = not read_cpuinfo().native_bf16  # type: ignore[union-attr]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    said = [str(w.message) for w in caught if issubclass(w.category, TrainingWarning)]
    assert bool(said) is emulated and all("is emulated" in m for m in said)
    last = tmp_path / "run" / "last.pt"
    assert load_checkpoint(last)["config"]["amp"] is True
    for recipe in (None, "tiny-cpu"):  # its own config, or the recipe (amp: auto) again
        resumed = resolve_config(recipe, {**SMALL, "batch_size": 12, "max_steps": 2}, resume=last)
        assert resumed.amp is True
    result = train(tiny.manifest, tiny.blobs, resumed, tmp_path / "run",
                   version_id=tiny.version_id, resume=last)  # fmt: skip
    assert result.global_step == 2 and result.amp is not None and result.amp.enabled
    # A fine-tune from it is a new run: it decides its precision on its own machine.
    assert "amp" not in (source_config(last) or {})
    assert resolve_config(source_config(last)).amp == "auto"


def test_training_without_validation_says_so(tiny: TinyVersion, tmp_path: Path) -> None:
    base = {**SMALL, "batch_size": 12, "max_steps": 1, "threads": 1}
    off = resolve_config("tiny-cpu", base, ["val_split=null"])  # (None overrides are ignored)
    with pytest.warns(TrainingWarning, match=r"training without validation: val_split is off"):
        train(tiny.manifest, tiny.blobs, off, tmp_path / "a", version_id=tiny.version_id)
    missing = resolve_config("tiny-cpu", {**base, "val_split": "dev"})
    with pytest.warns(
        TrainingWarning,
        match=r"the version has no 'dev' split \(its splits: test, train, val\).* best\.pt "
        r"is simply the last epoch's",
    ):
        train(tiny.manifest, tiny.blobs, missing, tmp_path / "b", version_id=tiny.version_id)


def test_threads_are_the_runs_while_it_runs_and_the_callers_after(
    tiny: TinyVersion, tmp_path: Path
) -> None:
    before = torch.get_num_threads()
    config = resolve_config("tiny-cpu", {**SMALL, "batch_size": 12, "max_steps": 1,
                                         "threads": before + 1})  # fmt: skip
    result = train(tiny.manifest, tiny.blobs, config, tmp_path / "run", version_id=tiny.version_id)
    assert result.threads is not None and result.threads.threads == before + 1
    assert result.threads.reason == "as asked"
    document = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert document["threads"] == before + 1
    assert torch.get_num_threads() == before
