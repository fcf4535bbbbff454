"""The README's commands run as written: the tour and taxonomy blocks for real on fake data in the
real layouts, every other documented command at least resolves (``--help``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app
from tests.images import jpeg
from tests.ingest.fakes import (
    make_fake_cifar10,
    make_fake_idx,
    make_fake_ilsvrc2012,
    make_fake_kaggle_loc,
)

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner(env={"COLUMNS": "200"})


def code_blocks(after_heading: str | None = None) -> list[list[str]]:
    """Lines of the README's fenced code blocks (all, or those of one section)."""
    text = README.read_text()
    if after_heading is not None:
        start = text.index(after_heading)
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else None]
    return [
        block.strip("\n").splitlines()
        for block in re.findall(r"^```\w*\n(.*?)^```", text, re.S | re.M)
    ]


def commands(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("synsetlab ", "cd "))]


def invoke(line: str) -> None:
    args = shlex.split(line, comments=True)[1:]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{line}\n{result.output}"


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder with every dataset the tour names, in its real layout."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    for i, wnid in enumerate(["n01530575", "n01531178"] * 3):
        path = tmp_path / "photos" / "train" / wnid / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(seed=i))
    make_fake_ilsvrc2012(tmp_path / "imagenet")
    make_fake_kaggle_loc(tmp_path / "imagenet-kaggle")
    make_fake_cifar10(tmp_path, n_per_batch=2)
    return tmp_path


def test_the_tour_runs_as_written(fake_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = commands(code_blocks("## A tour")[0])
    assert len(lines) >= 12
    for line in lines:
        if line.startswith("cd "):
            workspace = fake_home / line.split()[1]
            monkeypatch.chdir(workspace)
            # the files the manifest, idx and cifar lines name, next to the workspace
            (workspace / "img").mkdir()
            (workspace / "img" / "a.jpg").write_bytes(jpeg(seed=40))
            (workspace / "images.csv").write_text("path,wnid\nimg/a.jpg,n01530575\n")
            make_fake_idx(workspace, n=10)
            continue
        invoke(line.replace("~", str(fake_home)))
    result = runner.invoke(app, ["status"])
    for kind in ("imagefolder", "ilsvrc2012", "kaggle-loc", "manifest", "idx", "cifar"):
        assert kind in result.stdout


def test_the_taxonomy_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    invoke("synsetlab init .")
    for line in commands(code_blocks("## Taxonomy")[0]):
        invoke(line)
    assert len((tmp_path / "birds.txt").read_text().split()) == 50


def test_the_synthetic_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    invoke("synsetlab init .")
    block = next(b for b in code_blocks() if any("synthetic generate" in line for line in b))
    for line in commands(block):
        invoke(line.replace("--per-class 40", "--per-class 3"))
    assert (tmp_path / "shapes" / "truth.json").is_file()


def every_documented_command() -> list[list[str]]:
    found = set()
    for block in code_blocks():
        for line in block:
            for part in re.split(r"\|\||&&|;", line):
                words = part.split("#")[0].split()
                if "synsetlab" in words:
                    tail = words[words.index("synsetlab") + 1 :]
                    path = [w for w in tail[:2] if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
                    found.add(
                        tuple(
                            path[:1] if path[:1] in (["init"], ["status"], ["quickstart"]) else path
                        )
                    )
    return sorted(list(p) for p in found)


@pytest.mark.parametrize("path", every_documented_command(), ids=" ".join)
def test_every_documented_command_exists(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
