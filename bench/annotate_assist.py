"""Model assistance: votes per image and precision of the simulated crowd, with and without priors.

One workspace, built here: a clean synthetic set of ``--classes`` shapes (``--seed-per-class``
images each) ingested as verified labels, split (20% val) and frozen as ``v1``; a tiny-cpu
model (timm resnet10t at half width, 48 px) trained on it for each of ``--epochs`` (a weak
and a good one by default); then a second
synthetic set (``--per-class`` images a class, ``--wrong`` of them filed under a wrong shape)
ingested as candidate labels. Projects over the same candidates, the same options (target
precision 0.997, at most 10 votes, ``--initial-items`` a class in the initial subset with 10
votes, 10% gold), each verified by the same simulated crowd (50 workers, honest accuracy
Beta(8, 2) (mean 0.8), 10% spammers) through next_task/submit_task, ``--runs`` crowd seeds:

- ``no prior``: dynamic consensus as it is (the baseline);
- ``model prior, val error e``: ``assist_project`` with each trained checkpoint (calibrated,
  shifted to the candidates' share of right labels, capped);
- ``simulated prior, separation s``: :func:`synsetlab.annotate.model_prior`'s calibrated
  simulated model of that separation (2 = fair, 4 = strong), capped as assist caps, for
  models better than the few-second one.

Printed per row, summed over the runs: votes per image (answers on candidate questions per
candidate; gold answers apart), precision of the accepted labels and recall of the right ones
against the planted truth, and the votes ratio against the baseline; each model's val error
and assist report; peak resident memory of the process. Precision is counted, not
estimated: at a 0.997 target, a few hundred accepted labels hold about one expected error,
so a difference of one or two wrong acceptances is noise (the counts are printed).

    python bench/annotate_assist.py
    python bench/annotate_assist.py --classes 5 --per-class 400 --runs 3 --epochs 30
    python bench/annotate_assist.py --epochs 5 --seed-per-class 100   # minutes less, no good model
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import select

from synsetlab.annotate import (
    CrowdConfig,
    CrowdRun,
    ProjectOptions,
    SimulatedCrowd,
    catalog_truth,
    create_project,
    get_project,
    model_prior,
    simulate_project,
)
from synsetlab.annotate.assist import AssistReport, assist_project, cap, store_priors
from synsetlab.catalog import AnnotationItem
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.synthetic import SHAPE_CLASSES, SyntheticConfig, generate
from synsetlab.train import resolve_config, train
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace, init_workspace

TARGET = 0.997
BASELINE = "no prior"


def build(root: Path, args: argparse.Namespace) -> tuple[Workspace, dict[str, Path]]:
    """The workspace, and a checkpoint per ``--epochs`` by row name (with its val error)."""
    ws = init_workspace(root / "ws")
    classes = tuple(tuple(SHAPE_CLASSES)[: args.classes])

    def synthetic(name: str, per_class: int, wrong: float, seed: int) -> Path:
        config = SyntheticConfig(
            classes=classes, per_class=per_class, seed=seed, wrong_label_rate=wrong,
            exact_duplicate_rate=0.0, near_duplicate_rate=0.0, corrupt_rate=0.0,
            image_size=(48, 48),
        )  # fmt: skip
        return generate(root / name, config).manifest

    ingest(ws, open_manifest(synthetic("seed", args.seed_per_class, 0.0, 100), kind="synthetic"),
           label_state="verified", workers=0)  # fmt: skip
    assign_splits(ws, SplitPlan(val_fraction=0.2, test_per_class=0, seed=0))
    version = freeze(ws, "v1")
    checkpoints = {}
    for epochs in args.epochs:
        config = resolve_config("tiny-cpu", {"epochs": epochs, "seed": 0, "workers": 0})
        started = time.perf_counter()
        out = root / f"run-{epochs}"
        result = train(version.manifest, ws.blobs, config, out, version_id=version.id)
        error = float(result.best_val_top1_error or float("nan"))
        print(f"trained tiny-cpu for {epochs} epochs on {len(version.manifest.split('train'))} "
              f"images in {time.perf_counter() - started:.0f} s: best val top-1 error "
              f"{error:.3f}", flush=True)  # fmt: skip
        checkpoints[f"model prior, val error {error:.2f}"] = out / "best.pt"
    manifest = synthetic("crowd", args.per_class, args.wrong, 200)
    ingest(ws, open_manifest(manifest, kind="synthetic"), workers=0)
    return ws, checkpoints


def new_project(ws: Workspace, slug: str, args: argparse.Namespace) -> None:
    options = ProjectOptions(
        target_precision=TARGET, max_votes=10, initial_items=args.initial_items, gold=0.1, seed=0
    )
    with ws.session() as s:
        create_project(
            s,
            slug,
            taxonomy=ws.taxonomy(),
            classes=tuple(SHAPE_CLASSES)[: args.classes],
            options=options,
        )


def simulated_priors(ws: Workspace, slug: str, separation: float, seed: int) -> None:
    """model_prior's calibrated probabilities (at the candidates' true share), capped."""
    truth = catalog_truth(ws, slug).right
    with ws.session() as s:
        p = get_project(s, slug)
        ids = list(
            s.scalars(
                select(AnnotationItem.id)
                .where(AnnotationItem.project_id == p.id, AnnotationItem.gold.is_(None))
                .order_by(AnnotationItem.id)
            )
        )
        right = np.array([truth[i] for i in ids])
        priors = model_prior(right, separation=separation, base_rate=float(right.mean()), seed=seed)
        store_priors(s, slug, dict(zip(ids, cap(priors, TARGET).tolist(), strict=True)))


def crowd_run(ws: Workspace, slug: str, seed: int) -> CrowdRun:
    crowd = SimulatedCrowd(CrowdConfig(workers=50, spammers=0.1, seed=seed))
    return simulate_project(ws, slug, crowd, catalog_truth(ws, slug).right)


def describe(report: AssistReport) -> str:
    c, q = report.calibration, report.quantiles
    return (
        f"assist: {report.priors} of {report.questions} priors in {report.seconds:.1f} s; "
        f"calibration {c.method} (T = {c.temperature:.3g}, {c.answers} answers, loss "
        f"{c.loss_before or float('nan'):.3f} -> {c.loss_after or float('nan'):.3f}); priors "
        f"p10 {q['p10']:.3f}, median {q['p50']:.3f}, p90 {q['p90']:.3f}; {report.capped} capped; "
        f"per tenth {list(report.histogram)}; right share per class "
        + ", ".join(f"{c.right_share:.2f}" for c in report.by_class.values())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=3, help="shapes (of the synthetic 10)")
    parser.add_argument("--per-class", type=int, default=200, help="candidates a class")
    parser.add_argument("--wrong", type=float, default=0.2, help="share filed under a wrong shape")
    parser.add_argument("--seed-per-class", type=int, default=300, help="verified images a class")
    parser.add_argument(
        "--epochs", type=int, nargs="+", default=[8, 40], help="tiny-cpu epochs, a model each"
    )
    parser.add_argument("--initial-items", type=int, default=30, help="initial subset a class")
    parser.add_argument("--runs", type=int, default=2, help="crowd seeds, summed")
    parser.add_argument("--separations", type=float, nargs="*", default=[2.0, 4.0])
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    with tempfile.TemporaryDirectory() as tmp:
        ws, checkpoints = build(Path(tmp), args)
        rows: dict[str, list[CrowdRun]] = {}
        reports: dict[str, AssistReport] = {}
        for run in range(args.runs):
            plans: list[tuple[str, Path | float | None]] = [(BASELINE, None)]
            plans += list(checkpoints.items())
            plans += [(f"simulated prior, separation {s:g}", s) for s in args.separations]
            for i, (name, prior) in enumerate(plans):
                slug = f"run{run}-row{i}"
                new_project(ws, slug, args)
                if isinstance(prior, Path):
                    reports[name] = assist_project(ws, slug, prior, batch_size=128)
                elif prior is not None:
                    simulated_priors(ws, slug, float(prior), seed=run)
                rows.setdefault(name, []).append(crowd_run(ws, slug, seed=run))
                print(f"  run {run}: {name} done", flush=True)
        ws.close()

    for name, report in reports.items():
        print(f"{name}: {describe(report)}")
        for note in report.notes:
            print(f"  note: {note}")
    print(
        f"\n{args.classes} classes x {args.per_class} candidates ({args.wrong:.0%} filed wrong), "
        f"initial subset {args.initial_items} a class, target {TARGET}, {args.runs} crowd runs"
    )
    header = (
        f"{'row':<34}{'votes/img':>10}{'ratio':>7}{'accepted':>10}{'wrong acc':>10}"
        f"{'precision':>11}{'recall':>8}{'wrong rej':>11}{'pending':>8}"
    )
    print(header)
    base = None
    table = []
    for name, runs in rows.items():
        questions = sum(r.questions for r in runs)
        votes = sum(r.votes - r.gold_votes for r in runs) / questions
        accepted = sum(r.accepted for r in runs)
        right = sum(r.accepted_right for r in runs)
        wrong = sum(r.wrong for r in runs)
        wrong_rejected = sum(r.wrong_rejected for r in runs)
        recall = right / (questions - wrong)
        precision = right / accepted if accepted else float("nan")
        base = votes if base is None else base
        pending = sum(r.pending for r in runs)
        print(
            f"{name:<34}{votes:>10.2f}{votes / base:>7.2f}{accepted:>10}{accepted - right:>10}"
            f"{precision:>11.4f}{recall:>8.3f}{f'{wrong_rejected}/{wrong}':>11}{pending:>8}"
        )
        table.append({"row": name, "votes_per_image": votes, "ratio": votes / base,
                      "accepted": accepted, "wrong_accepted": accepted - right,
                      "precision": precision, "recall": recall, "wrong_rejected": wrong_rejected,
                      "wrong": wrong, "pending": pending})  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MiB, total {time.perf_counter() - started:.0f} s")
    if args.out:
        document = {"args": vars(args) | {"out": str(args.out)}, "rows": table}
        args.out.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
