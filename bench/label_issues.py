"""Label-issue detection on the synthetic figures: time, peak memory and ranking quality.

For each size N, a synthetic dataset of N clean images (ten shape classes, ``N / 10`` a
class, the generator's default faults: 5% wrong labels, 3% exact and 3% near copies, 2%
corrupt files) is generated and ingested once into a workspace under ``--root`` (kept, so a
rerun skips this), then ``synsetlab curate label-issues`` runs as a child process, as a user
runs it. Reported: its wall time, its peak resident memory (``wait4``'s ``ru_maxrss``: the
largest process of the run), and the findings scored against the planted wrong labels:

- ``flagged``, ``precision``, ``recall``: cleanlab's flagged set;
- ``P@k``: share of planted wrong labels among the top ``k`` of the ranking (rank 1 = most
  likely wrong), ``k`` = 10, 100 and ``planted`` (ranks past the flagged set count as misses,
  so ``P@planted`` is also the recall of the top ``planted``).

Baselines: chance precision is the planted share (about 0.05); the quick model before the
step budget trained 60 epochs on every image, so its training steps are printed beside this
run's (``baseline steps``: the same per-step cost, so their ratio is its training time's).
Targets: 50,000 images in about 10 minutes on two cores, and at 1,000 images (the
quickstart's data) precision and recall no worse than the 60-epoch quick model's.

Run it with ``OMP_NUM_THREADS=1`` on a machine shared with other work: two torch threads on
two busy cores wait on each other and run many times slower (see ``bench/train_step.py
--contention``); its CPU time is then the figure to compare.

    python bench/label_issues.py                         # 1,000 and 50,000 images
    python bench/label_issues.py --sizes 50000 --max-steps 2000   # faster, less precise
    python bench/label_issues.py --sizes 1000 --args "--folds 10"
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Finding, Image
from synsetlab.curate.features import QuickModelConfig
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.synthetic import SyntheticConfig, generate, load_truth
from synsetlab.workspace import init_workspace, open_workspace

CLASSES = 10
#: The quick model before the step budget: 60 passes over every image, however many.
BASELINE_EPOCHS = 60


def prepare(root: Path, size: int, seed: int) -> Path:
    """A workspace holding the ingested synthetic dataset of ``size`` clean images."""
    ws_dir = root / f"ws-{size}-{seed}"
    done = ws_dir / ".bench-ready"
    if done.is_file():
        return ws_dir
    started = time.perf_counter()
    shapes = root / f"shapes-{size}-{seed}"
    report = generate(shapes, SyntheticConfig(per_class=size // CLASSES, seed=seed), overwrite=True)
    generated = time.perf_counter()
    ws = init_workspace(ws_dir)
    try:
        ingest(ws, open_manifest(report.manifest, kind="synthetic"))
    finally:
        ws.close()
    done.write_text(str(shapes))
    print(
        f"  prepared {size}: generate {generated - started:.0f} s, "
        f"ingest {time.perf_counter() - generated:.0f} s"
    )
    return ws_dir


def run_label_issues(ws_dir: Path, extra: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system, its worker processes included), peak RSS
    (MiB) and output of ``synsetlab curate label-issues``."""
    command = [sys.executable, "-m", "synsetlab", "--workspace", str(ws_dir)]
    command += ["curate", "label-issues", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = child.stdout.read().decode() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"label-issues failed:\n{out}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, out


def score(ws_dir: Path, config: QuickModelConfig) -> dict[str, float]:
    """The ranked findings against the planted wrong labels, and the quick model's steps
    against the baseline's."""
    truth = load_truth(Path((ws_dir / ".bench-ready").read_text()))
    wrong = {f.path for f in truth.files if f.wrong_label}
    ws = open_workspace(ws_dir)
    try:
        with ws.session() as s:
            rows = s.execute(
                select(Image.source_key, Finding.detail)
                .join(Finding, Finding.image_id == Image.id)
                .where(Finding.kind == "label-issue")
            ).all()
            images = sum(i.wnid is not None for i in current_images(s))
    finally:
        ws.close()
    ranked = [key for key, detail in sorted(rows, key=lambda r: r[1]["rank"])]
    hits = [key in wrong for key in ranked]
    out = {
        "planted": len(wrong),
        "flagged": len(ranked),
        "precision": sum(hits) / len(ranked) if ranked else 1.0,
        "recall": sum(hits) / len(wrong) if wrong else 1.0,
    }
    for k in (10, 100, len(wrong)):
        out[f"P@{k}"] = sum(hits[:k]) / k
    out["steps"] = config.steps(images)
    out["baseline steps"] = BASELINE_EPOCHS * math.ceil(images / config.batch_size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=Path("bench/out/label_issues"))
    parser.add_argument("--max-steps", type=int, default=QuickModelConfig.max_steps)
    parser.add_argument("--args", default="", help="Extra options of curate label-issues.")
    args = parser.parse_args()
    extra = ["--max-steps", str(args.max_steps), *shlex.split(args.args)]
    config = QuickModelConfig(max_steps=args.max_steps)
    for size in args.sizes:
        ws_dir = prepare(args.root, size, args.seed)
        seconds, cpu, rss, out = run_label_issues(ws_dir, extra)
        scores = score(ws_dir, config)
        print(out.strip())
        summary = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
        )
        print(f"N={size}: {seconds:.0f} s wall, {cpu:.0f} s CPU, peak RSS {rss:.0f} MiB; {summary}")


if __name__ == "__main__":
    main()
