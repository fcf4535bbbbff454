"""Does a backbone pretrained on classification help a detector, and most with few boxes?

The seed's story (pretrain on ImageNet classification, fine-tune a detector), on synthetic
scenes and on this machine, with the commands a user runs:

1. a classification version, in its own workspace: ``synthetic generate`` of the same shape
   classes, one figure an image and no planted faults, ``ingest manifest``, ``split``,
   ``version freeze``; ``synsetlab train`` of the tiny-cpu classifier on it (the
   pretraining: ImageNet's classification images, here single shapes);
2. a detection version: ``synthetic generate --kind scenes`` (no planted box faults),
   ``ingest kaggle-loc``, ``split``, ``version freeze``: scenes of one to four figures, every
   figure boxed;
3. ``synsetlab train-detector`` with the tiny-det-cpu recipe for a fixed number of epochs, four
   times: backbone from the classifier's ``best.pt`` or from scratch, on all of the training
   images' boxes or on a quarter of them (``--box-fraction 0.25``);
4. ``synsetlab evaluate-detector`` of each run's ``last.pt`` on the val split: ILSVRC DET mean
   AP and COCO mAP. (The test split's labels are hidden, and ``best.pt`` is chosen on val:
   the last epoch is the unbiased one.)

It prints a table with the pretrained-against-scratch difference at each box fraction, the
seconds and the peak RSS of every step (children's, from ``getrusage``), and the CPU.

    python bench/detector_pretraining.py                       # 5 classes x 200, 12 epochs
    python bench/detector_pretraining.py --per-class 60 --epochs 4 --cls-epochs 5  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synsetlab.synthetic import SHAPE_CLASSES
from synsetlab.train.hardware import read_cpuinfo


def run(args: list[str], cwd: Path) -> float:
    """``synsetlab ARGS`` in ``cwd``; its wall seconds. Its output goes to ours."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "synsetlab", *args], cwd=cwd, check=True)
    return time.perf_counter() - start


def peak_children_mib() -> float:
    """Largest peak RSS of any finished child so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=5, help="first N shape classes")
    parser.add_argument("--per-class", type=int, default=200, help="scenes a class")
    parser.add_argument("--val-per-class", type=int, default=20, help="scenes a class in val")
    parser.add_argument("--epochs", type=int, default=12, help="detector epochs, every run")
    parser.add_argument("--cls-per-class", type=int, default=200, help="shapes a class")
    parser.add_argument("--cls-epochs", type=int, default=30, help="classifier epochs")
    parser.add_argument("--fraction", type=float, default=0.25, help="the few-boxes share")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()

    cpu = read_cpuinfo()
    native = ", ".join(cpu.native_bf16) if cpu else ""
    print(f"CPU: {cpu.model if cpu else 'unknown'}; native bfloat16: {native or 'no'}")
    names = [name.split(".")[0] for name in list(SHAPE_CLASSES.values())[: args.classes]]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        ws, cls = root / "ws", root / "cls"
        steps: list[tuple[str, float, float]] = []

        def step(name: str, argv: list[str], cwd: Path = ws) -> None:
            seconds = run(argv, cwd)
            steps.append((name, seconds, peak_children_mib()))

        clean = ["--exact-duplicate-rate", "0", "--near-duplicate-rate", "0", "--corrupt-rate",
                 "0", "--wrong-label-rate", "0"]  # fmt: skip
        step("generate shapes", ["synthetic", "generate", str(root / "shapes"), "--per-class",
                                 str(args.cls_per_class), "--classes", ",".join(names),
                                 "--seed", str(args.seed), *clean], root)  # fmt: skip
        step("init", ["init", str(cls)], root)
        step("ingest", ["ingest", "manifest", str(root / "shapes" / "manifest.csv")], cls)
        step("split", ["split", "--val-per-class", "20", "--test-per-class", "0"], cls)
        step("freeze", ["version", "freeze", "--name", "v1"], cls)
        step("classifier", ["train", "v1", "--recipe", "tiny-cpu", "--epochs",
                            str(args.cls_epochs), "--out", "runs/cls"], cls)  # fmt: skip
        backbone = str(cls / "runs" / "cls" / "best.pt")
        history = (cls / "runs" / "cls" / "metrics.jsonl").read_text().splitlines()
        cls_error = min(json.loads(line)["val_top1_error"] for line in history)

        step("generate scenes", ["synthetic", "generate", str(root / "scenes"), "--kind",
                                 "scenes", "--per-class", str(args.per_class), "--classes",
                                 ",".join(names), "--seed", str(args.seed), "--loose-box-rate",
                                 "0", "--missing-box-rate", "0", "--wrong-class-rate", "0"],
             root)  # fmt: skip
        step("init", ["init", str(ws)], root)
        step("ingest", ["ingest", "kaggle-loc", str(root / "scenes")])
        step("split", ["split", "--val-per-class", str(args.val_per_class), "--test-per-class",
                       "0"])  # fmt: skip
        step("freeze", ["version", "freeze", "--name", "v1"])
        results = {}
        for pretrained in (True, False):
            for fraction in (args.fraction, 1.0):
                name = f"{'pretrained' if pretrained else 'scratch'}-{fraction:g}"
                argv = ["train-detector", "v1", "--recipe", "tiny-det-cpu", "--epochs",
                        str(args.epochs), "--box-fraction", str(fraction), "--out",
                        f"runs/{name}"]  # fmt: skip
                if pretrained:
                    argv += ["--backbone-from", backbone]
                step(f"detector {name}", argv)
                step(f"evaluate {name}", ["evaluate-detector", f"runs/{name}/last.pt", "v1",
                                          "--split", "val"])  # fmt: skip
                metrics = json.loads((ws / f"runs/{name}/eval-v1-val/metrics.json").read_text())
                results[pretrained, fraction] = metrics

    print(
        f"\n{args.classes} classes x {args.per_class} scenes, {args.epochs} detector epochs "
        f"(tiny-det-cpu); classifier: tiny-cpu, {args.cls_epochs} epochs on "
        f"{args.cls_per_class} single shapes a class; detectors' last.pt on the val split"
    )
    print(f"classifier's best val top-1 error: {cls_error:.3f} (chance {1 - 1 / len(names):.2f})")
    print(f"{'boxes':>8} {'backbone':>11} {'DET mAP':>8} {'COCO mAP':>9} {'AP50':>6}")
    for fraction in (args.fraction, 1.0):
        for pretrained in (True, False):
            m = results[pretrained, fraction]
            print(f"{fraction:>8g} {'pretrained' if pretrained else 'scratch':>11} "
                  f"{m['det']['map']:>8.3f} {m['coco']['map']:>9.3f} "
                  f"{m['coco']['ap50']:>6.3f}")  # fmt: skip
        gain = results[True, fraction]["det"]["map"] - results[False, fraction]["det"]["map"]
        print(f"{'':>8} pretrained - scratch, DET mAP: {gain:+.3f}")
    print("\nstep                          seconds  peak RSS of a child (MiB)")
    for name, seconds, rss in steps:
        print(f"{name:<30}{seconds:>8.1f}  {rss:>8.0f}")


if __name__ == "__main__":
    main()
