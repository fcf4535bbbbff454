"""``synsetlab split`` and ``synsetlab version ...``: leak-free splits and frozen versions."""

from __future__ import annotations

import typer
from rich.table import Column, Table

from synsetlab.cli.context import console, current_workspace, user_errors

app = typer.Typer(no_args_is_help=True)


def split(
    val_per_class: int | None = typer.Option(None, help="Validation images per class."),
    test_per_class: int | None = typer.Option(None, help="Test images per class (hidden labels)."),
    val_fraction: float | None = typer.Option(None, help="Or a share of each class for val."),
    test_fraction: float | None = typer.Option(None, help="Or a share of each class for test."),
    seed: int | None = typer.Option(
        None,
        help="Seeds the draw of val and test: the same seed and catalog give the same split "
        "(default 0). Refused when nothing is drawn.",
    ),
    from_source: bool = typer.Option(
        False,
        "--from-source",
        help="Keep the splits the sources assigned (ILSVRC, CIFAR...); carve val or test from "
        "train with the options above when the sources give none.",
    ),
) -> None:
    """Assign every labelled image to train/val/test, stratified, keeping duplicates together.

    Example: synsetlab split --val-per-class 50 --test-per-class 100 --seed 0
    """
    from synsetlab.splits import SPLITS, SplitPlan, assign_splits

    plan = SplitPlan(
        val_per_class=val_per_class,
        test_per_class=test_per_class,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        from_source=from_source,
    )
    with user_errors():
        ws = current_workspace()
        report = assign_splits(ws, plan)
        ws.close()
    splits = ", ".join(f"{k} {report.per_split[k]}" for k in SPLITS if k in report.per_split)
    console.print(
        f"{sum(report.per_split.values())} images in {len(report.per_class)} classes: "
        f"{splits}; {report.groups} groups (duplicate clusters and byte-identical copies kept "
        "whole)"
    )
    if report.moved_copies:
        console.print(
            f"[yellow]{report.moved_copies} byte-identical copies moved[/yellow] to the split of "
            "their other copy (train before val before test): the sources had put one content "
            "in two splits"
        )
    if report.straddling_groups:
        console.print(
            f"[yellow]{report.straddling_groups} duplicate groups straddle the sources' "
            "splits[/yellow] (see synsetlab findings list --kind split-leak)"
        )
    if "val" not in report.per_split:
        console.print(
            "no val split: training will have no validation; add --val-per-class N or "
            "--val-fraction F (carved from train with --from-source)"
        )


@app.command("freeze")
def freeze_(
    name: str = typer.Option(..., "--name", help="Name of the new version, e.g. v1."),
) -> None:
    """Freeze the current dataset and split as an immutable, content-hashed version.

    Example: synsetlab version freeze --name v1
    """
    from synsetlab.versions import freeze

    with user_errors():
        ws = current_workspace()
        v = freeze(ws, name)
        ws.close()
    splits = ", ".join(f"{k} {n}" for k, n in v.manifest.splits.items())
    pool = len(v.manifest.unlabelled)
    crowd = v.manifest.params.get("crowd", {}).get("verified", 0)
    console.print(
        f"version [bold]{v.name}[/bold] {v.id}: {len(v.manifest.entries)} images, "
        f"{len(v.manifest.classes)} classes ({splits})"
        + (f"; {crowd} labels crowd-verified" if crowd else "")
        + (f"; {pool} unlabelled kept for `pretrain --use-unlabelled`" if pool else "")
    )


@app.command("list")
def list_() -> None:
    """The frozen versions, oldest first.

    Example: synsetlab version list
    """
    from synsetlab.versions import list_versions

    with user_errors():
        ws = current_workspace()
        versions = list_versions(ws)
        ws.close()
    # The crowd's column keeps its header whole; the splits wrap on a narrow terminal.
    crowd = Column("crowd-verified", min_width=len("crowd-verified"), no_wrap=True)
    table = Table("name", "id", "images", "classes", "splits", crowd, "created")
    for v in versions:
        splits = ", ".join(f"{k} {n}" for k, n in v.summary.get("splits", {}).items())
        table.add_row(
            v.name,
            v.id[:12],
            str(v.images),
            str(v.classes),
            splits,
            # "-": frozen before versions kept the crowd's record.
            str(v.summary["crowd_verified"]) if "crowd_verified" in v.summary else "-",
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="Older version (name or id)."),
    b: str = typer.Argument(..., help="Newer version (name or id)."),
    show: int = typer.Option(10, help="List at most this many images per change."),
) -> None:
    """Images added, removed, relabelled and moved between splits from A to B.

    Example: synsetlab version diff v1 v2
    """
    from synsetlab.versions import crowd_record, diff_crowd, diff_versions, load_version

    with user_errors():
        ws = current_workspace()
        old, new = load_version(ws, a), load_version(ws, b)
        d = diff_versions(old.manifest, new.manifest)
        crowd_a, crowd_b = crowd_record(ws, old), crowd_record(ws, new)
        ws.close()
    console.print(
        f"{a} -> {b}: {len(d.added)} added, {len(d.removed)} removed, "
        f"{len(d.relabelled)} relabelled, {len(d.moved)} moved between splits"
    )
    if crowd_a is None or crowd_b is None:
        console.print(
            "crowd-verified labels: not recorded by a version frozen before synsetlab kept them"
        )
    else:
        c = diff_crowd(old.manifest, crowd_a, new.manifest, crowd_b)
        if c.verified_a or c.verified_b:
            console.print(
                f"crowd-verified labels: {c.verified_a} -> {c.verified_b} "
                f"({len(c.newly_verified)} newly verified, {len(c.no_longer)} no longer)"
            )
    if not d.pool_recorded:
        console.print("unlabelled pool: not listed by a version frozen before synsetlab kept it")
    if d.unlabelled_added or d.unlabelled_removed:
        console.print(
            f"unlabelled pool: {len(d.unlabelled_added)} added, "
            f"{len(d.unlabelled_removed)} left (labelled, excluded or removed)"
        )
    if d.classes_added or d.classes_removed:
        console.print(
            f"classes added: {', '.join(d.classes_added) or '-'}; "
            f"removed: {', '.join(d.classes_removed) or '-'}"
        )
    for image_id, old, new in d.relabelled[:show]:
        console.print(f"  relabelled image {image_id}: {old} -> {new}")
    for image_id, old, new in d.moved[:show]:
        console.print(f"  moved image {image_id}: {old} -> {new}")
