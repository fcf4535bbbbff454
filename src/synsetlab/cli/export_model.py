"""``synsetlab export-model``: a training checkpoint's model as an ONNX file."""

from __future__ import annotations

from pathlib import Path

import typer

from synsetlab.cli.context import console, require_paths, user_errors


def export_model(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (best.pt, last.pt)."),
    out: Path = typer.Argument(
        ..., help="The .onnx file to write (replaced only once the new export passes its check)."
    ),
    opset: int | None = typer.Option(None, help="ONNX opset, 9 to 20 (default: 20)."),
    no_check: bool = typer.Option(
        False, "--no-check", help="Skip comparing onnxruntime's outputs with PyTorch's."
    ),
) -> None:
    """Export a checkpoint's model to ONNX, with its classes and preprocessing as metadata.

    The input is a float (N, 3, S, S) batch normalised with the metadata's mean and std.

    Example: synsetlab export-model runs/tiny-cpu-v1/best.pt tiny.onnx
    """
    with user_errors():  # before torch: a mistyped path fails at once
        require_paths(("checkpoint", checkpoint))
    from synsetlab.train.onnx_export import export_onnx

    with user_errors():
        report = export_onnx(checkpoint, out, opset=opset, check=not no_check)
    console.print(
        f"exported {report.architecture} ({report.num_classes} classes, "
        f"{report.input_size} px) to {report.path}: {report.size_bytes / 1e6:.1f} MB, "
        f"opset {report.opset}"
    )
    if report.max_abs_diff is not None:
        console.print(f"onnxruntime matches PyTorch: max abs difference {report.max_abs_diff:.2g}")


def register(app: typer.Typer) -> None:
    app.command(name="export-model")(export_model)
