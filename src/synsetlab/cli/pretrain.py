"""``synsetlab pretrain``: self-supervised pretraining (SimCLR, MoCo v2) on a version's
images, labels unused."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from synsetlab.cli.context import (
    console,
    err_console,
    open_version,
    progress_bar,
    require_paths,
    user_errors,
)
from synsetlab.cli.train import ProgressReporter
from synsetlab.parallel import start_loader_server


class PretrainReporter(ProgressReporter):
    """The training bar, with each epoch's k-NN accuracy on val."""

    def epoch_end(self, record: dict[str, Any]) -> None:
        parts = [f"epoch {record['epoch']}", f"loss {record['train_loss']:.3f}"]
        if "val_knn_top1_accuracy" in record:
            parts.append(f"val k-NN top-1 {record['val_knn_top1_accuracy']:.3f}")
        parts.append(f"{record['images_per_s']:.0f} img/s")
        self.progress.console.print("  ".join(parts))


def pretrain(
    version: str = typer.Argument(..., help="Version name or id whose images to pretrain on."),
    method: str | None = typer.Option(None, help="simclr (default) or moco."),
    model: str | None = typer.Option(None, help="timm backbone name (default resnet18)."),
    epochs: int | None = typer.Option(None, help="Passes over the images."),
    batch_size: int | None = typer.Option(None, help="Images per step (two views each)."),
    lr: float | None = typer.Option(None, help="Peak learning rate."),
    image_size: int | None = typer.Option(None, help="Side of the views, in pixels."),
    temperature: float | None = typer.Option(None, help="Temperature of the contrastive loss."),
    split: list[str] = typer.Option(
        [], "--split", help="A split whose images to use (repeatable; default: train and val)."
    ),
    use_unlabelled: bool = typer.Option(
        False,
        "--use-unlabelled",
        help="Also use the images the version holds without a label (no class given, or "
        "candidates never settled).",
    ),
    seed: int | None = typer.Option(None, help="Seed of weights, order and augmentation."),
    set_: list[str] = typer.Option(
        [], "--set", help="Any config field, e.g. --set queue_size=8192 (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, help="Run folder (default: <workspace>/runs/<method>-<model>-<version>)."
    ),
    resume: Path | None = typer.Option(
        None, help="Continue exactly from this last.pt (its run folder unless --out)."
    ),
    force: bool = typer.Option(False, help="Resume even though the config changed."),
    workers: int | None = typer.Option(None, help="Data-loading processes."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: auto)."),
) -> None:
    """Pretrain a backbone without labels; fine-tune it with finetune V --from RUN/last.pt.

    Example: synsetlab pretrain v1 --method simclr --use-unlabelled --epochs 5
    """
    with user_errors():  # before torch: a mistyped version or path fails at once
        require_paths(("--resume", resume))
        ws, found = open_version(version)
    start_loader_server(workers)
    from synsetlab.train.interrupt import TrainingInterrupted
    from synsetlab.train.resolve import parse_assignment
    from synsetlab.train.ssl import hidden_splits, resolve_ssl_config, unlabelled_manifest
    from synsetlab.train.ssl import pretrain as run_pretraining
    from synsetlab.versions import load_version

    with user_errors():
        values: dict[str, Any] = {
            "method": method, "model": model, "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "image_size": image_size, "temperature": temperature,
            "splits": tuple(split) or None, "use_unlabelled": use_unlabelled or None,
            "seed": seed, "workers": workers, "device": device,
        }  # fmt: skip
        for assignment in set_:
            key, value = parse_assignment(assignment)
            values[".".join(key)] = value
        config = resolve_ssl_config(values, resume=resume)
        v = load_version(ws, found.id)
        default = (
            resume.parent
            if resume
            else ws.root / "runs" / f"{config.method}-{config.model}-{v.name}"
        )
        out = out or default
        pool = unlabelled_manifest(v.manifest, config.splits, use_unlabelled=config.use_unlabelled)
        for name in hidden_splits(v.manifest, config.splits):
            err_console.print(
                f"[yellow]warning:[/yellow] pretraining on the pixels of {name}, whose labels "
                "are hidden: its scores of models started from this backbone are transductive"
            )
        where = [*config.splits, *(["the unlabelled pool"] if config.use_unlabelled else [])]
        console.print(
            f"pretraining {config.model} with {config.method} on {v.name} ({v.id[:12]}): "
            f"{len(pool.entries)} images of {', '.join(where)}, labels unused -> {out}"
        )
        try:
            with progress_bar(info=True) as progress:
                result = run_pretraining(
                    v.manifest, ws.blobs, config, out, version_id=v.id, resume=resume,
                    force=force, reporter=PretrainReporter(progress),
                )  # fmt: skip
        except TrainingInterrupted as stopped:
            ws.close()
            words = ["synsetlab", "pretrain", version, "--resume", str(stopped.checkpoint)]
            for option, value in (("--workers", workers), ("--device", device)):
                words += [] if value is None else [option, str(value)]
            console.print(f"interrupted; resume with: {escape(shlex.join(words))}")
            raise typer.Exit(stopped.exit_code) from None
        ws.close()
    console.print(f"done: {result.epochs_done} epochs, {result.global_step} steps")
    console.print(
        f"backbone: {result.checkpoint}; fine-tune it with synsetlab finetune {v.name} "
        f"--from {result.checkpoint}"
    )


def register(app: typer.Typer) -> None:
    app.command()(pretrain)
