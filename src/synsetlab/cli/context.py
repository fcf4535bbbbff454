"""What CLI commands share: the console, the chosen workspace, and clean error reporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from synsetlab.errors import UserError

if TYPE_CHECKING:
    # Not at run time: the workspace brings SQLAlchemy and Alembic (seconds of start-up), which
    # ``--help``, ``--version`` and commands without a workspace never need.
    from synsetlab.catalog import Version
    from synsetlab.taxonomy import Taxonomy
    from synsetlab.workspace import Workspace

# soft_wrap: narrative lines are never broken mid-path (tables still fit the terminal).
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class _State:
    #: Set by the root ``--workspace`` option; ``None`` means search from the current folder.
    workspace: Path | None = None


state = _State()


def progress_bar(*, transient: bool = True, info: bool = False) -> Progress:
    """The progress bar of long library calls: the task's description, bar, done of total,
    (with ``info``, the task's ``info`` field: a training loop's img/s, loss and lr), elapsed
    and remaining time. ``transient``: erased once the block ends."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=transient)


def advance(progress: Progress, task: TaskID) -> Callable[[int, int | None], None]:
    """The ``on_progress(n, total)`` callback of library calls, moving ``task`` on by ``n``
    (``total``: the whole amount, once it is known)."""
    return lambda n, total: progress.update(task, advance=n, total=total)


def current_workspace() -> Workspace:
    """The workspace the command runs in (``--workspace``, env, or the current folder)."""
    from synsetlab.workspace import open_workspace

    return open_workspace(state.workspace)


def current_taxonomy() -> Taxonomy:
    """WordNet 3.0 nouns plus the current workspace's own classes, if a workspace is open."""
    from synsetlab.taxonomy import Taxonomy
    from synsetlab.workspace import WorkspaceError, find_workspace

    if state.workspace is None and find_workspace() is None:
        return Taxonomy.wordnet()
    try:
        ws = current_workspace()
    except WorkspaceError:
        return Taxonomy.wordnet()
    try:
        return ws.taxonomy()
    finally:
        ws.close()


def require_paths(*given: tuple[str, Path | None]) -> None:
    """Refuse each path that does not exist as a user error (``given``: pairs of what the
    path is, e.g. ``"--resume"``, and the path; ``None``: not given).

    Commands call it before importing torch, so that a mistyped path fails at once rather
    than after seconds of imports; the library's own checks still say more (a folder given
    for a file, a file that is no checkpoint)."""
    for what, path in given:
        if path is not None and not path.expanduser().exists():
            raise UserError(
                f"{what} {path} does not exist; check the path (relative to {Path.cwd()})"
            )


def open_version(ref: str) -> tuple[Workspace, Version]:
    """The current workspace and the catalog row of its version ``ref`` (name or id), found
    with one query and neither the manifest nor torch, so that a mistyped version fails at
    once. The caller closes the workspace."""
    from synsetlab.versions import find_version

    ws = current_workspace()
    try:
        return ws, find_version(ws, ref)
    except BaseException:
        ws.close()
        raise


class OptionError(UserError, ValueError):
    """A command-line option whose value the command cannot take (``--tta spin``)."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Print the errors a user can cause (bad input, missing files) as one red line on stderr
    and exit with status 1, without a traceback."""
    try:
        yield
    # Every module's own error (WorkspaceError, TaxonomyError, ...) is a UserError. A plain
    # ValueError (numpy's, pyarrow's, pydantic's) is our bug: it keeps its traceback.
    except (UserError, OSError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        err_console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
        raise typer.Exit(1) from None
