"""``synsetlab evaluate-detector``: a detector's ILSVRC DET mean AP and COCO mAP on a split."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from synsetlab.cli.context import console, open_version, progress_bar, require_paths, user_errors

DEVICE = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: CUDA when available).")


def checkpoint_task(path: Path) -> str:
    """``"detection"`` for a ``synsetlab train-detector`` checkpoint, else
    ``"classification"`` (a classifier, a pretrained backbone, plain weights, an unreadable
    file: their own loaders say more). Reads only what it looks at (memory-mapped)."""
    from synsetlab.detect.predict import TASK
    from synsetlab.train.checkpoint import CheckpointError, checkpoint_file, read_file

    try:
        state = read_file(checkpoint_file(path), mmap=True)
    except CheckpointError:
        return "classification"
    return TASK if isinstance(state, dict) and state.get("task") == TASK else "classification"


def _figure(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def evaluate_detector(
    checkpoint: Path = typer.Argument(..., help="A detector checkpoint (best.pt, last.pt)."),
    version: str = typer.Argument(..., help="Version name or id."),
    split: str = typer.Option("val", help="Split to score (hidden test labels are refused)."),
    out: Path | None = typer.Option(
        None,
        help="Folder for metrics.json, per_class.csv and per_class_ap.png (default: "
        "eval-VERSION-SPLIT beside the checkpoint).",
    ),
    batch_size: int = typer.Option(8, help="Images per forward pass."),
    worst: int = typer.Option(5, help="Classes listed with the lowest DET AP."),
    device: str = DEVICE,
) -> None:
    """ILSVRC DET mean AP and COCO mAP (AP@[.5:.95], AP50, AP75, by object size) side by
    side, per class, with the DET mean's bootstrap interval.

    Example: synsetlab evaluate-detector runs/det/best.pt v1 --split val
    """
    with user_errors():  # before torch: a mistyped version or path fails at once
        require_paths(("checkpoint", checkpoint))
        ws, found = open_version(version)
    from synsetlab.detect.evaluate import (
        check_classes,
        detector_evaluation_dir,
        evaluate_detections,
        ground_truth,
        write_detector_evaluation,
    )
    from synsetlab.detect.predict import load_detector, predict_split
    from synsetlab.train.distributed import resolve_device
    from synsetlab.train.inference import display_names
    from synsetlab.versions import load_version

    with user_errors():
        v = load_version(ws, found.id)
        truth = ground_truth(v.manifest, split)  # hidden labels are refused before predicting
        loaded = load_detector(checkpoint, device=resolve_device(device))
        check_classes(loaded.classes, v.manifest)
        n = len(v.manifest.split(split))
        with progress_bar() as progress:
            task = progress.add_task(f"detecting {v.name}/{split}", total=n)
            detections = predict_split(
                loaded, v.manifest, ws.blobs, split=split, batch_size=batch_size,
                progress=lambda k: progress.update(task, advance=k),
            )  # fmt: skip
        result = evaluate_detections(detections, truth)
        out = out or detector_evaluation_dir(checkpoint, v.name, split)
        names = display_names(v.manifest.classes, ws.taxonomy())
        extra = {"checkpoint": str(checkpoint), "version": v.name, "version_id": v.id}
        write_detector_evaluation(result, out, split=split, extra=extra, names=names)
        ws.close()

    table = Table(
        title=f"{checkpoint} on {v.name}/{split} ({result.n_images} images, "
        f"{result.n_objects} objects, {result.scored_classes} classes with objects)"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    low, high = result.det_map_interval or (math.nan, math.nan)
    coco = result.coco
    table.add_row("ILSVRC DET mean AP", _figure(result.det_map))
    table.add_row("  95% interval", f"{_figure(low)} - {_figure(high)}")
    for name, value in [
        ("COCO mAP@[.5:.95]", coco.map), ("COCO AP50", coco.ap50), ("COCO AP75", coco.ap75),
        ("COCO AP small", coco.ap_small), ("COCO AP medium", coco.ap_medium),
        ("COCO AP large", coco.ap_large),
    ]:  # fmt: skip
        table.add_row(name, _figure(value))
    console.print(table)
    if worst > 0 and result.scored_classes:
        by_wnid = dict(zip(v.manifest.classes, names, strict=True))
        classes = Table(title=f"worst {min(worst, result.scored_classes)} classes by DET AP")
        for column in ("class", "objects", "detections", "DET AP", "COCO AP", "COCO AP50"):
            classes.add_column(column, justify="left" if column == "class" else "right")
        for row in result.worst(worst):
            classes.add_row(
                by_wnid[row.wnid], str(row.objects), str(row.detections),
                _figure(row.det_ap), _figure(row.coco_ap), _figure(row.coco_ap50),
            )  # fmt: skip
        console.print(classes)
    console.print(f"wrote {out / 'metrics.json'}, per_class.csv, per_class_ap.png")


def register(app: typer.Typer) -> None:
    app.command("evaluate-detector")(evaluate_detector)
