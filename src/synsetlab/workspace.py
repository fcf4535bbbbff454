"""A workspace: a folder with ``synsetlab.toml``, a catalog database and a blob store.

``init_workspace`` creates one; ``open_workspace`` finds one (an explicit folder,
``SYNSETLAB_WORKSPACE``, or the current directory and its parents, as git finds a repository).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from synsetlab.blobs import BlobStore
from synsetlab.catalog import CustomClass as CustomClassRow
from synsetlab.catalog import make_engine, make_sessionmaker, upgrade
from synsetlab.errors import UserError
from synsetlab.settings import WORKSPACE_FILE, Settings, load_settings
from synsetlab.taxonomy import CustomClass, Taxonomy


class WorkspaceError(UserError, RuntimeError):
    """A workspace is missing, or cannot be created where asked."""


_TEMPLATE = """\
# synsetlab workspace. Environment variables SYNSETLAB_<NAME> override these settings.
#
# db_url = "postgresql+psycopg://user:password@host:5432/synsetlab"  # default: ./catalog.db
# blob_url = "s3://bucket/prefix"                                   # default: ./blobs
# max_image_pixels = 89478485
# ingest_workers = 8
"""


@dataclass
class Workspace:
    """An open workspace: settings, catalog engine and blob store."""

    root: Path
    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.resolved_db_url())
        return self._engine

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.resolved_blob_url())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A catalog session committed on success and rolled back on error."""
        with make_sessionmaker(self.engine).begin() as session:
            yield session

    def taxonomy(self) -> Taxonomy:
        """WordNet 3.0 nouns plus this workspace's own classes."""
        with self.session() as s:
            rows = s.scalars(select(CustomClassRow).order_by(CustomClassRow.created_at)).all()
            classes = [CustomClass(r.id, r.name, r.gloss, r.parent) for r in rows]
        return Taxonomy.wordnet().with_custom(classes) if classes else Taxonomy.wordnet()

    def add_class(self, new: CustomClass) -> Taxonomy:
        """Add a class of this workspace under a WordNet synset (or another own class).

        Raises ``InvalidClassError`` for a malformed or taken id or an unknown parent; nothing
        is written then. Returns the taxonomy that includes the new class.
        """
        taxonomy = self.taxonomy().with_custom([new])
        with self.session() as s:
            s.add(CustomClassRow(id=new.id, name=new.name, gloss=new.gloss, parent=new.parent))
        return taxonomy

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def init_workspace(
    root: Path, *, db_url: str | None = None, blob_url: str | None = None
) -> Workspace:
    """Create a workspace in ``root`` (created if needed) and its catalog at the latest schema.

    Running it on an existing workspace only brings its catalog up to date.
    """
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder; choose another path")
    root.mkdir(parents=True, exist_ok=True)
    config = root / WORKSPACE_FILE
    if not config.exists():
        text = _TEMPLATE
        if db_url:
            text += f'db_url = "{db_url}"\n'
        if blob_url:
            text += f'blob_url = "{blob_url}"\n'
        config.write_text(text)
    ws = Workspace(root, load_settings(root))
    upgrade(ws.engine)
    ws.blobs  # noqa: B018 - creates the blob folder now, not at the first ingest
    return ws


def find_workspace(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: cwd) holding ``synsetlab.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    return None


def open_workspace(root: Path | None = None) -> Workspace:
    """Open the workspace at ``root``, ``$SYNSETLAB_WORKSPACE``, or above the current folder."""
    if root is None and os.environ.get("SYNSETLAB_WORKSPACE"):
        root = Path(os.environ["SYNSETLAB_WORKSPACE"])
    if root is not None:
        root = Path(root).expanduser().resolve()
        if not (root / WORKSPACE_FILE).is_file():
            raise WorkspaceError(
                f"{root} is not a synsetlab workspace (no {WORKSPACE_FILE}); "
                f"create one with `synsetlab init {root}`"
            )
    else:
        root = find_workspace()
        if root is None:
            raise WorkspaceError(
                f"no synsetlab workspace in {Path.cwd()} or its parents; create one with "
                "`synsetlab init DIR` and run commands inside it, or pass --workspace DIR"
            )
    ws = Workspace(root, load_settings(root))
    upgrade(ws.engine)
    return ws
