"""Command-line start-up: how long ``synsetlab`` takes before it does any work.

Each command runs in a fresh process ``--repeat`` times, the commands taking turns so that a
busy machine slows them alike. Baseline, in the same run: ``python -c pass`` (the interpreter)
and ``python -c "import typer"`` (the floor of any Typer command line); the ratio column is a
command's best time over the best of ``import typer``. Commands: ``synsetlab --version``,
``--help``, ``train --help``, and ``train nosuchversion`` in a fresh workspace (made by
``synsetlab init``), which must fail with one line on stderr and exit status 1.

Then each ``synsetlab`` command runs once more under ``-X importtime`` through a wrapper that
writes, at exit, the modules it imported: the table lists the heavy ones (:data:`HEAVY`) and
the three packages that took longest to import.

Target: ``--version`` and the ``--help`` pages within 2x of ``import typer``; ``train`` with a
missing version fails without importing torch.

    python bench/startup.py
    python bench/startup.py --repeat 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Packages that take long to import; none belongs to the start of a command that needs none.
HEAVY = (
    "torch", "torchvision", "timm", "matplotlib", "sqlalchemy", "alembic", "scipy", "sklearn",
    "cleanlab", "faiss", "pyarrow", "pandas", "numpy", "PIL", "fastapi", "onnx", "onnxruntime",
    "lightly", "webdataset", "pydantic", "fsspec", "jinja2", "yaml",
)  # fmt: skip

#: Runs the command line with its arguments; at exit, writes the top-level names of the
#: modules imported to the file named by $STARTUP_MODULES (atexit runs after Typer's
#: ``sys.exit``).
WRAPPER = """\
import atexit, os, sys
@atexit.register
def _modules():
    with open(os.environ["STARTUP_MODULES"], "w") as f:
        f.write("\\n".join(sorted({m.partition(".")[0] for m in sys.modules})))
sys.argv = ["synsetlab", *sys.argv[1:]]
from synsetlab.cli import main
main()
"""


def synsetlab_command() -> list[str]:
    """The console script beside this interpreter, else ``python -m synsetlab``."""
    script = Path(sys.executable).with_name("synsetlab")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "synsetlab"]


def clean_env() -> dict[str, str]:
    """This environment without a workspace chosen by the environment."""
    return {k: v for k, v in os.environ.items() if k != "SYNSETLAB_WORKSPACE"}


def run_once(argv: list[str], cwd: Path, expect: int) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of one run of ``argv``; refuses an unexpected exit status."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(
            f"{argv} exited {done.returncode}, not {expect}:\n{done.stdout}\n{done.stderr}"
        )
    return seconds, done


def slowest_imports(stderr: str, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` packages other than synsetlab that took longest to import, in seconds, from
    an ``-X importtime`` trace (cumulative: a package's time includes what it imported)."""
    times: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        if "." in name or name.startswith("synsetlab") or not cumulative.strip().isdigit():
            continue  # a submodule, our own, or the header
        # A child process (e.g. the data loaders' fork server) may write to the same trace:
        # a package it imports too then appears twice, and the longer time counts.
        times[name] = max(times.get(name, 0.0), int(cumulative) / 1e6)
    return sorted(times.items(), key=lambda item: -item[1])[:n]


def imported(args: list[str], cwd: Path, expect: int) -> tuple[list[str], list[tuple[str, float]]]:
    """The heavy packages ``synsetlab ARGS`` imports, and the slowest packages to import."""
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        env = clean_env() | {"STARTUP_MODULES": out.name}
        argv = [sys.executable, "-X", "importtime", "-c", WRAPPER, *args]
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode != expect:
            raise SystemExit(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        modules = set(Path(out.name).read_text().split())
    return sorted(modules.intersection(HEAVY)), slowest_imports(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each command.")
    args = parser.parse_args()

    cli = synsetlab_command()
    workdir = Path(tempfile.mkdtemp(prefix="synsetlab-startup-"))
    try:
        ws = workdir / "ws"
        run_once([*cli, "init", str(ws)], workdir, expect=0)
        # (label, argv, synsetlab arguments or None for a baseline, expected exit status)
        cases: list[tuple[str, list[str], list[str] | None, int]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], None, 0),
            ('python -c "import typer"', [sys.executable, "-c", "import typer"], None, 0),
        ]
        for cli_args, expect in [
            (["--version"], 0),
            (["--help"], 0),
            (["train", "--help"], 0),
            (["train", "nosuchversion"], 1),
        ]:
            cases.append((" ".join(["synsetlab", *cli_args]), [*cli, *cli_args], cli_args, expect))

        times: dict[str, list[float]] = {label: [] for label, *_ in cases}
        errors: dict[str, str] = {}
        for _ in range(args.repeat):
            for label, argv, _cli_args, expect in cases:
                seconds, done = run_once(argv, ws, expect)
                times[label].append(seconds)
                if expect:
                    errors[label] = done.stderr.strip()

        floor = min(times['python -c "import typer"'])
        print(f"start-up, best and median of {args.repeat} fresh processes ({sys.executable})")
        print(f"{'command':32s} {'best s':>7s} {'median s':>9s} {'x typer':>8s}")
        for label, *_ in cases:
            best, median = min(times[label]), statistics.median(times[label])
            print(f"{label:32s} {best:7.3f} {median:9.3f} {best / floor:8.2f}")
        for label, text in errors.items():
            lines = text.splitlines()
            print(f"{label}: {len(lines)} line(s) on stderr: {lines[0] if lines else ''}")

        print("\nheavy packages imported (-X importtime, one run), and the slowest to import:")
        for label, _argv, cli_args, expect in cases:
            if cli_args is None:
                continue
            heavy, slowest = imported(cli_args, ws, expect)
            print(f"{label:32s} {', '.join(heavy) or 'none'}")
            print(f"{'':32s} slowest: " + ", ".join(f"{n} {s:.2f} s" for n, s in slowest))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
