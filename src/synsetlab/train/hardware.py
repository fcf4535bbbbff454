"""What this machine runs well: whether its CPU or GPU computes bfloat16 natively (and so
whether autocast pays), and how many threads a training process should use.

bfloat16 autocast trained ResNet-18 1.7x faster than fp32 on a 2-core CPU with AVX512-BF16,
and 20-30x slower where it is emulated (AVX2 only, as most laptops: the tiny-cpu model at 4.8
against 97 img/s, ResNet-18 at 0.6 against 17.8, ``bench/train_step.py``). ``amp: auto``,
the recipes' default, turns it on only where it is native. The decision is a pure function of
the CPU's flags (:func:`decide_amp`), so it is tested on any machine with the flags of others.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from synsetlab.train.config import TrainConfig

#: x86 flags (as Linux's /proc/cpuinfo names them) of bfloat16 arithmetic in hardware:
#: AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4 and later) and AMX-BF16 (Sapphire Rapids).
X86_BF16 = ("avx512_bf16", "amx_bf16")
#: The aarch64 feature of bfloat16 arithmetic (Armv8.6 BF16: Graviton 3, Neoverse V1/N2).
ARM_BF16 = ("bf16",)
#: The flags the bench and the run's notes show: the vector units training leans on.
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "asimd", "bf16")

AmpSetting = bool | Literal["auto"]


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name and feature flags, as Linux reports them."""

    model: str
    flags: frozenset[str]
    #: ``x86_64``, ``aarch64``, ...
    machine: str

    @classmethod
    def parse(cls, text: str, machine: str | None = None) -> CpuInfo:
        """From the text of ``/proc/cpuinfo``: the first ``flags`` (x86) or ``Features``
        (aarch64) line, and the ``model name`` (x86) or ``Hardware``/``CPU part`` line."""
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
        flags = fields.get("flags") or fields.get("features") or ""
        model = fields.get("model name") or fields.get("hardware") or fields.get("cpu part", "")
        if machine is None:
            machine = "aarch64" if "features" in fields and "flags" not in fields else "x86_64"
        return cls(model or "unknown CPU", frozenset(flags.split()), machine)

    @property
    def native_bf16(self) -> tuple[str, ...]:
        """The flags present that do bfloat16 arithmetic in hardware (empty: it is emulated)."""
        wanted = ARM_BF16 if self.machine in ("aarch64", "arm64") else X86_BF16
        return tuple(f for f in wanted if f in self.flags)

    @property
    def bf16_flag_names(self) -> tuple[str, ...]:
        """The flags that would make bfloat16 native on this architecture."""
        return ARM_BF16 if self.machine in ("aarch64", "arm64") else X86_BF16

    def shown_flags(self) -> dict[str, bool]:
        """:data:`SHOWN_FLAGS` of this architecture, present or not."""
        arm = self.machine in ("aarch64", "arm64")
        names = ("asimd", "bf16") if arm else SHOWN_FLAGS[:5]
        return {name: name in self.flags for name in names}


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuInfo | None:
    """This machine's :class:`CpuInfo`; ``None`` where there is no ``/proc/cpuinfo``
    (macOS, Windows)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return CpuInfo.parse(text, platform.machine().lower())


@dataclass(frozen=True)
class AmpChoice:
    """The precision a run trains in, and why."""

    #: Autocast on.
    enabled: bool
    dtype: Literal["bfloat16", "float16"]
    #: What the config asked: ``auto``, or on/off explicitly.
    requested: AmpSetting
    #: Whether the device computes ``dtype`` in hardware.
    native: bool
    #: Why, in words: "this CPU has no native bfloat16 (avx512_bf16, amx_bf16 absent)".
    reason: str

    @property
    def emulated(self) -> bool:
        """Autocast on, in a dtype the device only emulates (slower than fp32)."""
        return self.enabled and not self.native

    def describe(self) -> str:
        """One line for the start of a run, e.g. ``amp: off, auto: this CPU has no native
        bfloat16 (avx512_bf16, amx_bf16 absent)``."""
        state = f"{self.dtype} autocast" if self.enabled else "off"
        if self.requested == "auto":
            return f"amp: {state}, auto: {self.reason}"
        if self.requested is False:
            return "amp: off, as the config says"
        return f"amp: {state}, as the config says; {self.reason}"

    def warning(self) -> str | None:
        """What to tell a user who asked for autocast the device emulates, else ``None``."""
        if not (self.emulated and self.requested is True):
            return None
        return (
            f"amp is on (as the config says) and {self.reason}: {self.dtype} is emulated, "
            "several times slower than fp32. Pass --no-amp (amp: false; a resume needs "
            "--force for it), or leave amp out to let each machine choose"
        )


def decide_amp(
    requested: AmpSetting,
    dtype: Literal["bfloat16", "float16"],
    device_type: str,
    *,
    native: bool,
    reason: str,
) -> AmpChoice:
    """The precision of a run: ``requested`` on or off is obeyed; ``auto`` turns autocast on
    where the device computes ``dtype`` natively (``native``, said in ``reason``), and on a
    CPU never in float16 (CPUs have no float16 autocast worth having)."""
    if requested == "auto":
        enabled = native and not (device_type == "cpu" and dtype == "float16")
    else:
        enabled = bool(requested)
    return AmpChoice(enabled, dtype, requested, native, reason)


def native_dtype(
    dtype: Literal["bfloat16", "float16"], device: torch.device, cpu: CpuInfo | None = None
) -> tuple[bool, str]:
    """Whether ``device`` computes ``dtype`` in hardware, and the evidence in words.

    CPU: from its flags (``cpu``, default: this machine's ``/proc/cpuinfo``); where Linux's
    file is missing, from oneDNN's own check (which also accepts AVX512 without BF16). CUDA:
    compute capability 8.0 (Ampere) or later for bfloat16, any GPU for float16.
    """
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if dtype == "float16":
            return True, f"{name} computes float16 natively"
        major, minor = torch.cuda.get_device_capability(device)
        if (major, minor) >= (8, 0):
            return True, f"{name} computes bfloat16 natively (compute capability {major}.{minor})"
        return False, f"{name} has no native bfloat16 (compute capability {major}.{minor} < 8.0)"
    if dtype == "float16":
        return False, "CPUs have no float16 autocast worth having"
    cpu = cpu if cpu is not None else read_cpuinfo()
    if cpu is None:
        supported = False
        with contextlib.suppress(AttributeError, RuntimeError):  # not in every torch build
            supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        if supported:
            return True, "this CPU computes bfloat16 natively (oneDNN's check)"
        return False, "this CPU has no native bfloat16 (oneDNN's check)"
    found = cpu.native_bf16
    if found:
        return True, f"this CPU computes bfloat16 natively ({', '.join(found)})"
    return False, f"this CPU has no native bfloat16 ({', '.join(cpu.bf16_flag_names)} absent)"


def choose_amp(
    requested: AmpSetting,
    dtype: Literal["bfloat16", "float16"],
    device: torch.device,
    cpu: CpuInfo | None = None,
) -> AmpChoice:
    """:func:`decide_amp` on this machine's hardware (``cpu``: another CPU's flags)."""
    if requested is False:  # nothing to detect (and no GPU query where none is wanted)
        return AmpChoice(False, dtype, False, False, "fp32 asked for")
    native, reason = native_dtype(dtype, device, cpu)
    return decide_amp(requested, dtype, device.type, native=native, reason=reason)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: what a container or ``taskset``
    grants), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadChoice:
    """torch's intra-op threads for a training process, and why."""

    threads: int
    reason: str

    def describe(self) -> str:
        return f"threads: {self.threads} ({self.reason})"


def choose_threads(
    requested: int | None,
    *,
    workers: int,
    processes: int = 1,
    cpus: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> ThreadChoice:
    """Intra-op threads: ``requested`` when given, else ``OMP_NUM_THREADS`` when set, else
    this process's share of the available CPUs (``cpus``, default :func:`available_cpus`,
    over the ``processes`` training on this machine) less ``max(workers, 1)``: one for each
    of its loader processes, or one for the rest of the machine without any.

    Why fewer than every CPU: each torch operator splits over all its threads and waits for
    the slowest, so one thread that shares its CPU with another busy process holds up every
    operator. On 2 cores shared with other work, 2 threads trained the tiny-cpu model at
    7 img/s and 1 thread at 87-89 (``python bench/train_step.py --contention``).
    """
    env = os.environ if environ is None else environ
    if requested is not None:
        return ThreadChoice(requested, "as asked")
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), "OMP_NUM_THREADS")
    cpus = available_cpus() if cpus is None else cpus
    share = cpus // max(processes, 1)
    reserved = max(workers, 1)
    threads = max(1, share - reserved)
    held = f"{reserved} for the data loader" if workers else "1 for the rest of the machine"
    where = f"{cpus} CPUs available" + (f", {share} per process" if processes > 1 else "")
    return ThreadChoice(threads, f"{where}, {held}")


@contextmanager
def training_threads(
    requested: int | None, *, workers: int, device: torch.device
) -> Iterator[ThreadChoice | None]:
    """Within the block, torch's intra-op threads as :func:`choose_threads` picks them for a
    training process on the CPU (``None`` and no change on a GPU); the caller's count after.
    Under torchrun the CPUs are shared by its processes on this machine."""
    if device.type != "cpu":
        yield None
        return
    choice = choose_threads(requested, workers=workers, processes=local_processes())
    before = torch.get_num_threads()
    torch.set_num_threads(choice.threads)
    try:
        yield choice
    finally:
        torch.set_num_threads(before)


def local_processes() -> int:
    """Training processes on this machine: torchrun's ``LOCAL_WORLD_SIZE``, else 1."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def resolve_amp(config: TrainConfig, device: torch.device) -> tuple[TrainConfig, AmpChoice]:
    """``config`` with ``amp: auto`` decided for ``device`` (see :func:`choose_amp`), and the
    choice with its reason. A run saves the decided config, so that its resume trains in the
    same precision anywhere."""
    choice = choose_amp(config.amp, config.amp_dtype, device)
    return config.model_copy(update={"amp": choice.enabled}), choice


def hardware_notes(amp: AmpChoice | None, threads: ThreadChoice | None) -> str:
    """What a run decided about the hardware, in one line: its precision and (on the CPU)
    torch's threads, each with the reason."""
    return "; ".join(choice.describe() for choice in (amp, threads) if choice is not None)
