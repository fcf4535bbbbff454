"""``synsetlab init`` and ``synsetlab status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from synsetlab.cli.context import console, current_workspace, user_errors

if TYPE_CHECKING:
    from synsetlab.catalog.summary import CatalogSummary
    from synsetlab.taxonomy import Taxonomy


def init(
    directory: Path = typer.Argument(..., help="Folder to make a workspace (created if needed)."),
    db_url: str | None = typer.Option(
        None, help="Catalog database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite)."
    ),
    blob_url: str | None = typer.Option(None, help="Blob store URL (default: DIR/blobs)."),
) -> None:
    """Create a workspace: synsetlab.toml, catalog database, blob store.

    Example: synsetlab init ./birds
    """
    from synsetlab.workspace import init_workspace

    with user_errors():
        ws = init_workspace(directory, db_url=db_url, blob_url=blob_url)
        console.print(f"workspace [bold]{ws.root}[/bold]")
        console.print(f"  catalog  {ws.settings.resolved_db_url()}")
        console.print(f"  blobs    {ws.settings.resolved_blob_url()}")
        ws.close()


def status(
    classes: int = typer.Option(30, help="Show at most this many classes (largest first)."),
) -> None:
    """Counts per class, per source, per label state and split; rejected files and why.

    Example: synsetlab status
    """
    from synsetlab.catalog.summary import summarize

    with user_errors():
        ws = current_workspace()
        with ws.session() as s:
            summary = summarize(s)
        taxonomy = ws.taxonomy()
        ws.close()
    print_summary(summary, taxonomy, max_classes=classes)


def print_summary(summary: CatalogSummary, taxonomy: Taxonomy, *, max_classes: int = 30) -> None:
    """Render a catalog summary as rich tables."""
    console.print(
        f"[bold]{summary.images}[/bold] images ({summary.unique_blobs} distinct contents), "
        f"{len(summary.per_class)} classes, {summary.unlabelled} unlabelled, "
        f"{sum(summary.rejected_by_reason.values())} rejected files"
    )
    sources = Table("id", "kind", "location", "images", "rejected", title="Sources")
    for src in summary.sources:
        sources.add_row(str(src.id), src.kind, src.uri, str(src.images), str(src.rejected))
    console.print(sources)

    largest = sorted(summary.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
    classes = Table("wnid", "name", "images", title="Classes")
    for wnid, n in largest[:max_classes]:
        classes.add_row(wnid, taxonomy.name_of(wnid, default="?"), str(n))
    if len(largest) > max_classes:
        classes.caption = f"{len(largest) - max_classes} more classes; --classes N shows more"
    console.print(classes)

    states = ", ".join(f"{k} {v}" for k, v in sorted(summary.per_state.items()))
    splits = ", ".join(f"{k} {v}" for k, v in sorted(summary.per_split.items()))
    console.print(f"labels by state: {states or 'none'}")
    console.print(f"images by source split: {splits or 'none'}")

    if summary.rejected_by_reason:
        rejected = Table("reason", "files", "examples", title="Rejected files")
        for reason, n in summary.rejected_by_reason.items():
            examples = "\n".join(
                f"{key}: {detail}" for _, key, detail in summary.rejected_examples.get(reason, [])
            )
            rejected.add_row(reason, str(n), examples)
        console.print(rejected)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)
