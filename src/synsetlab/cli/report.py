"""``synsetlab report``: the datasheet of a version."""

from __future__ import annotations

from pathlib import Path

import typer

from synsetlab.cli.context import console, current_workspace, user_errors


def report(
    version: str = typer.Argument(..., help="Version name or id."),
    out: Path | None = typer.Option(
        None, help="Output folder (default: WORKSPACE/reports/VERSION)."
    ),
    force: bool = typer.Option(False, help="Replace an existing report folder."),
) -> None:
    """Write the datasheet of a version: one HTML page with PNG figures and thumbnails.

    Example: synsetlab report v1
    """
    from synsetlab.report import build_datasheet

    with user_errors():
        ws = current_workspace()
        target = out or ws.root / "reports" / version
        page = build_datasheet(ws, version, target, force=force or out is None)
        ws.close()
    console.print(f"datasheet: {page}")
