"""`synsetlab taxonomy ...` through Typer's CliRunner, on a root app that mounts the sub-app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

import synsetlab.cli.taxonomy as taxonomy_cli
from synsetlab.taxonomy import Taxonomy, find_overlaps, ilsvrc2012_wnids

root = typer.Typer()
root.add_typer(taxonomy_cli.app, name="taxonomy")
runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that rich never wraps a row


def run(*args: str) -> Result:
    return runner.invoke(root, ["taxonomy", *args])


def test_no_arguments_prints_help() -> None:
    result = run()
    assert "show" in result.output
    assert "select" in result.output


@pytest.mark.parametrize(
    "command", ["show", "search", "select", "lca", "ancestors", "descendants", "ilsvrc", "add"]
)
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_show_wnid() -> None:
    result = run("show", "n01530575")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "n01530575" in out
    assert "brambling, Fringilla montifringilla" in out
    assert "Eurasian finch" in out
    assert "depth 13" in out
    assert "entity > physical entity > object" in out
    assert "> finch > brambling" in out
    assert "ILSVRC-2012 class (ID 386, index 10)" in out


def test_show_lemma_lists_every_sense() -> None:
    result = run("show", "crane")
    assert result.exit_code == 0, result.output
    assert "n02012849" in result.stdout
    assert "n03126707" in result.stdout
    assert "children: 3" in result.stdout  # the machine: davit, derrick, transporter


def test_show_json() -> None:
    result = run("show", "n01530575", "--json")
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.stdout)
    assert info["wnid"] == "n01530575"
    assert info["depth"] == 13
    assert info["hypernym_paths"][0][0] == "n00001740"
    assert info["ilsvrc2012_id"] == 386


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "n99999999"], "unknown synset 'n99999999'"),
        (["show", "xyzzy"], "no synset or class is named 'xyzzy'"),
        (["lca", "crane", "n01530575"], "'crane' names 5 synsets"),
        (["ancestors", "n99999999"], "unknown synset 'n99999999'"),
        (["select", "--under", "n01503061", "--count", "647"], "only 646 non-overlapping"),
        (["select", "--under", "n99999999", "--count", "2"], "unknown synset 'n99999999'"),
    ],
)
def test_errors_are_one_clean_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.startswith("error:")
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_search() -> None:
    result = run("search", "sea snake")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "│" in line and "n0" in line]
    assert "n01751748" in rows[0]


def test_search_json_and_limit() -> None:
    result = run("search", "snake", "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert len(found) == 3
    assert found[0]["wnid"] == "n01726692"


def test_search_nothing() -> None:
    result = run("search", "zzzzqqq")
    assert result.exit_code == 1
    assert "nothing matches" in result.stderr


def test_search_by_words_and_close_names() -> None:
    result = run("search", "ankle boot", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "chukka boot" in result.stdout and "congress boot" in result.stdout
    typo = run("search", "n02872753")
    assert typo.exit_code == 1
    assert "nothing matches 'n02872753'; close names: boot (n02872752)" in typo.stderr


def test_search_that_finds_nothing_searches_once(monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[str] = []
    real = Taxonomy.search

    def counted(self: Taxonomy, text: str, limit: int | None = 20) -> list:
        searches.append(text)
        return real(self, text, limit)

    monkeypatch.setattr(Taxonomy, "search", counted)
    result = run("search", "bootz")
    assert result.exit_code == 1
    assert "nothing matches 'bootz'; close names: boot (" in result.stderr
    assert searches == ["bootz"]  # the close names come without a second search


def test_select(tmp_path: Path, wordnet: Taxonomy) -> None:
    output = tmp_path / "classes.txt"
    result = run("select", "--under", "n01503061", "--count", "50", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "50 classes under bird (n01503061), seed 0" in result.stdout
    wnids = output.read_text().splitlines()
    assert len(wnids) == 50
    assert find_overlaps(wordnet, wnids) == []
    assert all(w in result.stdout for w in wnids)
    assert f"wrote 50 wnids to {output}" in result.stderr.replace("\n", "")


def test_select_json_ilsvrc_by_lemma() -> None:
    result = run("select", "-u", "bird of prey", "-n", "3", "--ilsvrc", "--seed", "4", "--json")
    assert result.exit_code == 0, result.output
    chosen = [c["wnid"] for c in json.loads(result.stdout)]
    assert len(chosen) == 3
    assert set(chosen) <= set(ilsvrc2012_wnids())
    again = run("select", "-u", "n01604330", "-n", "3", "--ilsvrc", "--seed", "4", "--json")
    assert [c["wnid"] for c in json.loads(again.stdout)] == chosen


def test_lca() -> None:
    result = run("lca", "n01530575", "n01531178")
    assert result.exit_code == 0, result.output
    assert "n01529672" in result.stdout
    assert "finch" in result.stdout


def test_ancestors() -> None:
    result = run("ancestors", "brambling")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    entity = next(i for i, line in enumerate(lines) if "n00001740" in line)
    finch = next(i for i, line in enumerate(lines) if "n01529672" in line)
    assert entity < finch  # root first
    assert "n01503061" in result.stdout


@pytest.mark.parametrize(
    ("order", "first_row"),
    [("id", ("278", "1", "n02119789")), ("sorted", ("0", "449", "n01440764"))],
)
def test_ilsvrc(tmp_path: Path, order: str, first_row: tuple[str, str, str]) -> None:
    output = tmp_path / "wnids.txt"
    result = run("ilsvrc", "--order", order, "--output", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_text().splitlines() == ilsvrc2012_wnids(order)  # type: ignore[arg-type]
    rows = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
    assert len(rows) == 1000
    assert tuple(cell.strip() for cell in rows[0][1:4]) == first_row


def test_ilsvrc_rejects_unknown_order() -> None:
    result = run("ilsvrc", "--order", "random")
    assert result.exit_code == 2


def test_workspace_classes_show_up(tmp_path: Path) -> None:
    from synsetlab.cli.app import app

    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "-w",
            ws,
            "taxonomy",
            "add",
            "travel-mug",
            "--name",
            "Travel Mug",
            "--parent",
            "n03797390",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mug > Travel Mug" in result.stdout
    result = runner.invoke(app, ["-w", ws, "taxonomy", "show", "travel-mug"])
    assert result.exit_code == 0, result.output
    assert "(workspace class)" in result.stdout
    assert "> mug > Travel Mug" in result.stdout
    result = runner.invoke(app, ["-w", ws, "taxonomy", "select", "--under", "n03797390", "--json"])
    assert "travel-mug" in [c["wnid"] for c in json.loads(result.stdout)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["n01234567", "--name", "x", "--parent", "n03797390"], "wnid"),
        (["travel-mug", "--name", "x", "--parent", "n99999999"], "n99999999"),
        (["Bad Id", "--name", "x", "--parent", "n03797390"], "Bad Id"),
    ],
)
def test_bad_workspace_classes_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    from synsetlab.cli.app import app

    ws = str(tmp_path / "ws")
    runner.invoke(app, ["init", ws])
    result = runner.invoke(app, ["-w", ws, "taxonomy", "add", *args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_adding_a_class_outside_a_workspace_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synsetlab.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    result = runner.invoke(app, ["taxonomy", "add", "x-y", "--name", "x", "--parent", "n03797390"])
    assert result.exit_code == 1
    assert "synsetlab init" in result.stderr


def test_descendants(tmp_path: Path) -> None:
    output = tmp_path / "finches.txt"
    result = run("descendants", "n01529672", "--leaves", "--output", str(output))
    assert result.exit_code == 0, result.output
    leaves = output.read_text().split()
    assert "n01530575" in leaves and "n01531178" in leaves  # brambling, goldfinch
    assert "n01529672" not in leaves
    everything = run("descendants", "n01529672")
    assert everything.exit_code == 0
    assert "n01530575" in everything.stdout
