"""``synsetlab ensemble``: several checkpoints evaluated as one model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from synsetlab.cli.context import console, current_workspace, user_errors
from synsetlab.parallel import start_loader_server

TTA = typer.Option("none", "--tta", help="Test-time augmentation of every member: none or flip.")


def ensemble(
    inputs: list[str] = typer.Argument(
        ...,
        metavar="CHECKPOINT... VERSION",
        help="Two or more training checkpoints, then the version name or id (last).",
    ),
    split: str = typer.Option("val", help="Split to score (hidden test labels are refused)."),
    tta: str = TTA,
    weights: str | None = typer.Option(
        None, help="Comma-separated weight per checkpoint, e.g. 2,1 (default: equal)."
    ),
    out: Path | None = typer.Option(
        None,
        help="Folder for metrics.json and plots (default: <workspace>/runs/ensemble-<version>-"
        "<split>).",
    ),
    batch_size: int = typer.Option(64, help="Images per forward pass."),
    workers: int = typer.Option(0, help="Data-loading processes."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: CUDA when available)."),
) -> None:
    """Average the class probabilities of several checkpoints and score them as one model,
    beside each member's own top-1/top-5 error.

    Members may differ in architecture and input size; they must predict the same classes.

    Example: synsetlab ensemble runs/a/best.pt runs/b/best.pt v1 --split val
    """
    start_loader_server(workers)
    from synsetlab.train.distributed import resolve_device
    from synsetlab.train.ensemble import EnsembleError, evaluate_ensemble, load_ensemble
    from synsetlab.versions import load_version

    with user_errors():
        checkpoints, version = split_inputs(inputs)
        if tta not in ("none", "flip"):
            raise EnsembleError(f"unknown --tta {tta!r}: none or flip")
        ws = current_workspace()
        v = load_version(ws, version)
        torch_device = resolve_device(device)
        members = load_ensemble(checkpoints, weights=parse_weights(weights), device=torch_device)
        out = out or ws.root / "runs" / f"ensemble-{v.name}-{split}"
        result = evaluate_ensemble(
            members, v.manifest, ws.blobs, split, taxonomy=ws.taxonomy(), out_dir=out,
            tta_flip=tta == "flip", batch_size=batch_size, workers=workers, device=torch_device,
        )  # fmt: skip
        ws.close()
    report = result.report
    table = Table(title=f"ensemble on {v.name}/{split} ({report.n_images} images)")
    for column in ("model", "weight", "top-1 error", "top-5 error"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m in result.members:
        table.add_row(str(m.path), f"{m.weight:.3f}", _fmt(m.top1_error), _fmt(m.top5_error))
    table.add_row("[bold]ensemble[/bold]", "", _fmt(report.top1_error), _fmt(report.top5_error))
    console.print(table)
    console.print(f"wrote {out / 'metrics.json'}, confusion.png, reliability.png")


def split_inputs(inputs: list[str]) -> tuple[list[Path], str]:
    """``[checkpoint, ..., version]`` -> (checkpoint paths, version); two checkpoints at least."""
    # Imported here: torch loads only when an ensemble command runs, not for `synsetlab --help`.
    from synsetlab.train.ensemble import EnsembleError

    version = inputs[-1]
    if Path(version).suffix == ".pt" or Path(version).is_file():
        raise EnsembleError(
            f"the last argument {version!r} is a checkpoint: put the version after the "
            "checkpoints, e.g. synsetlab ensemble runs/a/best.pt runs/b/best.pt v1"
        )
    if len(inputs) < 3:
        raise EnsembleError(
            "give two or more checkpoints, then the version, e.g. "
            "synsetlab ensemble runs/a/best.pt runs/b/best.pt v1 (one checkpoint: "
            "synsetlab evaluate)"
        )
    return [Path(p) for p in inputs[:-1]], version


def parse_weights(text: str | None) -> list[float] | None:
    """``"2,1"`` -> ``[2.0, 1.0]``; ``None`` stays ``None`` (equal weights)."""
    from synsetlab.train.ensemble import EnsembleError

    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise EnsembleError(
            f"--weights {text!r} is not comma-separated numbers, e.g. 2,1"
        ) from None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    app.command()(ensemble)
