"""``synsetlab train-detector``: a detector on a version's boxes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from synsetlab.cli.context import console, open_version, require_paths, user_errors
from synsetlab.cli.train import ProgressReporter, run_with_progress
from synsetlab.parallel import start_loader_server


class DetectorReporter(ProgressReporter):
    """The classifier's progress bar; each epoch's line shows the validation DET mean AP."""

    def epoch_end(self, record: dict[str, Any]) -> None:
        loss, speed, score = record["train_loss"], record["images_per_s"], record.get("val_det_map")
        parts = [
            f"epoch {record['epoch']}",
            "train loss " + ("n/a" if loss is None else f"{loss:.3f}"),
        ]
        if score is not None:
            parts.append(f"val DET mAP {score:.3f}")
        parts.append("n/a img/s" if speed is None else f"{speed:.1f} img/s")
        self.progress.console.print("  ".join(parts))


def train_detector(
    version: str = typer.Argument(..., help="Version name or id, with boxes in its train split."),
    recipe: str | None = typer.Option(
        None,
        help="A shipped detector recipe (tiny-det-cpu, fasterrcnn-mobilenet) or a YAML path "
        "(default without --model: tiny-det-cpu on a CPU, fasterrcnn-mobilenet on a GPU).",
    ),
    model: str | None = typer.Option(
        None,
        help="fasterrcnn_mobilenet_v3_large_fpn, fasterrcnn_mobilenet_v3_large_320_fpn, "
        "fasterrcnn_resnet50_fpn, or fasterrcnn (any timm backbone).",
    ),
    backbone_from: Path | None = typer.Option(
        None, help="A classification checkpoint (synsetlab train or pretrain) for the backbone."
    ),
    backbone_weights: Path | None = typer.Option(
        None, help="A local weights file (state dict) for the backbone."
    ),
    roi_op: str | None = typer.Option(
        None,
        help="align (RoIAlign) or pool (RoI max pooling, as Fast R-CNN); default: the recipe's.",
    ),
    epochs: int | None = typer.Option(None, help="Passes over the training split."),
    batch_size: int | None = typer.Option(None, help="Images per step, all processes together."),
    lr: float | None = typer.Option(None, help="Peak learning rate."),
    box_fraction: float | None = typer.Option(
        None, help="Train on the boxes of this fraction of the boxed training images (seeded)."
    ),
    amp: bool | None = typer.Option(
        None, "--amp/--no-amp", help="bfloat16 autocast (default: where computed natively)."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Any config field, e.g. --set min_size=512 (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, help="Run folder (default: <workspace>/runs/det-<recipe or model>-<version>)."
    ),
    resume: Path | None = typer.Option(None, help="Continue exactly from this checkpoint."),
    force: bool = typer.Option(False, help="Resume even though the config changed."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps in all."),
    workers: int | None = typer.Option(None, help="Data-loading processes per process."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: auto)."),
) -> None:
    """Train a detector (Faster R-CNN) on the boxes of a version's train split, validating
    by ILSVRC DET mean AP on val; the backbone may start from a classification checkpoint.

    Example: synsetlab train-detector v1 --recipe tiny-det-cpu --epochs 2
    """
    overrides = {
        "model": model, "roi_op": roi_op, "epochs": epochs, "batch_size": batch_size,
        "optim.lr": lr, "box_fraction": box_fraction, "amp": amp, "max_steps": max_steps,
        "workers": workers, "device": device,
        "backbone_from": None if backbone_from is None else str(backbone_from),
        "backbone_weights": None if backbone_weights is None else str(backbone_weights),
    }  # fmt: skip
    with user_errors():  # before torch: a mistyped version or path fails at once
        require_paths(("--backbone-from", backbone_from), ("--backbone-weights", backbone_weights),
                      ("--resume", resume))  # fmt: skip
        ws, found = open_version(version)
    console.quiet = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 speaks
    start_loader_server(workers)
    from synsetlab.detect import resolve_detector_config
    from synsetlab.detect import train_detector as run_detector
    from synsetlab.detect.data import training_entries
    from synsetlab.detect.resolve import default_detector_recipe
    from synsetlab.versions import load_version

    with user_errors():
        if recipe is None and resume is None and model is None:
            recipe = default_detector_recipe(device)
            console.print(f"no --recipe: {recipe}, the recipe for this machine's device")
        config = resolve_detector_config(recipe, overrides, set_, resume=resume)
        v = load_version(ws, found.id)
        if out is None:
            name = Path(recipe).stem if recipe else config.model
            out = resume.parent if resume else ws.root / "runs" / f"det-{name}-{v.name}"
        entries = training_entries(v.manifest, config.train_split,
                                   box_fraction=config.box_fraction, seed=config.seed)  # fmt: skip
        boxes = sum(len(e.boxes) for e in entries)
        share = f" (--box-fraction {config.box_fraction:g})" if config.box_fraction < 1 else ""
        console.print(
            f"training {config.model} on {v.name} ({v.id[:12]}): {len(entries)} train images, "
            f"{boxes} boxes{share}, {len(v.manifest.classes)} classes -> {out}"
        )
        result = run_with_progress(
            ws, ["synsetlab", "train-detector", version], overrides, set_,
            lambda progress: run_detector(
                v.manifest, ws.blobs, config, out, version_id=v.id, resume=resume,
                force=force, reporter=DetectorReporter(progress),
            ),
        )  # fmt: skip
    state = "stopped at the step budget" if result.stopped_early else "done"
    best = result.best_val_map
    console.print(
        f"{state}: {result.epochs_done} epochs, {result.global_step} steps"
        + ("" if best is None else f", best val DET mAP {best:.3f}")
    )
    written = [p for p in (result.paths.last, result.paths.best) if p.is_file()]
    console.print(f"checkpoints: {', '.join(map(str, written))}")


def register(app: typer.Typer) -> None:
    app.command("train-detector")(train_detector)
