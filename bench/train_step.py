"""Training throughput of ResNet-18 and ResNet-50 on this machine, per execution mode.

For each model: images/s of full training steps (forward, cross-entropy, backward, SGD) on
random data, in eager fp32 (the baseline), channels_last, bf16 autocast (fp16 too on CUDA,
with a grad scaler), their combination, and torch.compile; each against eager fp32 in the
same run. The fastest is what the CPU (or GPU) default should be.

    python bench/train_step.py                                   # CPU: small batch, 112 px
    python bench/train_step.py --models resnet18 --no-compile
    python bench/train_step.py --device cuda --batch-size 256 --image-size 224 --steps 30
    python bench/train_step.py --models resnet50 --modes "torch.compile fp32" \
        "torch.compile bf16 + channels_last"          # eager fp32 always runs: the baseline
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import timm
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling


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
    model = timm.create_model(model_name, num_classes=1000).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--modes", nargs="+", help="run only these modes (and eager fp32)")
    args = parser.parse_args()
    device = torch.device(args.device)
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
        for mode, options in modes.items():
            rate = images_per_second(
                model_name, device=device, batch_size=args.batch_size,
                image_size=args.image_size, steps=args.steps, warmup=args.warmup, **options,
            )  # fmt: skip
            baseline = baseline or rate
            print(f"{model_name:<9} {mode:<36} {rate:9.1f} img/s  {rate / baseline:5.2f}x eager")


if __name__ == "__main__":
    main()
