"""``synsetlab ingest <kind>``: one command per source kind, all through one pipeline."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from synsetlab.cli.context import advance, console, current_workspace, progress_bar, user_errors

if TYPE_CHECKING:
    from synsetlab.ingest.pipeline import IngestReport
    from synsetlab.ingest.records import SourceSpec

app = typer.Typer(no_args_is_help=True)


class LabelStateChoice(str, Enum):
    """The values of :class:`synsetlab.catalog.LabelState`, which ``--label-state`` offers.

    Repeated here because Typer reads the options of every command at start-up, and the
    catalog's own enum would bring SQLAlchemy into ``synsetlab --help``; a test pins that the
    two agree.
    """

    candidate = "candidate"
    verified = "verified"
    rejected = "rejected"


WORKERS = typer.Option(
    None, "--workers", help="Decode processes (default: every core; 0 = in this process)."
)
LABEL_STATE = typer.Option(
    None,
    "--label-state",
    help="State given to this source's labels (default: verified for curated datasets, "
    "candidate for folders and manifests).",
)
SPLITS = typer.Option(
    ["train", "val"], "--split", help="Splits to ingest (repeat the option for several)."
)
REPLACE = typer.Option(
    False,
    "--replace",
    help="Forget what earlier runs of this source recorded (its images, their labels, findings, "
    "decisions and splits) and ingest it anew, in one transaction: to correct its options. A run "
    "that fails leaves the earlier one whole; other writes to the catalog wait until it ends. "
    "Refused while a frozen version holds its images.",
)


def run(
    open_source: Callable[[], SourceSpec],
    workers: int | None,
    label_state: LabelStateChoice | None,
    replace: bool = False,
) -> IngestReport:
    """Open the workspace and the source, run the pipeline with a progress bar, print a report."""
    from synsetlab.catalog import LabelState
    from synsetlab.ingest.pipeline import ingest

    with user_errors():
        ws = current_workspace()
        spec = open_source()
        with progress_bar(transient=False) as progress:
            task = progress.add_task(f"[bold]{spec.kind}[/bold]", total=spec.total)
            report = ingest(
                ws,
                spec,
                label_state=None if label_state is None else LabelState(label_state.value),
                workers=workers,
                on_progress=advance(progress, task),
                replace=replace,
            )
        ws.close()
    print_report(report)
    return report


def print_report(report: IngestReport) -> None:
    rate = report.processed / report.seconds if report.seconds else 0.0
    console.print(
        f"{report.kind} {report.uri}: [green]{report.added} added[/green], "
        f"[red]{report.rejected} rejected[/red], {report.already_known} already in the catalog "
        f"({report.seconds:.1f} s, {rate:.0f} files/s)"
    )
    if report.reasons:
        table = Table("reason", "files", title="Rejected this run")
        for reason, n in report.reasons.most_common():
            table.add_row(reason, str(n))
        console.print(table)


@app.command("imagefolder")
def imagefolder(
    root: Path = typer.Argument(..., help="Folder of class folders (named by wnid, or --map)."),
    class_map: Path | None = typer.Option(
        None, "--map", help="File of 'folder-name wnid' lines for folders not named by wnid."
    ),
    split: str | None = typer.Option(
        None, help="Split to record for every image (train/val/test)."
    ),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """Class folders of images, as torchvision's ImageFolder reads them.

    Example: synsetlab ingest imagefolder ~/photos/train --map classes.txt
    """
    from synsetlab.ingest.imagefolder import open_imagefolder

    run(
        lambda: open_imagefolder(root, class_map=class_map, split=split),
        workers,
        label_state,
        replace,
    )


@app.command("manifest")
def manifest(
    path: Path = typer.Argument(
        ..., help="CSV with path,wnid[,split][,xmin,ymin,xmax,ymax] columns, or JSON Lines."
    ),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """Files listed in a CSV or JSONL manifest, with labels and optional boxes.

    Example: synsetlab ingest manifest images.csv
    """
    from synsetlab.ingest.manifest import open_manifest

    run(lambda: open_manifest(path), workers, label_state, replace)


@app.command("ilsvrc2012")
def ilsvrc2012(
    root: Path = typer.Argument(
        ..., help="Folder with ILSVRC2012_img_train.tar, _img_val.tar and the devkit."
    ),
    splits: list[str] = SPLITS,
    include_test: bool = typer.Option(False, help="Also ingest the unlabelled test tar."),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """The real ILSVRC-2012 archives: nested train tar, flat val tar, devkit ground truth.

    Example: synsetlab ingest ilsvrc2012 ~/imagenet/
    """
    from synsetlab.ingest.ilsvrc2012 import open_ilsvrc2012

    run(
        lambda: open_ilsvrc2012(root, splits=tuple(splits), include_test=include_test),
        workers,
        label_state,
        replace,
    )


@app.command("kaggle-loc")
def kaggle_loc(
    root: Path = typer.Argument(..., help="Folder with LOC_*.csv files and ILSVRC/Data/CLS-LOC."),
    splits: list[str] = SPLITS,
    include_test: bool = typer.Option(False, help="Also ingest the unlabelled test images."),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """Kaggle's ImageNet Object Localization layout, boxes included.

    Example: synsetlab ingest kaggle-loc ~/imagenet-kaggle/
    """
    from synsetlab.ingest.kaggle_loc import open_kaggle_loc

    run(
        lambda: open_kaggle_loc(root, splits=tuple(splits), include_test=include_test),
        workers,
        label_state,
        replace,
    )


@app.command("idx")
def idx(
    images: Path = typer.Argument(..., help="IDX image file, e.g. train-images-idx3-ubyte.gz."),
    labels: Path | None = typer.Option(None, help="IDX label file."),
    classes: Path | None = typer.Option(
        None, help="Text file with one wnid per line: line i is label i."
    ),
    split: str | None = typer.Option(None, help="Split to record (train/val/test)."),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """MNIST-style IDX files (raw or gzipped), labels mapped to wnids by --classes.

    Example: synsetlab ingest idx train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz
    --classes wnids.txt --split train
    """
    from synsetlab.ingest.idx import open_idx

    run(
        lambda: open_idx(images, labels=labels, classes=classes, split=split),
        workers,
        label_state,
        replace,
    )


@app.command("cifar")
def cifar(
    root: Path = typer.Argument(
        ..., help="cifar-10-batches-py/ or cifar-100-python/ folder, its parent, or the .tar.gz."
    ),
    classes: Path | None = typer.Option(
        None, help="One wnid per line, line i = label i (CIFAR-10 has a built-in mapping)."
    ),
    workers: int | None = WORKERS,
    label_state: LabelStateChoice | None = LABEL_STATE,
    replace: bool = REPLACE,
) -> None:
    """CIFAR-10/100 python batches; train and test splits kept.

    Example: synsetlab ingest cifar ~/cifar-10-batches-py/ --classes wnids.txt
    """
    from synsetlab.ingest.cifar import open_cifar

    run(lambda: open_cifar(root, classes=classes), workers, label_state, replace)


@app.command("remove")
def remove(
    source: str = typer.Argument(
        ..., help="The source's id (as `synsetlab status` lists it) or the path it was read from."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget a source and its images, so that it can be ingested again.

    Deletes, in one transaction, its images with their labels, boxes, findings, decisions and
    split assignments, and its rejected files. Image bytes stay in the blob store. Refused
    while a frozen version holds one of its images.

    Example: synsetlab ingest remove 2
    """
    from synsetlab.ingest.sources import find_source, remove_source

    with user_errors():
        ws = current_workspace()
        found = find_source(ws, source)
        if not yes and not typer.confirm(
            f"Remove source {found.id} ({found.kind} {found.uri}) and all its images?"
        ):
            ws.close()
            raise typer.Exit(1)
        removed = remove_source(ws, found.id)
        ws.close()
    console.print(
        f"removed source {removed.id} ({removed.kind} {escape(removed.uri)}): "
        f"{removed.images} images with {removed.labels} labels, {removed.boxes} boxes, "
        f"{removed.findings} findings, {removed.decisions} decisions and "
        f"{removed.split_assignments} split assignments; {removed.rejected_files} rejected files. "
        "Findings about other images may still name them: run curation again."
    )
