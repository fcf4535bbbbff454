"""`synsetlab synthetic generate` through Typer's CliRunner, mounted as the lead mounts it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synsetlab.cli.synthetic import app, parse_classes, parse_size
from synsetlab.synthetic import SyntheticConfigError, load_truth

root = typer.Typer()
root.add_typer(app, name="synthetic")
runner = CliRunner()

SMALL = ["--per-class", "2", "--classes", "circle,n13881644", "--size", "40x32"]


def test_documented_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        root, ["synthetic", "generate", "shapes/", "--per-class", "40", "--seed", "0"]
    )
    assert result.exit_code == 0, result.output
    truth = load_truth(tmp_path / "shapes")
    assert truth.counts["clean"] == 400
    assert truth.config.seed == 0
    for label in ("clean images", "wrong label", "near duplicates", "corrupt files", "400"):
        assert label in result.stdout


def test_options_reach_the_config(tmp_path: Path) -> None:
    args = [*SMALL, "--seed", "3", "--png-fraction", "0.5", "--wrong-label-rate", "0.25"]
    result = runner.invoke(root, ["synthetic", "generate", str(tmp_path / "out"), *args])
    assert result.exit_code == 0, result.output
    config = load_truth(tmp_path / "out").config
    assert config.classes == ("n13873502", "n13881644")
    assert (config.per_class, config.image_size, config.seed) == (2, (40, 32), 3)
    assert (config.png_fraction, config.wrong_label_rate) == (0.5, 0.25)


def test_non_empty_folder_needs_force(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert runner.invoke(root, ["synthetic", "generate", out, *SMALL]).exit_code == 0
    again = runner.invoke(root, ["synthetic", "generate", out, *SMALL])
    assert again.exit_code == 1
    assert "--force" in again.stderr
    assert "Traceback" not in again.output
    forced = runner.invoke(root, ["synthetic", "generate", out, *SMALL, "--force"])
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corrupt-rate", "1.0"], "corrupt_rate must be in [0, 1)"),
        (["--per-class", "0"], "per_class must be at least 1"),
        (["--classes", "circle,n00000000"], "unknown wnid"),
        (["--size", "96"], "WIDTHxHEIGHT"),
    ],
)
def test_bad_options_exit_1_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(root, ["synthetic", "generate", str(tmp_path / "out"), *args])
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())  # rich wraps long lines
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(root, ["synthetic"])
    assert "generate" in result.output


def test_parse_size_and_classes() -> None:
    assert parse_size("96x64") == (96, 64)
    assert parse_classes(" circle, n13879320 ,,heart") == ("n13873502", "n13879320", "n13865904")
    with pytest.raises(SyntheticConfigError, match="WIDTHxHEIGHT"):
        parse_size("96x")
