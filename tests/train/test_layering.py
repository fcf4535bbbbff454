"""The shape of the training package: config schemas are leaves, its modules import each other
without a cycle, and it and the challenge package do not import each other."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import synsetlab
import synsetlab.train

SRC = Path(synsetlab.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top level or inside functions, resolved to
    absolute names (``from synsetlab.train.loop import X`` -> ``synsetlab.train.loop``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: from the package up
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            found.add(".".join([*base, *filter(None, [node.module])]))
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def _modules(package: str) -> dict[str, Path]:
    root = SRC.joinpath(*package.split(".")[1:])
    return {_module_name(p): p for p in sorted(root.rglob("*.py"))}


def _loaded_after_import(module: str) -> list[str]:
    """The synsetlab modules a fresh interpreter holds after ``import module``."""
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('synsetlab'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("schema", "allowed"),
    [
        ("synsetlab.train.config", {"synsetlab.train", "synsetlab.train.config"}),
        # The ssl package's __init__ gathers its public names, loading the pretraining code:
        # its config module itself imports only the training config.
        ("synsetlab.train.ssl.config", None),
    ],
)
def test_config_schemas_import_no_training_code(schema: str, allowed: set[str] | None) -> None:
    own = {m for m in _imports(_modules("synsetlab.train")[schema]) if m.startswith("synsetlab")}
    assert own <= {"synsetlab.errors", "synsetlab.train.config", "synsetlab.data.transforms"}
    if allowed is not None:  # and importing it in a fresh interpreter loads nothing more
        loaded = {m for m in _loaded_after_import(schema) if m.startswith("synsetlab.train")}
        assert loaded == allowed


def test_the_training_package_has_no_import_cycle() -> None:
    """Between its modules, counting imports inside functions too; the package's own
    ``__init__`` is left out (it names everything, imported on first use)."""
    modules = _modules("synsetlab.train")
    graph = {
        name: {m for m in _imports(path) if m in modules and m != "synsetlab.train"}
        for name, path in modules.items()
        if name != "synsetlab.train"
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, " -> ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("synsetlab.challenge", "synsetlab.train"), ("synsetlab.train", "synsetlab.challenge")],
)
def test_challenge_and_train_do_not_import_each_other(package: str, forbidden: str) -> None:
    """Submission files are written by :mod:`synsetlab.submission_files`; baselines are
    composed above both (:mod:`synsetlab.baselines`)."""
    offenders = {
        name: sorted(m for m in _imports(path) if m == forbidden or m.startswith(forbidden + "."))
        for name, path in _modules(package).items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_public_names_of_the_training_package() -> None:
    """Each resolves (imported on first use) to the object its defining module holds."""
    assert sorted(synsetlab.train.__all__) == sorted(synsetlab.train._EXPORTS)
    for name in synsetlab.train.__all__:
        value = getattr(synsetlab.train, name)
        module = sys.modules[synsetlab.train._EXPORTS[name]]
        assert getattr(module, name) is value
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        synsetlab.train.no_such_name  # noqa: B018
