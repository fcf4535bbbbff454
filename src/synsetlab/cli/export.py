"""``synsetlab export``: write a frozen version in a format the ecosystem reads."""

from __future__ import annotations

from pathlib import Path

import typer

from synsetlab.cli.context import console, current_workspace, user_errors


def export(
    version: str = typer.Argument(..., help="Version name or id."),
    out: Path = typer.Argument(
        ..., help="Output folder (must be empty, or an earlier export with --force)."
    ),
    format: str = typer.Option(
        ...,
        "--format",
        help="imagefolder, ilsvrc, kaggle-loc, webdataset, parquet or coco.",
    ),
    force: bool = typer.Option(
        False, help="Replace an earlier export in OUT, once the new one is complete."
    ),
    short_side: int | None = typer.Option(
        None,
        help="Resize every image so its short side has this many pixels (JPEG q90; in "
        "webdataset's stored encoding, JPEGs stay JPEG q90 and other images become PNG).",
    ),
    shard_size: int = typer.Option(1000, help="Images per webdataset shard or Parquet file."),
    encoding: str = typer.Option(
        "stored",
        help="webdataset images: stored (their own bytes, format and mode), jpeg (every image "
        "an RGB JPEG q90), or raw: RGB pixels (.ppm), lossless and read without decoding "
        "(much faster training input) at 6-10x the disk; use raw with --short-side.",
    ),
    include_hidden: bool = typer.Option(False, help="Also write the hidden test labels."),
    class_order: str = typer.Option("sorted", help="Class index order: sorted (wnid) or ilsvrc."),
    workers: int = typer.Option(0, help="Processes reading and resizing images."),
) -> None:
    """Export a version: images, labels, boxes and an explicit class index.

    Example: synsetlab export v1 --format webdataset shards/ --short-side 160
    """
    from synsetlab.export import export_version
    from synsetlab.versions import load_version

    with user_errors():
        ws = current_workspace()
        v = load_version(ws, version)
        report = export_version(
            v.manifest,
            ws.blobs,
            out,
            format,
            force=force,
            short_side=short_side,
            shard_size=shard_size,
            include_hidden=include_hidden,
            taxonomy=ws.taxonomy(),
            class_order=class_order,  # type: ignore[arg-type]
            encoding=encoding,  # type: ignore[arg-type]
            workers=workers,
        )
        ws.close()
    splits = ", ".join(f"{k} {n}" for k, n in report.images.items())
    console.print(
        f"exported {v.name} as {report.format} to {report.out_dir}: {splits} "
        f"({report.bytes_written / 1e6:.1f} MB, {report.reencoded} re-encoded"
        + (f", {report.merged} byte-identical copies written once" if report.merged else "")
        + ")"
    )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
