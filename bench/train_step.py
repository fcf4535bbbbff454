"""Training throughput of ResNet-18 and ResNet-50 on this machine, per execution mode.

It first prints the machine: CPU model, the flags that decide bfloat16 (avx2, avx512f,
avx512_bf16, amx), torch, threads, and the precision ``amp: auto`` picks here. Then for each
model: images/s of full training steps (forward, cross-entropy, backward, SGD) on random
data, in eager fp32 (the baseline), channels_last, bf16 autocast (fp16 too on CUDA, with a
grad scaler), their combination, and torch.compile; each against eager fp32 in the same run.
The fastest is what the CPU (or GPU) default should be. ``tiny-cpu`` names that recipe's
model (a half-width resnet10t; use ``--image-size 48 --batch-size 32``).

    python bench/train_step.py                                   # CPU: small batch, 112 px
    python bench/train_step.py --models resnet18 --no-compile
    python bench/train_step.py --models tiny-cpu --image-size 48 --batch-size 32 \
        --modes "bf16 autocast" --no-compile                     # fp32 against bf16 only
    python bench/train_step.py --device cuda --batch-size 256 --image-size 224 --steps 30
    python bench/train_step.py --models resnet50 --modes "torch.compile fp32" \
        "torch.compile bf16 + channels_last"          # eager fp32 always runs: the baseline

Detectors: ``det:NAME`` names a detector recipe (``det:tiny-det-cpu``) or a detector of
:data:`synsetlab.detect.DETECTORS` (``det:fasterrcnn_mobilenet_v3_large_fpn``); a step is a
full Faster R-CNN training step (RPN and box-head losses, backward, SGD) on random images of
``--image-size`` with three random boxes each, the detector resizing them to its
``min_size`` (the recipe's, else ``--image-size``). Each line adds this process's peak RSS so
far (it only grows: run one model per process to compare models):

    python bench/train_step.py --models det:tiny-det-cpu --image-size 160 --batch-size 8
    python bench/train_step.py --device cuda --models det:fasterrcnn_mobilenet_v3_large_fpn \
        --image-size 800 --batch-size 16 --steps 10

``--contention`` instead trains one epoch of the tiny-cpu model (25 steps of 32 images at
48 px, the quickstart's 800 images) in fp32 at each thread count, alone and beside
``--competitors`` CPU-bound processes (a Python busy loop each), and prints the slowdown
and this process's peak RSS; it also shows the count ``threads: auto`` picks here:

    python bench/train_step.py --contention                     # threads 1..CPUs, 1 competitor
    python bench/train_step.py --contention --threads 1 2 --competitors 1 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import timm
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling

from synsetlab.train.hardware import available_cpus, choose_amp, choose_threads, read_cpuinfo
from synsetlab.train.resolve import load_recipe

#: The tiny-cpu recipe's model, by the name ``--models`` accepts.
TINY = "tiny-cpu"
#: ``--models det:NAME``: a detector recipe or registered detector.
DETECTOR_PREFIX = "det:"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(
    model_name: str,
    *,
    device: torch.device,
    batch_size: int,
    image_size: int,
    steps: int,
    warmup: int,
    channels_last: bool = False,
    amp_dtype: torch.dtype | None = None,
    compile_model: bool = False,
) -> float:
    """Steady-state training images/s of one configuration (``warmup`` steps not timed)."""
    torch.manual_seed(0)
    detector = model_name.startswith(DETECTOR_PREFIX)
    if detector:
        model, images, targets = detector_step(
            model_name, device=device, batch_size=batch_size, image_size=image_size
        )
    else:
        model = create(model_name).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    # A detector diverges at 0.1, and its proposals, hence its step time, with it.
    lr = 0.01 if detector else 0.1
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    step_model: Callable[[torch.Tensor], torch.Tensor] = model
    if compile_model:
        step_model = torch.compile(model)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.randint(0, 1000, (batch_size,), device=device)
    autocast = (
        torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    )

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            if detector:  # the detector's own losses: RPN and box head
                loss = sum(step_model(images, targets).values())
            else:
                loss = F.cross_entropy(step_model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def detector_step(
    model_name: str, *, device: torch.device, batch_size: int, image_size: int
) -> tuple[torch.nn.Module, list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """``det:NAME``: the detector (10 classes) on ``device``, random images, three boxes each."""
    from synsetlab.detect import DETECTORS, create_detector, resolve_detector_config

    name = model_name.removeprefix(DETECTOR_PREFIX)
    if name in DETECTORS:
        size = {"min_size": image_size, "max_size": image_size}
        config = resolve_detector_config({"model": name, **size})
    else:
        config = resolve_detector_config(name)
    model = create_detector(config, [f"n{i:08d}" for i in range(10)]).to(device)
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, image_size, image_size, generator=generator).to(device)
              for _ in range(batch_size)]  # fmt: skip
    targets = []
    for _ in range(batch_size):
        corner = torch.rand(3, 2, generator=generator) * image_size * 0.6
        side = (0.1 + 0.3 * torch.rand(3, 2, generator=generator)) * image_size
        boxes = torch.cat([corner, corner + side], 1).clamp(max=image_size)
        labels = torch.randint(1, 11, (3,), generator=generator)
        targets.append({"boxes": boxes.to(device), "labels": labels.to(device)})
    return model, images, targets


def create(model_name: str, num_classes: int = 1000) -> torch.nn.Module:
    """A timm model, or the tiny-cpu recipe's (``TINY``)."""
    if model_name == TINY:
        recipe = load_recipe(TINY)
        return timm.create_model(recipe["model"], num_classes=num_classes,
                                 **recipe.get("model_kwargs", {}))  # fmt: skip
    return timm.create_model(model_name, num_classes=num_classes)


def describe_machine(device: torch.device) -> None:
    """The CPU (model, the flags that decide bfloat16), torch, threads, and what
    ``amp: auto`` picks on ``device``."""
    cpu = read_cpuinfo()
    if cpu is None:
        print("CPU: no /proc/cpuinfo here (flags unknown)")
    else:
        flags = " ".join(
            f"{name} {'yes' if on else 'no'}" for name, on in cpu.shown_flags().items()
        )
        print(f"CPU: {cpu.model} ({cpu.machine}); {flags}")
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__} (CPU kernels: {capability}), {torch.get_num_threads()} "
          f"threads, {available_cpus()} CPUs available")  # fmt: skip
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print(choose_amp("auto", "bfloat16", device).describe())


def epoch_seconds(*, threads: int, steps: int, batch_size: int, image_size: int) -> float:
    """Seconds of ``steps`` fp32 training steps of the tiny-cpu model at ``threads``."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create(TINY, num_classes=10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 3, image_size, image_size)
    y = torch.randint(0, 10, (batch_size,))
    for i in range(steps + 2):  # two untimed steps: the first allocations
        if i == 2:
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


@contextlib.contextmanager
def competitors(count: int) -> Any:
    """``count`` CPU-bound processes (a busy loop each) while the block runs."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let the scheduler see them
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


def contention(args: argparse.Namespace) -> None:
    """Alone and beside competitors, per thread count: seconds, images/s, slowdown."""
    cpus = available_cpus()
    counts = args.threads or list(range(1, cpus + 1))
    auto = choose_threads(None, workers=0)
    images = args.epoch_steps * args.batch_size
    print(f"{auto.describe()}; an epoch: {args.epoch_steps} steps of {args.batch_size} images "
          f"at {args.image_size} px, fp32; {args.competitors} competitor(s)")  # fmt: skip
    kwargs = {"steps": args.epoch_steps, "batch_size": args.batch_size,
              "image_size": args.image_size}  # fmt: skip
    for round_ in range(args.rounds):
        for threads in counts:
            alone = epoch_seconds(threads=threads, **kwargs)
            with competitors(args.competitors):
                beside = epoch_seconds(threads=threads, **kwargs)
            print(f"round {round_ + 1}  threads {threads}: alone {alone:6.2f} s "
                  f"({images / alone:5.0f} img/s), beside {beside:6.2f} s "
                  f"({images / beside:5.0f} img/s), slowdown {beside / alone:5.2f}x")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, help="default 16 (--contention: 32)")
    parser.add_argument("--image-size", type=int, help="default 112 (--contention: 48)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--modes", nargs="+", help="run only these modes (and eager fp32)")
    parser.add_argument(
        "--contention",
        action="store_true",
        help="a tiny-cpu epoch alone and beside busy processes, per thread count",
    )
    parser.add_argument("--threads", nargs="+", type=int, help="--contention: these counts")
    parser.add_argument("--competitors", type=int, default=1, help="--contention: busy processes")
    parser.add_argument("--epoch-steps", type=int, default=25, help="--contention: steps")
    parser.add_argument("--rounds", type=int, default=1, help="--contention: repetitions")
    args = parser.parse_args()
    device = torch.device(args.device)
    describe_machine(device)
    if args.contention:  # the tiny-cpu recipe's batch and size unless given
        args.batch_size, args.image_size = args.batch_size or 32, args.image_size or 48
        contention(args)
        return
    args.batch_size, args.image_size = args.batch_size or 16, args.image_size or 112
    modes: dict[str, dict] = {
        "eager fp32": {},
        "channels_last": {"channels_last": True},
        "bf16 autocast": {"amp_dtype": torch.bfloat16},
        "bf16 + channels_last": {"amp_dtype": torch.bfloat16, "channels_last": True},
    }
    if device.type == "cuda":
        modes["fp16 + channels_last + scaler"] = {
            "amp_dtype": torch.float16, "channels_last": True,
        }  # fmt: skip
    if not args.no_compile:
        modes["torch.compile fp32"] = {"compile_model": True}
        modes["torch.compile bf16 + channels_last"] = {
            "compile_model": True, "amp_dtype": torch.bfloat16, "channels_last": True,
        }  # fmt: skip
    if args.modes:
        unknown = set(args.modes) - set(modes)
        if unknown:
            parser.error(f"unknown --modes {sorted(unknown)}; modes here: {', '.join(modes)}")
        modes = {m: o for m, o in modes.items() if m == "eager fp32" or m in args.modes}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads; batch "
        f"{args.batch_size}, {args.image_size} px, {args.steps} timed steps after {args.warmup}"
    )
    for model_name in args.models:
        baseline = None
        warmup = args.warmup
        if model_name.startswith(DETECTOR_PREFIX):
            # A detector's first steps run several times slower on the CPU: glibc returns its
            # large freed buffers to the system until its mmap threshold has grown (about 7
            # steps here), and every step faults them in again.
            warmup = max(warmup, 8)
        for mode, options in modes.items():
            rate = images_per_second(
                model_name, device=device, batch_size=args.batch_size,
                image_size=args.image_size, steps=args.steps, warmup=warmup, **options,
            )  # fmt: skip
            baseline = baseline or rate
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(f"{model_name:<9} {mode:<36} {rate:9.1f} img/s  {rate / baseline:5.2f}x eager"
                  f"  peak RSS {peak:6.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
