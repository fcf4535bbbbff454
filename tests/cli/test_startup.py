"""Start-up of the command line: no heavy import before a command needs it.

Each case runs in a fresh interpreter (``sys.modules`` of this test process holds everything
the suite imported) and reports the top-level packages it imported; bench/startup.py times
the same commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import synsetlab
from synsetlab.catalog import LabelState
from synsetlab.workspace import init_workspace

#: Packages that take seconds to import (torch) or a large share of one (the rest).
HEAVY = {
    "torch", "torchvision", "timm", "matplotlib", "sqlalchemy", "alembic", "scipy", "sklearn",
    "cleanlab", "faiss", "pyarrow",
}  # fmt: skip

#: The command modules whose top level must stay light. findings and synthetic are left to
#: their own change (see ``test_the_command_line_imports_nothing_heavy``).
LIGHT_MODULES = [
    "synsetlab",
    "synsetlab.cli",
    "synsetlab.cli.context",
    "synsetlab.cli.workspace",
    "synsetlab.cli.quickstart",
    "synsetlab.cli.taxonomy",
    "synsetlab.cli.ingest",
    "synsetlab.cli.curate",
    "synsetlab.cli.versions",
    "synsetlab.cli.export",
    "synsetlab.cli.report",
    "synsetlab.cli.train",
    "synsetlab.cli.pretrain",
    "synsetlab.cli.ensemble",
    "synsetlab.cli.export_model",
    "synsetlab.cli.challenge",
    "synsetlab.quickstart",
]

#: Runs ``synsetlab ARGS``; at exit (after Typer's sys.exit) writes the top-level packages
#: imported to the file named by $STARTUP_MODULES.
WRAPPER = """\
import atexit, json, os, sys
@atexit.register
def _modules():
    with open(os.environ["STARTUP_MODULES"], "w") as f:
        json.dump(sorted({m.partition(".")[0] for m in sys.modules}), f)
sys.argv = ["synsetlab", *sys.argv[1:]]
from synsetlab.cli import main
main()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNSETLAB_WORKSPACE"}
    return env | extra


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _synsetlab(
    args: list[str], cwd: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``synsetlab ARGS`` in ``cwd``; its result and the packages it imported."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=cwd,
        env=_env(STARTUP_MODULES=str(report), COLUMNS="200"),
        capture_output=True,
        text=True,
        check=False,
    )
    return done, set(json.loads(report.read_text()))


def test_each_command_module_imports_nothing_heavy() -> None:
    # One interpreter: each module is charged with the heavy packages that first came with it.
    code = f"""
import importlib, json, sys
heavy, seen, charged = {sorted(HEAVY)!r}, set(), {{}}
for name in {LIGHT_MODULES!r}:
    importlib.import_module(name)
    now = {{m.partition(".")[0] for m in sys.modules}}.intersection(heavy)
    charged[name] = sorted(now - seen)
    seen |= now
print(json.dumps(charged))
"""
    charged = json.loads(_python(code))
    assert {name: found for name, found in charged.items() if found} == {}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["train", "--help"]])
def test_the_command_line_imports_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    done, imported = _synsetlab(args, tmp_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert imported & HEAVY == set()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["train", "nosuchversion"], "error: no version 'nosuchversion' (versions: none); "),
        (["pretrain", "nosuchversion"], "error: no version 'nosuchversion' (versions: none); "),
        (["finetune", "v1", "--from", "gone/best.pt"], "error: --from gone/best.pt does not "),
        (["evaluate", "gone/best.pt", "v1"], "error: checkpoint gone/best.pt does not exist"),
        (["predict", "gone/best.pt", "photo.jpg"], "error: checkpoint gone/best.pt does not "),
    ],
)
def test_a_missing_version_or_checkpoint_fails_before_torch(
    args: list[str], error: str, tmp_path: Path
) -> None:
    init_workspace(tmp_path / "ws").close()
    done, imported = _synsetlab(args, tmp_path / "ws", tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error), done.stderr
    assert "torch" not in imported


def test_the_label_states_offered_are_the_catalogs() -> None:
    from synsetlab.cli.ingest import LabelStateChoice

    assert [s.value for s in LabelStateChoice] == [s.value for s in LabelState]


def test_every_public_name_resolves() -> None:
    for name in synsetlab.__all__:
        assert getattr(synsetlab, name) is not None, name
