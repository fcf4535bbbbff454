"""``synsetlab quickstart``: the main job on the embedded synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synsetlab.cli.context import console, user_errors
from synsetlab.cli.workspace import print_summary
from synsetlab.quickstart import run_quickstart
from synsetlab.taxonomy import Taxonomy


def quickstart(
    directory: Path = typer.Argument(
        Path("quickstart-workspace"), help="Folder for the new workspace."
    ),
    per_class: int = typer.Option(30, help="Clean synthetic images per class."),
    seed: int = typer.Option(0, help="Seed of the synthetic dataset."),
    force: bool = typer.Option(False, help="Rebuild DIR if it holds an earlier workspace."),
    workers: int | None = typer.Option(None, help="Decode processes (default: every core)."),
) -> None:
    """Build a workspace from a synthetic ImageNet-like dataset with planted faults.

    Example: synsetlab quickstart ./demo
    """
    with user_errors():
        columns = (TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("ingest", total=None)
            report = run_quickstart(
                directory,
                per_class=per_class,
                seed=seed,
                force=force,
                workers=workers,
                on_progress=lambda n, total: progress.update(task, advance=n, total=total),
            )
    syn = report.synthetic
    console.print(
        f"1. generated {syn.counts['total']} synthetic files ({syn.counts['clean']} clean) "
        f"in {syn.out_dir} ({syn.seconds:.1f} s)"
    )
    ing = report.ingest
    console.print(
        f"2. ingested them into workspace {report.workspace}: {ing.added} images added, "
        f"{ing.rejected} files rejected ({ing.seconds:.1f} s)"
    )
    console.print("3. the catalog now holds:")
    print_summary(report.summary, Taxonomy.wordnet(), max_classes=10)
    table = Table("planted fault", "planted", "found", "found by", title="Planted vs found")
    for f in report.faults:
        found = "-" if f.found is None else str(f.found)
        table.add_row(f.fault, str(f.planted), found, f.by)
    console.print(table)
    console.print(
        f"Next: cd {report.workspace} && synsetlab status; synsetlab taxonomy show n13873502"
    )


def register(app: typer.Typer) -> None:
    app.command()(quickstart)
