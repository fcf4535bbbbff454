"""Write an export into a staging folder next to its target, then rename it into place.

An export is either complete under its name or absent: exporters write into
``<OUT>.partial-<random>`` beside ``OUT`` (same filesystem, so the final rename is atomic), and
a failure removes the staging folder. A process killed outright leaves only a ``.partial-``
folder, which never looks like a finished export.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synsetlab.errors import UserError

#: Written last into every export; marks a folder that ``force`` may replace.
MARKER = "export.json"


class OutputExistsError(UserError, FileExistsError):
    """The output folder is taken: not empty, and not (or not allowed to be) replaced."""


def check_target(out_dir: Path, *, force: bool) -> None:
    """Refuse an ``out_dir`` that holds anything, unless ``force`` and it is a previous export.

    ``force`` replaces only an earlier synsetlab export (a folder with ``export.json``): a
    mistyped path such as a home folder is refused even then.
    """
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} exists and is not a folder: choose another output path")
    if not any(out_dir.iterdir()):
        return
    if not force:
        raise OutputExistsError(
            f"{out_dir} exists and is not empty: choose another folder, or pass force=True "
            f"(--force) to replace the export there"
        )
    if not (out_dir / MARKER).is_file():
        raise OutputExistsError(
            f"{out_dir} is not empty and holds no {MARKER}, so it is not a synsetlab export; "
            f"force only replaces an earlier export. Remove it yourself or choose another folder"
        )


@contextmanager
def staged_folder(out_dir: Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes ``out_dir``, on failure it goes.

    An existing ``out_dir`` (allowed by :func:`check_target`) is kept until the new export is
    complete, so a failed ``force`` export leaves the previous one in place.
    """
    out_dir = Path(out_dir)
    check_target(out_dir, force=force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        yield staging
        _publish(staging, out_dir, force=force)
    except BaseException:
        # BaseException: Ctrl-C mid-export must not leave a half-written folder either.
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, out_dir: Path, *, force: bool) -> None:
    check_target(out_dir, force=force)  # again: someone may have written there meanwhile
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    # Move the old folder aside first: rename cannot replace a non-empty folder.
    old = out_dir.with_name(f"{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except OSError:
        old.rename(out_dir)
        raise
    shutil.rmtree(old)
