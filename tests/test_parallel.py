"""Worker processes: results in order, and workers that start without importing again what
the fork server holds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from synsetlab.parallel import map_chunks


def _square_all(items: list[int]) -> list[int]:
    return [i * i for i in items]


def test_map_chunks_keeps_input_order_across_workers() -> None:
    items = list(range(100))
    out = list(map_chunks(_square_all, items, workers=2, chunk=7))
    assert [i for chunk, _ in out for i in chunk] == items
    assert [r for _, results in out for r in results] == [i * i for i in items]


def test_loader_workers_do_not_import_the_main_scripts_modules_again(tmp_path: Path) -> None:
    """Each worker re-runs the main script; what its top level imports must already be loaded
    in the fork server, or every worker pays for the import itself."""
    (tmp_path / "counted.py").write_text(
        textwrap.dedent("""
        import os, sys
        with open(os.environ["IMPORT_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")

        class Squares:
            def __len__(self):
                return 12

            def __getitem__(self, i):
                return i * i
    """)
    )
    (tmp_path / "script.py").write_text(
        textwrap.dedent("""
        import counted
        from synsetlab.data.loader import create_loader

        if __name__ == "__main__":
            loader = create_loader(counted.Squares(), batch_size=4, workers=2)
            print(sorted(int(v) for batch in loader for v in batch))
    """)
    )
    log = tmp_path / "imports.log"
    # On the path as an installed package is: CPython 3.11's fork server does not get the
    # script's folder on its sys.path (later versions pass it).
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "IMPORT_LOG": str(log), "PYTHONPATH": path}
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str([i * i for i in range(12)])
    pids = log.read_text().split()
    # Imported by the script's process and by the fork server: not by the two workers.
    assert len(pids) == 2, pids
