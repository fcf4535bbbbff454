"""A run's ``metrics.jsonl``: one JSON line per epoch, always what its checkpoint records.

Training and pretraining both rewrite the file from the checkpoint's history when they start
(a resume from an earlier checkpoint drops the lines of the epochs after it, instead of
repeating them), then add a line per epoch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synsetlab.atomic import atomic_file


def write_history(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Make ``path`` hold exactly ``history`` (the records of the epochs a checkpoint has
    done; empty for a new run), atomically."""
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(record) + "\n" for record in history)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Add one epoch's record to ``path``."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records ``path`` holds (none when it does not exist)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
