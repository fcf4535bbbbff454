"""``synsetlab findings``: read what curation found, and turn it into reversible decisions."""

from __future__ import annotations

import getpass
import json

import typer
from rich.markup import escape
from rich.table import Column, Table

from synsetlab.cli.context import console, current_workspace, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(
    kind: str | None = typer.Option(None, help="Only this kind, e.g. near-duplicate."),
    show: int = typer.Option(20, help="Show at most this many findings (most severe first)."),
) -> None:
    """Counts per kind, then the most severe findings.

    Example: synsetlab findings list --kind near-duplicate --show 20
    """
    from synsetlab.curate.findings import count_findings, list_findings, source_keys

    with user_errors():
        ws = current_workspace()
        with ws.session() as s:
            counts = count_findings(s)
            rows = list_findings(s, kind=kind, limit=show)
            keys = source_keys(s, [f.image_id for f in rows if f.image_id])
        taxonomy = ws.taxonomy()
        ws.close()
    console.print(", ".join(f"{k} {n}" for k, n in counts.items()) or "no findings yet")
    # Keys and details fold onto more lines rather than end in "...": a cut key names no file.
    table = Table("id", "kind", Column("image", overflow="fold"), Column("class", overflow="fold"),
                  "score", Column("detail", overflow="fold"))  # fmt: skip

    def named(wnid: str) -> str:
        return f"{wnid} {taxonomy.name_of(wnid, default='?')}"

    # Details that name classes; "lca" is the lowest common ancestor of given and suggested.
    wnid_keys = ("given", "suggested", "lca", "ancestor", "descendant")

    for f in rows:
        detail = ", ".join(
            f"{k}={named(v) if k in wnid_keys and isinstance(v, str) else _short(v)}"
            for k, v in sorted(f.detail.items())
        )
        score = "" if f.score is None else f"{f.score:.3f}"
        image = keys.get(f.image_id, "") if f.image_id else ""
        wnid = named(f.wnid) if f.wnid else ""
        table.add_row(str(f.id), f.kind, escape(image), escape(wnid), score, escape(detail))
    if rows:
        console.print(table)


@app.command("exclude")
def exclude_(
    kind: str = typer.Option(..., help="Exclude the images findings of this kind name."),
    keep: str = typer.Option(
        "first", help="For duplicate clusters: keep 'first', 'best' (verified, sharp) or 'none'."
    ),
) -> None:
    """Exclude the images of a kind of finding from future versions (undo restores them).

    Example: synsetlab findings exclude --kind exact-duplicate --keep first
    """
    from synsetlab.curate.decisions import exclude_findings

    if keep not in ("first", "best", "none"):
        raise typer.BadParameter("--keep must be first, best or none")
    with user_errors():
        ws = current_workspace()
        with ws.session() as s:
            n = exclude_findings(s, kind, keep=keep, author=cli_author())  # type: ignore[arg-type]
        ws.close()
    console.print(
        f"excluded {n} images (reason finding:{kind}); undo: synsetlab findings undo --kind {kind}"
    )


@app.command("relabel")
def relabel_(
    min_score: float = typer.Option(
        0.5, help="Accept suggestions of label issues above this score."
    ),
    include_hidden_test: bool = typer.Option(
        False, help="Also relabel images of the hidden test split (the challenge's answer key)."
    ),
) -> None:
    """Relabel images to the class that label-issue findings suggest (undo restores them).

    Images of the hidden test split keep their labels unless --include-hidden-test is given.
    Example: synsetlab findings relabel --min-score 0.8
    """
    from synsetlab.curate.decisions import relabel_findings

    with user_errors():
        ws = current_workspace()
        with ws.session() as s:
            r = relabel_findings(
                s,
                min_score=min_score,
                include_hidden_test=include_hidden_test,
                author=cli_author(),
            )
        ws.close()
    console.print(
        f"relabelled {r.relabelled} images; undo: synsetlab findings undo --kind label-issue"
    )
    if r.hidden_test_skipped:
        console.print(
            f"[yellow]warning:[/yellow] {r.hidden_test_skipped} images of the hidden test split "
            "kept their labels (the challenge's answer key); review them with synsetlab "
            "findings list --kind label-issue, and relabel them with --include-hidden-test"
        )


@app.command("undo")
def undo_(
    kind: str | None = typer.Option(None, help="Undo decisions taken on findings of this kind."),
    reason: str | None = typer.Option(None, help="Undo decisions recorded with this reason."),
    all_: bool = typer.Option(False, "--all", help="Undo every active decision."),
) -> None:
    """Undo decisions: the images come back (or get their source label back) in future versions.

    Example: synsetlab findings undo --kind exact-duplicate
    """
    from synsetlab.curate.decisions import undo

    if sum(x is not None and x is not False for x in (kind, reason, all_ or None)) != 1:
        raise typer.BadParameter("give exactly one of --kind, --reason, --all")
    with user_errors():
        ws = current_workspace()
        with ws.session() as s:
            n = undo(s, reason=f"finding:{kind}" if kind else reason, author=cli_author())
        ws.close()
    console.print(f"undid {n} decisions")


def cli_author() -> str | None:
    """Who a CLI decision is recorded under: ``os:<login>``, or ``None`` when the OS names
    nobody.

    The login is what the OS reports (``$LOGNAME``, ``$USER``, then the password database):
    on a shared workspace it names the person in the common case at no cost to them, but it
    is a claim, not an authentication, hence the ``os:`` prefix that no site account name
    can carry.
    """
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no such variable and no passwd entry (some containers)
        return None
    return f"os:{login}"[:64] if login else None


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)
