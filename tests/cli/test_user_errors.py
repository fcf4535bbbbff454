"""The CLI's error contract: a user's mistake is one line and exit status 1, a bug is a bug.

A :class:`~synsetlab.errors.UserError` (or a missing or unreadable file) raised inside
``user_errors()`` prints ``error: <message>`` on stderr and exits 1; click's and typer's own
exceptions pass through to click; anything else keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.cli.context import user_errors
from synsetlab.errors import UserError
from synsetlab.synthetic import SyntheticConfigError
from synsetlab.taxonomy import UnknownSynsetError
from synsetlab.workspace import WorkspaceError

runner = CliRunner()


class _Count(BaseModel):
    n: int


def _raise(error: BaseException) -> typer.Typer:
    """A one-command app that raises ``error`` inside ``user_errors()``."""
    toy = typer.Typer()

    @toy.command()
    def fail() -> None:
        with user_errors():
            raise error

    return toy


def _one_error_line(result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# The contract, on a one-command app ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (SyntheticConfigError("per_class must be at least 1, got 0"), "per_class must be at"),
        (WorkspaceError("no synsetlab workspace in /x; create one"), "no synsetlab workspace"),
        # A KeyError subclass: printed as its message, not quoted as a missing key.
        (UnknownSynsetError("n99999999"), "error: unknown synset 'n99999999'"),
        (FileNotFoundError(2, "No such file or directory", "shapes/truth.json"), "truth.json"),
        # Neither a ValueError nor an OSError: caught as a UserError alone.
        (UserError("a bare user error"), "error: a bare user error"),
    ],
)
def test_a_user_error_prints_one_line_and_exits_1(error: BaseException, line: str) -> None:
    assert line in _one_error_line(runner.invoke(_raise(error)))


def test_click_exceptions_pass_through_to_click() -> None:
    result = runner.invoke(_raise(typer.BadParameter("--keep must be first, best or none")))
    assert result.exit_code == 2  # click's usage error, with its own message
    assert "--keep must be first, best or none" in result.output
    assert "error: " not in result.stderr


@pytest.mark.parametrize(
    "error", [RuntimeError("an internal invariant broke"), KeyError("missing-key")]
)
def test_a_bug_is_not_swallowed(error: BaseException) -> None:
    with pytest.raises(type(error)):
        runner.invoke(_raise(error), catch_exceptions=False)


def _validation_error() -> Exception:
    try:
        _Count(n="many")  # type: ignore[arg-type]
    except ValueError as e:
        return e
    raise AssertionError("pydantic accepted a bad value")


@pytest.mark.parametrize(
    "error",
    [ValueError("shapes (3,4) and (5,) not aligned"), _validation_error()],
    ids=["ValueError", "pydantic-ValidationError"],
)
def test_a_plain_value_error_is_a_bug_not_a_user_error(error: BaseException) -> None:
    """numpy's, pyarrow's or pydantic's ValueError inside a command is our bug: it must show
    its traceback (CliRunner re-raises it), not pass for the user's mistake."""
    with pytest.raises(type(error)):
        runner.invoke(_raise(error), catch_exceptions=False)


# Real commands -------------------------------------------------------------------------------


def test_an_unknown_setting_in_synsetlab_toml_is_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    with (ws / "synsetlab.toml").open("a") as f:
        f.write('no_such_setting = 1\nmax_image_pixels = "secret-looking"\n')
    line = _one_error_line(runner.invoke(app, ["--workspace", str(ws), "status"]))
    assert "no_such_setting" in line and "max_image_pixels" in line
    assert "synsetlab.toml" in line
    assert "secret-looking" not in line  # values are not echoed: they may be secrets


def test_a_bad_environment_setting_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    monkeypatch.setenv("SYNSETLAB_INGEST_BATCH_SIZE", "0")
    line = _one_error_line(runner.invoke(app, ["--workspace", str(ws), "status"]))
    assert "ingest_batch_size" in line and "SYNSETLAB_" in line


def test_taxonomy_select_beyond_what_is_available_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no workspace: WordNet alone
    result = runner.invoke(app, ["taxonomy", "select", "--under", "n01503061", "-n", "700"])
    assert "only 646 non-overlapping classes" in _one_error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.pt", "v1"], "give two or more checkpoints"),
        (["a.pt", "b.pt", "c.pt"], "is a checkpoint: put the version after"),
        (["a.pt", "b.pt", "v1", "--tta", "spin"], "unknown --tta 'spin'"),
    ],
)
def test_ensemble_argument_mistakes_are_one_line(args: list[str], message: str) -> None:
    assert message in _one_error_line(runner.invoke(app, ["ensemble", *args]))
