"""``synsetlab annotate ask``: label issues sent to the crowd, as the review page's ``c`` does.

Each label issue's image is asked about against the class it was given and the class curation
suggests; the finding is recorded as sent (a decision, undone as any other). The command is
registered on ``synsetlab annotate``'s app by :mod:`synsetlab.cli.annotate`.
"""

from __future__ import annotations

from collections import Counter

import typer

from synsetlab.cli.context import OptionError, console, current_workspace, user_errors

FROM_KINDS = ("label-issue",)


def ask(
    name: str = typer.Argument(
        "review", help="The project to ask in; 'review' is made on first use with the defaults."
    ),
    from_findings: str | None = typer.Option(
        None,
        "--from-findings",
        help="Ask about every label issue waiting for review (label-issue, the only kind).",
    ),
    finding: list[int] | None = typer.Option(
        None, "--finding", help="A label issue to ask about, by id (repeat for more)."
    ),
    min_score: float | None = typer.Option(
        None, help="With --from-findings: only issues scored at least this (most severe first)."
    ),
    limit: int | None = typer.Option(
        None, min=1, help="With --from-findings: at most this many issues."
    ),
) -> None:
    """Ask the crowd whether each label issue's image shows its given class, and whether it
    shows the suggested one. Questions the project asks already are not asked again (those
    the crowd decided are reported); images of the hidden test split never go to the crowd.

    Example: synsetlab annotate ask review --from-findings label-issue --min-score 0.9
    """
    from synsetlab.annotate.ask import ask_about_findings, label_issues_to_ask
    from synsetlab.cli.findings import cli_author

    with user_errors():
        if (from_findings is None) == (not finding):
            raise OptionError(
                "say which label issues to ask about: --from-findings label-issue, or "
                "--finding ID (not both)"
            )
        if from_findings is not None and from_findings not in FROM_KINDS:
            raise OptionError(
                f"--from-findings {from_findings!r}: only label issues go to the crowd "
                "(--from-findings label-issue)"
            )
        if finding and (min_score is not None or limit is not None):
            raise OptionError("--min-score and --limit choose among --from-findings only")
        ws = current_workspace()
        try:
            taxonomy = ws.taxonomy()
            with ws.session() as s:
                hidden = 0
                ids = list(finding or [])
                if from_findings is not None:
                    ids, hidden = label_issues_to_ask(s, min_score=min_score, limit=limit)
                result = (
                    ask_about_findings(s, name, ids, taxonomy=taxonomy, author=cli_author())
                    if ids
                    else None
                )
        finally:
            ws.close()
    if hidden:
        console.print(f"{hidden} label issue(s) about hidden test images left out (never asked)")
    if result is None:
        console.print("no label issue waiting for review to ask about")
        return
    asked = result.asked
    sent = sum(d is not None for d in result.sent.values())
    console.print(
        f"{name}: {len(asked.added)} question(s) asked about {len(result.sent)} label issue(s), "
        f"{sent} sent to the crowd"
        + (" (project created with the default options)" if asked.created else "")
    )
    if asked.new_classes:
        console.print(f"new classes: {', '.join(asked.new_classes)}")
    why = Counter(_kind_of(x.status, x.gold) for x in asked.skipped)
    if why:
        console.print("not asked: " + ", ".join(f"{k} {n}" for k, n in sorted(why.items())))
    console.print(
        f"Next: synsetlab serve (annotators answer at /annotate/{name}). The findings come "
        "back to review with synsetlab findings undo --reason crowd:label-issue (the questions "
        "stay)"
    )


def _kind_of(status: str | None, gold: bool | None) -> str:
    """One word for why a question was not asked, for the summary line."""
    if gold is not None:
        return "gold question"
    if status is None:
        return "excluded image"
    return "waiting already" if status == "pending" else f"decided already ({status})"
