"""Worker processes: results in order, and a fork server that starts early and spares the
workers the imports it already holds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from synsetlab.parallel import map_chunks

#: A module that logs each process importing it, with a tiny dataset.
COUNTED = """
import os
with open(os.environ["IMPORT_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")

class Squares:
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return i * i
"""


def _square_all(items: list[int]) -> list[int]:
    return [i * i for i in items]


def _run(tmp_path: Path, script: str) -> tuple[str, list[str]]:
    """Run ``script`` beside ``counted``; its output, and the pids of processes importing
    ``counted``."""
    (tmp_path / "counted.py").write_text(COUNTED)
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    log = tmp_path / "imports.log"
    # On the path as an installed package is: CPython 3.11's fork server does not get the
    # script's folder on its sys.path (later versions pass it).
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "IMPORT_LOG": str(log), "PYTHONPATH": path}
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip(), log.read_text().split()


def test_map_chunks_keeps_input_order_across_workers() -> None:
    items = list(range(100))
    out = list(map_chunks(_square_all, items, workers=2, chunk=7))
    assert [i for chunk, _ in out for i in chunk] == items
    assert [r for _, results in out for r in results] == [i * i for i in items]


def test_loader_workers_do_not_import_the_main_scripts_modules_again(tmp_path: Path) -> None:
    """Each worker re-runs the main script; what its top level imports must already be loaded
    in the fork server, or every worker pays for the import itself."""
    out, pids = _run(tmp_path, """
        import counted
        from synsetlab.data.loader import create_loader

        if __name__ == "__main__":
            loader = create_loader(counted.Squares(), batch_size=4, workers=2)
            print(sorted(int(v) for batch in loader for v in batch))
    """)  # fmt: skip
    assert out == str([i * i for i in range(12)])
    # Imported by the script's process and by the fork server: not by the two workers.
    assert len(pids) == 2, pids


def test_the_loader_server_starts_and_preloads_before_any_worker_is_asked_for(
    tmp_path: Path,
) -> None:
    out, pids = _run(tmp_path, """
        import os, time
        import counted
        from synsetlab.parallel import start_loader_server

        if __name__ == "__main__":
            start_loader_server()  # returns at once: the server imports on its own
            log = os.environ["IMPORT_LOG"]
            deadline = time.monotonic() + 30
            while len(open(log).read().split()) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            print(os.getpid())
    """)  # fmt: skip
    # This process imported counted, then the server did, with no worker ever started.
    assert len(pids) == 2 and pids[0] == out and pids[1] != out, (out, pids)
