"""Files written whole or not at all: a temporary file beside the target, renamed over it.

A reader sees the previous file or the complete new one, never a half-written one; a failure
(or an interrupt) removes the temporary file. Blobs (:mod:`synsetlab.blobs`) and exports
(:mod:`synsetlab.export`) have their own staging; this serves single files: checkpoints,
figures, model exports, submissions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_file(
    path: Path | str, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (``mode`` ``"wb"`` or ``"w"``); when the block
    ends without error, flush it to disk and rename it to ``path`` (mode 0644). A folder at
    ``path`` is an ``IsADirectoryError`` before anything is written."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).chmod(0o644)  # mkstemp's 0600 would hide the file from other users
        Path(tmp).replace(path)
    except BaseException:  # an interrupted write must not leave its temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
