"""``synsetlab curate <analysis>``: look for duplicates, bad images, imbalance and label errors.

Each analysis records findings (``synsetlab findings list``); only ``balance --min/--max`` takes
decisions itself, and those are undone like any other.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from synsetlab.cli.context import advance, console, current_workspace, progress_bar, user_errors

app = typer.Typer(no_args_is_help=True)

WORKERS = typer.Option(None, "--workers", help="Processes measuring images (default: every core).")


@app.command()
def duplicates(
    max_distance: int = typer.Option(8, help="Largest pHash Hamming distance (bits of 64)."),
    flips: bool = typer.Option(False, help="Also match mirror images."),
    embeddings: Path | None = typer.Option(
        None, help="Also link images whose CNN embeddings agree: a local weights file."
    ),
    arch: str | None = typer.Option(
        None, help="Model of bare --embeddings weights: a timm name, or tv/<name> for torchvision."
    ),
    similarity: float = typer.Option(0.95, help="Cosine similarity that links two embeddings."),
    crowd_limit: int = typer.Option(
        1000,
        help="Images with this many others within --max-distance are too crowded to link "
        "(tiny, flat or look-alike pictures): flagged crowded-hash instead.",
    ),
    links_per_image: int = typer.Option(
        16, help="Nearest links kept per image: bounds memory on crowded data."
    ),
    workers: int | None = WORKERS,
) -> None:
    """Exact (same sha256) and near duplicates, clustered; copies that straddle splits.

    Memory stays bounded whatever the data: each image keeps its --links-per-image nearest
    links, and images whose hashes are crowded are flagged instead of linked.

    Example: synsetlab curate duplicates --flips
    """
    from synsetlab.curate.duplicates import find_duplicates
    from synsetlab.curate.hamming_index import SearchLimits

    with user_errors():
        ws = current_workspace()
        vectors = None
        if embeddings is not None:
            from synsetlab.curate.features import content_embeddings

            vectors = content_embeddings(ws, embeddings, arch=arch, workers=workers)
        r = find_duplicates(
            ws,
            max_distance=max_distance,
            flips=flips,
            embeddings=vectors,
            embedding_threshold=similarity,
            workers=workers,
            limits=SearchLimits(k=links_per_image, crowd_limit=crowd_limit),
        )
        ws.close()
    table = Table("finding", "clusters", "images", title=f"Duplicates among {r.contents} contents")
    table.add_row("exact-duplicate", str(r.exact_clusters), str(r.exact_images))
    table.add_row("near-duplicate", str(r.near_clusters), str(r.near_images))
    table.add_row("split-leak", "", str(r.leak_images))
    table.add_row("crowded-hash", "", str(r.crowded_images))
    console.print(table)
    if r.crowded_images:
        dense = r.crowded_contents - r.chained_contents
        console.print(
            f"[yellow]{r.crowded_images} images ({r.crowded_contents} contents) have hashes too "
            f"crowded to compare (tiny, flat or look-alike pictures): {dense} contents have "
            f"about {r.crowd_limit} or more others within {max_distance} bits, "
            f"{r.chained_contents} sit in chains of links longer than that. They are flagged "
            "crowded-hash, not linked; compare them with --embeddings, or see synsetlab "
            "findings list --kind crowded-hash[/yellow]"
        )
    console.print(
        f"{r.seconds:.1f} s; see synsetlab findings list --kind near-duplicate; "
        "exclude with synsetlab findings exclude --kind exact-duplicate --keep first"
    )


@app.command("label-issues")
def label_issues(
    features: str = typer.Option(
        "auto",
        help="'auto' trains a small CNN here; or a local weights file (timm or torchvision).",
    ),
    arch: str | None = typer.Option(
        None, help="Model of a bare weights file: a timm name, or tv/<name> for torchvision."
    ),
    folds: int = typer.Option(5, help="Cross-validation folds for out-of-sample probabilities."),
    seed: int = typer.Option(0, help="Seed of the folds and the quick model."),
    image_size: int = typer.Option(64, help="Side of the images fed to the feature model, px."),
    epochs: int | None = typer.Option(
        None, help="Passes of the quick model over the images, at most (default: 60)."
    ),
    max_steps: int | None = typer.Option(
        None, help="Optimiser steps of the quick model, at most (default: 4000)."
    ),
    include_hidden_test: bool = typer.Option(
        False, help="Also check the hidden test split (the challenge's answer key)."
    ),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
    workers: int | None = WORKERS,
) -> None:
    """Likely wrong labels by confident learning (cleanlab), ranked, with the suggested class.

    Prints the work and its estimated time before it starts. Images of the hidden test split
    are left out unless --include-hidden-test is given.
    Example: synsetlab curate label-issues
    """
    from dataclasses import replace

    from synsetlab.curate.features import QuickModelConfig
    from synsetlab.curate.label_issues import LabelIssuePlan, find_label_issues

    limits = {"epochs": epochs, "max_steps": max_steps}
    quick = replace(QuickModelConfig(), **{k: v for k, v in limits.items() if v is not None})

    with user_errors(), progress_bar() as progress:
        task = progress.add_task("label issues", total=None)

        def on_plan(plan: LabelIssuePlan) -> None:
            progress.console.print(plan.describe())

        def on_stage(name: str, units: int) -> None:
            progress.update(task, description=name, completed=0, total=units)

        ws = current_workspace()
        r = find_label_issues(
            ws,
            features=features,
            arch=arch,
            folds=folds,
            seed=seed,
            image_size=image_size,
            quick=quick,
            device=device,
            workers=workers,
            include_hidden_test=include_hidden_test,
            on_plan=on_plan,
            on_stage=on_stage,
            on_progress=advance(progress, task),
        )
        ws.close()
    console.print(
        f"{r.issues} likely label issues among {r.images} images in {r.classes} classes "
        f"(out-of-sample accuracy {r.accuracy:.1%}, features: {r.features}, {r.seconds:.0f} s); "
        f"{r.overlaps} overlapping class pairs"
    )
    if r.skipped_images:
        console.print(f"{r.skipped_images} images skipped: their classes have fewer than {folds}")
    if r.hidden_test_skipped:
        console.print(
            f"{r.hidden_test_skipped} images of the hidden test split left out "
            "(check them with --include-hidden-test)"
        )
    if r.hidden_test_issues:
        console.print(
            f"[yellow]warning:[/yellow] {r.hidden_test_issues} of the issues are hidden test "
            'images (detail "hidden_test"); findings relabel leaves them alone unless given '
            "--include-hidden-test"
        )
    console.print(
        "see synsetlab findings list --kind label-issue; accept: synsetlab findings relabel"
    )


@app.command()
def quality(workers: int | None = WORKERS) -> None:
    """Too small, extreme aspect, near-constant, blurry, greyscale-in-colour, tiny files.

    Thresholds are the workspace's settings ([quality] in synsetlab.toml).
    Example: synsetlab curate quality
    """
    from synsetlab.curate.quality import find_quality_issues

    with user_errors():
        ws = current_workspace()
        report = find_quality_issues(ws, workers=workers)
        ws.close()
    table = Table(
        "finding", "images", "threshold applied", title=f"Quality of {report.images} images"
    )
    for kind, n in report.counts.items():
        table.add_row(kind, str(n), f"{report.thresholds[kind]:g}")
    console.print(table)
    console.print(f"{report.flagged} images flagged; see synsetlab findings list --kind blurry")


@app.command()
def balance(
    min_count: int | None = typer.Option(None, "--min", help="Exclude classes with fewer images."),
    max_count: int | None = typer.Option(None, "--max", help="Cap classes at this many images."),
    seed: int = typer.Option(0, help="Seed of the choice of images to keep when capping."),
    uniform: bool = typer.Option(
        False, help="When capping, keep a random sample rather than the sharpest, largest images."
    ),
    log: bool = typer.Option(False, help="Log scale for the histogram."),
    plot: Path | None = typer.Option(
        None, help="Histogram PNG (default: WORKSPACE/reports/balance.png)."
    ),
) -> None:
    """Per-class counts, imbalance ratio and entropy, a histogram; with --min/--max, enforce them.

    Example: synsetlab curate balance --min 50 --max 1300
    """
    from synsetlab.curate.balance import apply_balance, class_balance
    from synsetlab.curate.plots import histogram_png

    with user_errors():
        ws = current_workspace()
        excluded = 0
        if min_count is not None or max_count is not None:
            policy = apply_balance(
                ws, min_count=min_count, max_count=max_count, seed=seed, prefer_quality=not uniform
            )
            excluded = policy.excluded
        report = class_balance(ws, min_count=min_count, max_count=max_count)
        path = plot or ws.root / "reports" / "balance.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        histogram_png(report, path, log=log)
        ws.close()
    ratio = "-" if report.imbalance_ratio is None else f"{report.imbalance_ratio:.2f}"
    entropy = "-" if report.normalised_entropy is None else f"{report.normalised_entropy:.3f}"
    console.print(
        f"{report.images} images in {report.classes} classes; imbalance ratio (max/min) {ratio}, "
        f"normalised entropy {entropy}, effective classes {report.effective_classes:.1f}"
    )
    if excluded:
        undo = "synsetlab findings undo --reason balance:max, or balance:min"
        console.print(f"excluded {excluded} images (undo: {undo})")
    console.print(f"histogram: {path}")
