"""The Typer app: ``synsetlab <group> <verb>``, one module per group, thin over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from synsetlab import __version__
from synsetlab.cli import (
    annotate,
    challenge,
    curate,
    detect,
    detect_eval,
    ensemble,
    export,
    export_model,
    findings,
    ingest,
    pretrain,
    quickstart,
    report,
    synthetic,
    taxonomy,
    train,
    versions,
    workspace,
)
from synsetlab.cli.context import state

app = typer.Typer(
    name="synsetlab",
    help="Build ImageNet-style datasets on WordNet, run ILSVRC-style challenges, train on them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synsetlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    workspace_dir: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Workspace folder (default: $SYNSETLAB_WORKSPACE, or the current folder and up).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """synsetlab: datasets, challenges and training on the WordNet noun hierarchy."""
    state.workspace = workspace_dir


workspace.register(app)
quickstart.register(app)
app.add_typer(taxonomy.app, name="taxonomy", help="Look up and select WordNet 3.0 noun synsets.")
app.add_typer(
    ingest.app, name="ingest", help="Bring images from real collections into the catalog."
)
app.add_typer(synthetic.app, name="synthetic", help="Generate synthetic ImageNet-like datasets.")
app.add_typer(
    curate.app, name="curate", help="Find duplicates, bad images, imbalance, label errors."
)
app.add_typer(findings.app, name="findings", help="Curation findings and reversible decisions.")
app.command()(versions.split)
app.add_typer(versions.app, name="version", help="Freeze, list and compare dataset versions.")
app.command()(export.export)
app.command()(report.report)
train.register(app)
detect.register(app)
detect_eval.register(app)
pretrain.register(app)
ensemble.register(app)
export_model.register(app)
challenge.register(app)
app.add_typer(
    annotate.app, name="annotate", help="Crowd work, as ImageNet's: verify labels, draw boxes."
)
