"""``synsetlab train|evaluate|predict|submission``: models on frozen versions."""

from __future__ import annotations

import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from synsetlab.atomic import atomic_file
from synsetlab.cli.context import (
    OptionError,
    console,
    err_console,
    open_version,
    progress_bar,
    require_paths,
    user_errors,
)
from synsetlab.cli.detect_eval import checkpoint_task
from synsetlab.parallel import start_loader_server

if TYPE_CHECKING:
    from synsetlab.catalog import Version
    from synsetlab.workspace import Workspace

DEVICE = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: CUDA when available).")
TTA = typer.Option("none", "--tta", help="Test-time augmentation: none or flip.")


class ProgressReporter:
    """The training loop's progress on a :func:`~synsetlab.cli.context.progress_bar` with
    ``info``: steps, images/s, loss, ETA."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.images = 0

    def hardware(self, notes: str) -> None:
        """What the run decided about the hardware (precision, threads), before its first
        step."""
        self.progress.console.print(notes)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(
            f"[bold]epoch {epoch}/{epochs}[/bold]", total=steps, info=""
        )
        self.images = 0

    def step(self, images: int, loss: float, lr: float) -> None:
        assert self.task is not None
        self.images += images
        elapsed = self.progress.tasks[-1].elapsed or 1e-9
        info = f"{self.images / elapsed:6.0f} img/s  loss {loss:.3f}  lr {lr:.2e}"
        self.progress.update(self.task, advance=1, info=info)

    def epoch_end(self, record: dict[str, Any]) -> None:
        parts = [f"epoch {record['epoch']}", f"train loss {_figure(record['train_loss'], 3)}"]
        for key, value in record.items():
            if key.startswith("val_top") and key.endswith("_error"):  # val_top1_error ...
                k = key.removeprefix("val_top").removesuffix("_error")
                parts.append(f"val top-{k} error {value:.3f}")
        parts.append(f"{_figure(record['images_per_s'], 0)} img/s")
        self.progress.console.print("  ".join(parts))


def _figure(value: float | None, digits: int) -> str:
    """A record's number; ``n/a`` where a resumed checkpoint could not say (older format)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


@contextmanager
def training_warnings() -> Iterator[None]:
    """Within the block, each :class:`~synsetlab.train.loop.TrainingWarning` is one yellow
    line on stderr as it happens (other warnings as Python shows them)."""
    from synsetlab.train.loop import TrainingWarning

    with warnings.catch_warnings():  # restores showwarning after the block
        warnings.simplefilter("always", TrainingWarning)
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
            if issubclass(category, TrainingWarning):
                err_console.print(f"[yellow]warning:[/yellow] {escape(str(message))}")
            else:
                shown(message, category, *args, **kw)

        warnings.showwarning = show
        yield


def train(
    version: str = typer.Argument(..., help="Version name or id to train on."),
    recipe: str | None = typer.Option(
        None, help="A shipped recipe (resnet18-sgd, resnet50-a3, tiny-cpu) or a YAML path."
    ),
    model: str | None = typer.Option(None, help="timm model name, or tv/<name> (torchvision)."),
    epochs: int | None = typer.Option(None, help="Passes over the training split."),
    batch_size: int | None = typer.Option(None, help="Images per step, all processes together."),
    lr: float | None = typer.Option(None, help="Peak learning rate."),
    seed: int | None = typer.Option(None, help="Seed of weights, order and augmentation."),
    amp: bool | None = typer.Option(
        None,
        "--amp/--no-amp",
        help="bfloat16 autocast on or off (default: on where the CPU or GPU computes bfloat16 "
        "natively, else fp32).",
    ),
    threads: int | None = typer.Option(
        None, help="torch threads on the CPU (default: the free CPUs less the loader's)."
    ),
    channels_last: bool | None = typer.Option(None, "--channels-last/--no-channels-last"),
    compile: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile."),
    pretrained: Path | None = typer.Option(None, help="Local weights file to start from."),
    shards: Path | None = typer.Option(
        None, help="Read train images from this webdataset export of the version."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Any config field, e.g. --set schedule.warmup_epochs=5 (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, help="Run folder (default: <workspace>/runs/<recipe or model>-<version>)."
    ),
    resume: Path | None = typer.Option(None, help="Continue exactly from this checkpoint."),
    force: bool = typer.Option(False, help="Resume even though the config changed."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps in all."),
    workers: int | None = typer.Option(None, help="Data-loading processes per process."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: auto)."),
) -> None:
    """Train a model on a version's train split, validating on val every epoch.

    Example: synsetlab train v1 --recipe tiny-cpu --epochs 3
    """
    overrides = {
        "model": model, "epochs": epochs, "batch_size": batch_size, "optim.lr": lr,
        "seed": seed, "amp": amp, "channels_last": channels_last, "compile": compile,
        "pretrained": None if pretrained is None else str(pretrained),
        "shards": None if shards is None else str(shards),
        "max_steps": max_steps, "workers": workers, "threads": threads, "device": device,
    }  # fmt: skip
    with user_errors():  # before torch: a mistyped version or path fails at once
        require_paths(("--pretrained", pretrained), ("--shards", shards), ("--resume", resume))
        ws, found = open_version(version)
    _run_training(ws, found, recipe, overrides, set_, out, resume, force, prefix="",
                  command=["synsetlab", "train", version])  # fmt: skip


def _run_training(
    ws: Workspace,
    found: Version,
    recipe: str | dict[str, Any] | None,
    overrides: dict[str, Any],
    assignments: list[str],
    out: Path | None,
    resume: Path | None,
    force: bool,
    *,
    prefix: str,
    command: list[str],
) -> None:
    """Resolve the config, train on ``found`` (a version of ``ws``, checked before torch was
    imported) with a progress bar, print where the results are; on Ctrl-C (or SIGTERM), print
    the ``command`` that resumes the run and exit 130 (143)."""
    console.quiet = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 speaks
    start_loader_server(overrides.get("workers"))
    from synsetlab.train import resolve_config
    from synsetlab.train import train as run_training
    from synsetlab.versions import load_version

    with user_errors():
        config = resolve_config(recipe, overrides, assignments, resume=resume)
        v = load_version(ws, found.id)
        if out is None:
            recipe_name = recipe if isinstance(recipe, str) else config.model
            name = f"{prefix}{Path(recipe_name).stem}-{v.name}"
            out = resume.parent if resume else ws.root / "runs" / name
        console.print(
            f"training {config.model} on {v.name} ({v.id[:12]}): "
            f"{v.manifest.splits.get(config.train_split, 0)} train images, "
            f"{len(v.manifest.classes)} classes -> {out}"
        )
        result = run_with_progress(
            ws, command, overrides, assignments,
            lambda progress: run_training(
                v.manifest, ws.blobs, config, out, version_id=v.id, resume=resume,
                force=force, reporter=ProgressReporter(progress),
            ),
        )  # fmt: skip
    state = "stopped at the step budget" if result.stopped_early else "done"
    best = result.best_val_top1_error
    console.print(
        f"{state}: {result.epochs_done} epochs, {result.global_step} steps"
        + ("" if best is None else f", best val top-1 error {best:.3f}")
    )
    written = [p for p in (result.paths.last, result.paths.best) if p.is_file()]
    console.print(
        f"checkpoints: {', '.join(map(str, written))}"
        + ("" if result.paths.best.is_file() else " (best.pt comes with the first whole epoch)")
    )


_Result = TypeVar("_Result")


def run_with_progress(
    ws: Workspace,
    command: list[str],
    overrides: dict[str, Any],
    assignments: list[str],
    start: Callable[[Progress], _Result],
) -> _Result:
    """``start(progress)`` (a run) under a progress bar, with training warnings as yellow
    lines, then close ``ws``; on Ctrl-C (or SIGTERM), print the ``command`` that resumes the
    run (with ``overrides`` and ``assignments``) and exit 130 (143)."""
    from synsetlab.train.interrupt import TrainingInterrupted

    try:
        with training_warnings(), progress_bar(info=True) as progress:
            result = start(progress)
    except TrainingInterrupted as stopped:
        ws.close()
        line = resume_command(command, stopped.checkpoint, overrides, assignments)
        console.print(f"interrupted; resume with: {escape(line)}")
        raise typer.Exit(stopped.exit_code) from None
    ws.close()
    return result


#: The options of execution fields, which a checkpoint's config leaves out (they decide how a
#: run executes, not its result): a resume keeps them only when given again.
EXECUTION_OPTIONS = {
    "max_steps": "--max-steps",
    "device": "--device",
    "threads": "--threads",
    "workers": "--workers",
}


def resume_command(
    command: list[str], checkpoint: Path, overrides: dict[str, Any], assignments: list[str]
) -> str:
    """The command line that resumes an interrupted run: ``command``, ``--resume`` and the
    execution settings it was given (step budget, device, threads, loader workers, and
    ``--set`` of any other execution field)."""
    from synsetlab.train.config import EXECUTION_FIELDS

    words = [*command, "--resume", str(checkpoint)]
    for name, option in EXECUTION_OPTIONS.items():
        if overrides.get(name) is not None:
            words += [option, str(overrides[name])]
    for assignment in assignments:
        if assignment.partition("=")[0].strip() in EXECUTION_FIELDS:
            words += ["--set", assignment]
    return shlex.join(words)


def finetune(
    version: str = typer.Argument(..., help="Version name or id to fine-tune on."),
    source: Path = typer.Option(
        ..., "--from", help="Checkpoint or weights file (timm, torchvision, .safetensors)."
    ),
    mode: str | None = typer.Option(
        None, help="full (every weight; the default) or linear (classifier only)."
    ),
    layer_decay: float | None = typer.Option(
        None, help="Layer-wise lr decay, e.g. 0.75 (timm models)."
    ),
    freeze_bn: bool = typer.Option(False, help="Keep batch-norm statistics and weights."),
    recipe: str | None = typer.Option(None, help="Recipe (default: the source run's own)."),
    model: str | None = typer.Option(None, help="Architecture of a plain weights file."),
    epochs: int | None = typer.Option(None, help="Passes over the training split."),
    batch_size: int | None = typer.Option(None, help="Images per step."),
    lr: float | None = typer.Option(None, help="Peak learning rate."),
    set_: list[str] = typer.Option([], "--set", help="Any config field (repeatable)."),
    out: Path | None = typer.Option(None, help="Run folder (default: runs/finetune-...)."),
    resume: Path | None = typer.Option(None, help="Continue exactly from this checkpoint."),
    force: bool = typer.Option(False, help="Resume even though the config changed."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps in all."),
    workers: int | None = typer.Option(None, help="Data-loading processes."),
    device: str | None = typer.Option(None, help="cpu, cuda ... (default: auto)."),
) -> None:
    """Fine-tune a trained model on a version: a new head that keeps the rows of the classes
    both share (by wnid); linear probe or full, layer-wise lr decay, frozen batch norm.

    Example: synsetlab finetune v1 --from runs/tiny-cpu-v1/best.pt --mode linear --epochs 2
    """
    with user_errors():
        if mode not in (None, "full", "linear"):
            raise OptionError(f"unknown --mode {mode!r}: full or linear")
        # Before torch (source_config brings it): a mistyped version or path fails at once.
        require_paths(("--from", source), ("--resume", resume))
        ws, found = open_version(version)
        from synsetlab.train.finetune import source_config

        # Default: resuming, the run's own config; else the source run's recipe.
        base = recipe or (None if resume else source_config(source, linear=mode == "linear"))
        overrides: dict[str, Any] = {
            "pretrained": str(source), "finetune": mode, "freeze_bn": freeze_bn or None,
            "optim.layer_decay": layer_decay, "epochs": epochs, "batch_size": batch_size,
            "optim.lr": lr, "max_steps": max_steps, "device": device, "model": model,
            "workers": workers,
        }  # fmt: skip
    _run_training(ws, found, base, overrides, set_, out, resume, force, prefix="finetune-",
                  command=["synsetlab", "finetune", version, "--from", str(source)])  # fmt: skip


def evaluate(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (best.pt, last.pt)."),
    version: str = typer.Argument(..., help="Version name or id."),
    split: str = typer.Option("val", help="Split to score (hidden test labels are refused)."),
    tta: str = TTA,
    out: Path | None = typer.Option(
        None, help="Folder for metrics.json and plots (default: beside the checkpoint)."
    ),
    batch_size: int = typer.Option(64, help="Images per forward pass."),
    workers: int = typer.Option(0, help="Data-loading processes."),
    pgd_eps: str | None = typer.Option(
        None, help="Also the error under PGD at these epsilons (1/255 units), e.g. 0,1,2,4."
    ),
    pgd_steps: int = typer.Option(10, help="PGD iterations."),
    corruptions: str | None = typer.Option(
        None, help="Also the error under corruptions: all, or e.g. gaussian_noise,contrast."
    ),
    severities: str = typer.Option("1,2,3,4,5", help="Corruption severities (1-5)."),
    device: str = DEVICE,
) -> None:
    """Top-1/top-5 error as ILSVRC defines them, calibration and mistake severity; robustness
    under PGD and common corruptions on request.

    Example: synsetlab evaluate runs/tiny-cpu-v1/best.pt v1 --split val --tta flip
    """
    with user_errors():  # before torch: a mistyped option, version or path fails at once
        _check_tta(tta)
        epsilons, levels = _listed(pgd_eps, float), _listed(severities, int)
        require_paths(("checkpoint", checkpoint))
        ws, found = open_version(version)
    start_loader_server(workers)
    from synsetlab.train.distributed import resolve_device
    from synsetlab.train.inference import evaluate_split, evaluation_dir
    from synsetlab.train.robustness import CORRUPTIONS, evaluate_robustness
    from synsetlab.train.weights import load_model
    from synsetlab.versions import load_version

    with user_errors():
        v = load_version(ws, found.id)
        torch_device = resolve_device(device)
        loaded = load_model(checkpoint, device=torch_device)
        out = out or evaluation_dir(checkpoint, v.name, split, tta_flip=tta == "flip")
        report = evaluate_split(
            loaded, v.manifest, ws.blobs, split, taxonomy=ws.taxonomy(), out_dir=out,
            extra={"version": v.name, "version_id": v.id}, batch_size=batch_size,
            workers=workers, tta_flip=tta == "flip", device=torch_device,
        )  # fmt: skip
        names = CORRUPTIONS if corruptions == "all" else _listed(corruptions, str)
        robustness = evaluate_robustness(
            loaded, v.manifest, ws.blobs, split, pgd_epsilons=epsilons,
            pgd_steps=pgd_steps, corruptions=names, severities=levels,
            out_dir=out, batch_size=batch_size, workers=workers, device=torch_device,
        )  # fmt: skip
        ws.close()
    table = Table(title=f"{checkpoint} on {v.name}/{split} ({report.n_images} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("top-1 error", report.top1_error),
        ("top-5 error", report.top5_error),
        ("ECE", report.ece),
        ("mistake severity (mean LCA height)", report.mean_mistake_severity),
    ]
    for name, value in [*rows, *robustness.rows()]:
        table.add_row(name, "n/a" if value is None else f"{value:.4f}")
    console.print(table)
    console.print(
        f"wrote {out / 'metrics.json'}, confusion.png, reliability.png"
        + (", robustness.json" if robustness.rows() else "")
    )


def predict(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders (searched deeply)."),
    topk: int = typer.Option(5, help="Classes per image."),
    format: str = typer.Option(
        "csv",
        "--format",
        help="csv, json, or kaggle (a challenge submission; ImageId = file name without "
        "extension, as exported test images are named).",
    ),
    out: Path | None = typer.Option(None, help="Write here instead of standard output."),
    tta: str = TTA,
    device: str = DEVICE,
) -> None:
    """Top-k classes (wnid, name, probability) of image files.

    Example: synsetlab predict runs/tiny-cpu-v1/best.pt photos/ --topk 5 --format csv
    """
    with user_errors():  # before torch: a mistyped option or path fails at once
        _check_tta(tta)
        require_paths(("checkpoint", checkpoint), *(("input", path) for path in inputs))
    from synsetlab.cli.context import current_taxonomy
    from synsetlab.train.distributed import resolve_device
    from synsetlab.train.inference import (
        check_prediction_format,
        image_files,
        predict_files,
        write_predictions,
    )
    from synsetlab.train.weights import load_model

    with user_errors():
        check_prediction_format(format)
        torch_device = resolve_device(device)
        loaded = load_model(checkpoint, device=torch_device)
        predictions = predict_files(
            loaded, image_files(inputs), taxonomy=current_taxonomy(), topk=topk,
            tta_flip=tta == "flip", device=torch_device,
        )  # fmt: skip
        unreadable = [p.path for p in predictions if not p.top]
        if unreadable:
            err_console.print(
                f"[yellow]warning:[/yellow] {len(unreadable)} file(s) could not be decoded "
                f"and are left out, e.g. {unreadable[0]}"
            )
        text = write_predictions(predictions, format)
        if out is None:
            sys.stdout.write(text)
        else:
            with atomic_file(out, "w", encoding="utf-8") as f:
                f.write(text)
            written = len(predictions) - len(unreadable)
            console.print(f"wrote predictions of {written} images to {out}")


def submission(
    checkpoint: Path = typer.Argument(
        ..., help="A training checkpoint: a classifier, or a detector (synsetlab train-detector)."
    ),
    version: str = typer.Argument(..., help="Version name or id."),
    out: Path = typer.Argument(
        ...,
        help="File to write. Classification: a kaggle CSV. Detection and localization: the "
        "suffix names the format, .txt (devkit), .csv (kaggle) or .json.",
    ),
    split: str = typer.Option("test", help="Split to predict (the hidden test split)."),
    task: str = typer.Option(
        "classification",
        help="classification, detection (a detector checkpoint) or "
        "localization (a classifier with --detector, or a detector alone).",
    ),
    detector: Path | None = typer.Option(
        None,
        help="Localization: the detector whose best box of each of the classifier's "
        "five classes is guessed.",
    ),
    tta: str = TTA,
    workers: int = typer.Option(0, help="Data-loading processes."),
    device: str = DEVICE,
) -> None:
    """A challenge submission: the five best classes of each test image, or with --task
    detection every detection, or with --task localization five classes with a box each.

    CSV rows of ImageId (the image's sha256) and PredictionString (wnids, best first).

    Example: synsetlab submission runs/tiny-cpu-v1/best.pt v1 submission.csv

    Example: synsetlab submission runs/det/best.pt v1 det.txt --task detection

    Example: synsetlab submission runs/cls/best.pt v1 loc.csv --task localization --detector det.pt
    """
    with user_errors():  # before torch: a mistyped option, version or path fails at once
        _check_tta(tta)
        if task not in SUBMISSION_TASKS:
            raise OptionError(f"unknown --task {task!r}: {', '.join(SUBMISSION_TASKS)}")
        if detector is not None and task != "localization":
            raise OptionError(
                "--detector is for --task localization (a classifier's classes with the "
                "detector's boxes); leave it out for --task " + task
            )
        require_paths(("checkpoint", checkpoint), ("--detector", detector))
        ws, found = open_version(version)
    start_loader_server(workers)
    from synsetlab.train.distributed import resolve_device
    from synsetlab.versions import load_version

    with user_errors():
        kind = checkpoint_task(checkpoint)
        _check_submission_checkpoints(checkpoint, kind, task, detector)
        v = load_version(ws, found.id)
        torch_device = resolve_device(device)
        if task == "classification":
            rows = _classification_submission(
                checkpoint, v.manifest, ws.blobs, out, split=split, tta_flip=tta == "flip",
                workers=workers, device=torch_device,
            )  # fmt: skip
        else:
            rows = _detector_submission(
                checkpoint if kind == "detection" else detector, v.manifest, ws.blobs, out,
                task=task, split=split, device=torch_device,
                classifier=checkpoint if kind == "classification" else None,
                classifier_kwargs={"tta_flip": tta == "flip", "workers": workers},
            )  # fmt: skip
        ws.close()
    what = "predictions" if task == "classification" else f"{task} predictions"
    console.print(f"wrote {rows} {what} for {v.name}/{split} to {out}")


#: What ``submission --task`` takes.
SUBMISSION_TASKS = ("classification", "detection", "localization")


def _check_submission_checkpoints(
    checkpoint: Path, kind: str, task: str, detector: Path | None
) -> None:
    """Refuse a checkpoint of the wrong kind for ``task``, saying which command fits."""
    if kind == "detection" and task == "classification":
        raise OptionError(
            f"{checkpoint} is a detector: give --task detection (every detection) or --task "
            "localization (five classes with boxes); for scores, synsetlab evaluate-detector"
        )
    if kind == "detection" and detector is not None:
        raise OptionError(
            f"{checkpoint} is already a detector: --detector goes with a classifier "
            "checkpoint; leave it out to localise with the detector alone"
        )
    if kind == "classification" and task == "detection":
        raise OptionError(
            f"{checkpoint} is a classifier: --task detection needs a detector checkpoint "
            "(synsetlab train-detector); a classifier localises with --task localization "
            "--detector DETECTOR.pt"
        )
    if kind == "classification" and task == "localization" and detector is None:
        raise OptionError(
            f"{checkpoint} is a classifier: --task localization needs boxes from --detector "
            "DETECTOR.pt (or give a detector checkpoint alone)"
        )
    if detector is not None and checkpoint_task(detector) != "detection":
        raise OptionError(
            f"--detector {detector} is not a detector checkpoint: give a synsetlab "
            "train-detector run's best.pt"
        )


def _classification_submission(
    checkpoint: Path, manifest: Any, blobs: Any, out: Path, **kwargs: Any
) -> int:
    from synsetlab.train.inference import write_submission
    from synsetlab.train.weights import load_model

    loaded = load_model(checkpoint, device=kwargs["device"])
    return write_submission(loaded, manifest, blobs, out, **kwargs)


def _detector_submission(
    detector: Path | None,
    manifest: Any,
    blobs: Any,
    out: Path,
    *,
    task: str,
    split: str,
    device: Any,
    classifier: Path | None,
    classifier_kwargs: dict[str, Any],
) -> int:
    """Detect ``split`` with a progress bar and write the ``task`` submission."""
    from synsetlab.detect.predict import load_detector
    from synsetlab.detect.submit import write_detection_submission, write_localization_submission
    from synsetlab.train.weights import load_model

    assert detector is not None  # _check_submission_checkpoints saw to it
    loaded = load_detector(detector, device=device)
    n = len(manifest.split(split))
    with progress_bar() as progress:
        bar = progress.add_task(f"detecting {split}", total=n)
        step = {"progress": lambda k: progress.update(bar, advance=k), "split": split}
        if task == "detection":
            return write_detection_submission(loaded, manifest, blobs, out, **step)
        model = None if classifier is None else load_model(classifier, device=device)
        return write_localization_submission(
            loaded, manifest, blobs, out, classifier=model, **step,
            **(classifier_kwargs | {"device": device}),
        )  # fmt: skip


def _listed(text: str | None, kind: type) -> list[Any]:
    """``"1,2,4"`` -> ``[kind("1"), ...]``; nothing for ``None``."""
    try:
        return [kind(part) for part in text.split(",")] if text else []
    except ValueError as e:
        raise OptionError(f"{text!r} is not a comma-separated list of {kind.__name__}s") from e


def _check_tta(tta: str) -> None:
    if tta not in ("none", "flip"):
        raise OptionError(f"unknown --tta {tta!r}: none or flip")


def register(app: typer.Typer) -> None:
    for command in (train, finetune, evaluate, predict, submission):
        app.command()(command)
