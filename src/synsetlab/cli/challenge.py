"""``synsetlab serve``, ``challenge ...``, ``team ...``, ``submit`` and ``leaderboard``.

``serve`` and ``challenge`` act on the workspace (the organiser's side); ``team``, ``submit``
and ``leaderboard`` talk to a running server over HTTP (the participants' side).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from synsetlab.cli.context import console, current_workspace, require_paths, user_errors

app = typer.Typer(no_args_is_help=True)
team_app = typer.Typer(no_args_is_help=True)

SERVER = typer.Option(
    "http://127.0.0.1:8000", "--server", envvar="SYNSETLAB_SERVER_URL", help="The server's URL."
)
TOKEN = typer.Option(
    None, "--token", envvar="SYNSETLAB_TOKEN", help="API token (or $SYNSETLAB_TOKEN)."
)


def _password(prompt: bool, stdin: bool) -> str:
    """A password from stdin (``--password-stdin``), $SYNSETLAB_PASSWORD, or a prompt."""
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("SYNSETLAB_PASSWORD"):
        return os.environ["SYNSETLAB_PASSWORD"]
    if not prompt:
        raise typer.BadParameter(
            "no password: pass --password-stdin or set $SYNSETLAB_PASSWORD",
            param_hint="--password-stdin",
        )
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from standard input."
)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        help="uvicorn worker processes; several need PostgreSQL, a secret key "
        "(SYNSETLAB_SERVER__SECRET_KEY) and rate limits kept per process.",
    ),
) -> None:
    """Run the challenge site and API with uvicorn.

    Example: synsetlab serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    with user_errors():
        ws = current_workspace()
        from synsetlab.server import create_app

        create_app(ws)  # refuses a missing secret key outside development, before listening
        os.environ["SYNSETLAB_WORKSPACE"] = str(ws.root)
        ws.close()
    console.print(f"serving {ws.root} at http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "synsetlab.server.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default, which lets anyone on
        # the host rotate addresses past the rate limits; the app believes only the
        # proxies the organiser lists (SYNSETLAB_SERVER__TRUSTED_PROXIES).
        proxy_headers=False,
    )


@app.command("create")
def create(
    version: str = typer.Argument(..., help="Frozen version whose test split is hidden."),
    name: str = typer.Option(..., "--name", help="Display name, e.g. 'Shapes 2026'."),
    phase: list[str] = typer.Option(
        ...,
        "--phase",
        help="NAME:START..END[:N/day][:total=N][:concurrent=N][:select=N], dates in UTC; "
        "repeat for several phases.",
    ),
    task: str = typer.Option(
        "classification", help="classification, localization or detection (mean AP)."
    ),
    public_fraction: float = typer.Option(
        0.3, help="Share of test images on the public board; the rest score the private one."
    ),
    seed: int | None = typer.Option(
        None,
        help="Seed of the public/private partition. Default: a random secret one, kept with "
        "the answer key. A seed you give is public knowledge to whoever sees it: with the "
        "published fraction it tells which test images are public.",
    ),
    slug: str | None = typer.Option(None, help="URL id (default: from the name)."),
    rules: Path | None = typer.Option(None, help="A text file with the rules to show."),
    ladder: bool = typer.Option(False, help="Public board in Ladder mode (Blum & Hardt 2015)."),
    allow_leaks: str | None = typer.Option(
        None,
        "--allow-leaks",
        metavar="REASON",
        help="Create the challenge although hidden test images have copies in the version's "
        "labelled splits; the reason is recorded on the challenge.",
    ),
) -> None:
    """Create a challenge on a version's hidden test split.

    Refused, with the list, when a test image has a copy in a labelled split (the same
    sha256, or a near duplicate that `curate duplicates` found), unless --allow-leaks.

    Example: synsetlab challenge create v1 --name "Shapes 2026"
    --phase dev:2026-12-01..2027-01-15:5/day
    """
    from synsetlab.challenge.answers import public_count
    from synsetlab.challenge.challenges import create_challenge
    from synsetlab.challenge.errors import LeakError
    from synsetlab.challenge.phases import parse_phase

    with user_errors():
        specs = [parse_phase(p) for p in phase]
        ws = current_workspace()
        try:
            c = create_challenge(
                ws,
                version,
                name=name,
                phases=specs,
                task=task,
                public_fraction=public_fraction,
                seed=seed,
                slug=slug,
                rules=rules.read_text(encoding="utf-8") if rules else "",
                ladder=ladder,
                allow_leaks=allow_leaks,
            )
        except LeakError as e:
            console.print(_leak_table(e.leaks))
            raise
        finally:
            ws.close()
    console.print(
        f"challenge [bold]{c.slug}[/bold]: {c.task} on {c.n_images} test images, "
        f"{len(c.phases)} phase(s); {public_count(c.n_images, c.public_fraction)} images score "
        "the public board"
    )
    if seed is not None:
        console.print(
            f"[yellow]warning:[/yellow] seed {seed} is public knowledge: whoever knows it can "
            "tell which test images are public. Leave --seed out for a secret one."
        )
    if c.leak_override:
        console.print(
            f"[yellow]warning:[/yellow] {c.leaked_images} hidden test images have a copy in a "
            f"labelled split; allowed and recorded on the challenge: {escape(c.leak_override)}"
        )


@app.command("list")
def list_() -> None:
    """List the workspace's challenges and their phases.

    Example: synsetlab challenge list
    """
    from synsetlab.catalog.models import utcnow
    from synsetlab.challenge.challenges import list_challenges, phase_state

    with user_errors():
        ws = current_workspace()
        now = utcnow()
        table = Table("challenge", "name", "task", "images", "phases", "leaks allowed")
        with ws.session() as s:
            for c in list_challenges(s):
                phases = ", ".join(f"{p.name} ({phase_state(p, now)})" for p in c.phases)
                leaks = f"{c.leaked_images}: {c.leak_override}" if c.leak_override else ""
                table.add_row(c.slug, c.name, c.task, str(c.n_images), phases, escape(leaks))
        ws.close()
    console.print(table)


@app.command("baseline")
def baseline(
    challenge: str = typer.Argument(..., help="Challenge id (slug)."),
    checkpoint: Path = typer.Argument(..., help="A training checkpoint."),
    name: str | None = typer.Option(None, help="Name on the boards (default: the model)."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 or auto."),
) -> None:
    """Score a checkpoint's test predictions as a baseline, marked on every board.

    Example: synsetlab challenge baseline shapes-2026 runs/tiny-cpu-v1/best.pt
    """
    with user_errors():  # before torch: a mistyped path fails at once
        require_paths(("checkpoint", checkpoint))
    from synsetlab.baselines import baseline_from_checkpoint
    from synsetlab.train.distributed import resolve_device

    with user_errors():
        ws = current_workspace()
        sub = baseline_from_checkpoint(
            ws, challenge, checkpoint, name=name, device=resolve_device(device)
        )
        ws.close()
    _print_submission(sub.id, sub.status.value, sub.scores, sub.error, private=True)


@app.command("similar")
def similar(
    challenge: str = typer.Argument(..., help="Challenge id (slug)."),
    threshold: float = typer.Option(0.95, help="Least share of images with identical guesses."),
) -> None:
    """Report near-identical submissions from different teams (one group, many accounts?).

    Example: synsetlab challenge similar shapes-2026 --threshold 0.95
    """
    from synsetlab.challenge.similarity import similar_submissions

    with user_errors():
        ws = current_workspace()
        pairs = similar_submissions(ws, challenge, threshold=threshold)
        ws.close()
    if not pairs:
        console.print(f"no cross-team pair agrees on {threshold:.0%} of the images or more")
        return
    table = Table("team", "submission", "team", "submission", "same five guesses")
    for p in pairs:
        table.add_row(
            p.team_a, str(p.submission_a), p.team_b, str(p.submission_b), f"{p.agreement:.1%}"
        )
    console.print(table)


@app.command("add-admin")
def add_admin(
    user: str = typer.Argument(..., help="User name of the new admin."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create an admin account in the workspace (approves teams, sees private boards).

    Example: synsetlab challenge add-admin organiser --password-stdin < password.txt
    """
    from synsetlab.catalog import Role
    from synsetlab.challenge.accounts import create_user

    with user_errors():
        password = _password(prompt=True, stdin=password_stdin)
        ws = current_workspace()
        with ws.session() as s:
            create_user(s, user, password, role=Role.admin)
        ws.close()
    console.print(f"admin {user} created; log in at the server's /login page")


@team_app.command("register")
def team_register(
    name: str = typer.Option(..., "--name", help="Team name."),
    user: str | None = typer.Option(
        None, "--user", help="Your new user name, the team's owner (default: the team name)."
    ),
    server: str = SERVER,
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Register a user and a team on a server; prints an API token, once.

    Example: synsetlab team register --server http://127.0.0.1:8000 --name vision-lab --user alice
    """
    from synsetlab.client import ChallengeClient

    with user_errors():
        password = _password(prompt=True, stdin=password_stdin)
        answer = ChallengeClient(server).register(user or name, password, team=name)
    console.print(f"team {answer['team']} registered, owned by {answer['user']}")
    console.print("API token (shown once; keep it secret):")
    console.print(answer["token"], soft_wrap=True)


@team_app.command("token")
def team_token(
    user: str = typer.Option(..., "--user", help="Your user name."),
    server: str = SERVER,
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Log in and print a new API token, once.

    Example: synsetlab team token --server http://127.0.0.1:8000 --user alice
    """
    from synsetlab.client import ChallengeClient

    with user_errors():
        password = _password(prompt=False, stdin=password_stdin)
        answer = ChallengeClient(server).token(user, password)
    console.print(answer["token"], soft_wrap=True)


def submit(
    file: Path = typer.Argument(..., help="Predictions: kaggle CSV, devkit text or JSON."),
    challenge: str = typer.Option(..., "--challenge", help="Challenge id (slug)."),
    server: str = SERVER,
    token: str | None = TOKEN,
    format: str | None = typer.Option(None, help="kaggle, devkit or json (default: detect)."),
) -> None:
    """Submit predictions to a challenge; prints the public scores.

    Example: synsetlab submit --server http://127.0.0.1:8000 --token T
    --challenge shapes-2026 submission.csv
    """
    from synsetlab.client import ChallengeClient

    with user_errors():
        if not token:
            raise typer.BadParameter(
                "no API token: pass --token or set $SYNSETLAB_TOKEN", param_hint="--token"
            )
        sub = ChallengeClient(server, token).submit(challenge, file, fmt=format)
    _print_submission(sub["id"], sub["status"], sub["scores"], sub["error"])


def leaderboard(
    challenge: str = typer.Argument(..., help="Challenge id (slug)."),
    server: str = SERVER,
    private: bool = typer.Option(False, "--private", help="The private board (after the phase)."),
    phase: str | None = typer.Option(None, help="Phase (default: the current one)."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
    token: str | None = TOKEN,
) -> None:
    """Print a challenge's leaderboard.

    Example: synsetlab leaderboard --server http://127.0.0.1:8000 shapes-2026
    """
    from synsetlab.client import ChallengeClient

    with user_errors():
        board = ChallengeClient(server, token).leaderboard(
            challenge, phase=phase, private=private, csv=csv
        )
    if csv:
        sys.stdout.write(board)
        return
    console.print(board_table(board))


def board_table(board: dict) -> Table:
    """A leaderboard (its JSON form) as a rich table; baselines marked, ties with ≈."""
    title = f"{board['challenge']} · {board['phase']} · {board['partition']} board"
    table = Table(
        "rank",
        "team",
        f"{board['metric']} ({'lower' if board['lower_is_better'] else 'higher'} is better)",
        "95% interval",
        title=title,
    )
    for e in board["entries"]:
        rank = "-" if e["baseline"] else f"{e['rank']}{' ≈' if e['tied'] else ''}"
        name = f"{e['name']} (baseline)" if e["baseline"] else e["name"]
        table.add_row(rank, name, f"{e['score']:.4f}", f"{e['low']:.4f}-{e['high']:.4f}")
    return table


def _leak_table(leaks) -> Table:
    """The leaking test images and a copy of each (catalog image ids), for the organiser."""
    table = Table("test image", "copy", "in split", "kind", title="test images with a copy")
    for leak in leaks:
        kind = "exact (same sha256)" if leak.kind == "exact" else "near (curate duplicates)"
        table.add_row(str(leak.test_image), str(leak.other_image), leak.other_split, kind)
    return table


def _print_submission(
    sub_id: int, status: str, scores: dict, error: str, *, private: bool = False
) -> None:
    console.print(f"submission {sub_id}: {status}{': ' + error if error else ''}")
    for partition, values in scores.items():
        if partition != "public" and not private:
            continue
        metrics = ", ".join(
            f"{k} {v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]"
            for k, v in values.items()
            if isinstance(v, dict) and "value" in v
        )
        console.print(f"  {partition}: {metrics}")


def register(root: typer.Typer) -> None:
    root.command()(serve)
    root.add_typer(app, name="challenge", help="Create challenges and baselines (organisers).")
    root.add_typer(team_app, name="team", help="Register a team and get API tokens.")
    root.command()(submit)
    root.command()(leaderboard)
