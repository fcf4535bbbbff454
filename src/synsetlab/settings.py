"""One settings object for the whole package.

Values come, highest priority first, from keyword overrides, ``SYNSETLAB_*`` environment
variables, the workspace's ``synsetlab.toml``, and the defaults below.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

WORKSPACE_FILE = "synsetlab.toml"


class Settings(BaseSettings):
    """Settings of one workspace (see the module docstring for where values come from)."""

    model_config = SettingsConfigDict(env_prefix="SYNSETLAB_", extra="forbid")

    #: Folder holding ``synsetlab.toml``; found from the current directory when unset.
    workspace: Path | None = None
    #: SQLAlchemy URL of the catalog; default: SQLite file ``catalog.db`` in the workspace.
    db_url: str | None = None
    #: fsspec URL of the blob store; default: the ``blobs/`` folder in the workspace.
    blob_url: str | None = None
    #: Images with more pixels than this are rejected unread (decompression bombs).
    max_image_pixels: int = Field(default=89_478_485, gt=0)
    #: Decode processes for ingestion; default: every core.
    ingest_workers: int | None = Field(default=None, ge=0)
    #: Images written to the catalog per transaction; a crash loses at most one batch of work.
    ingest_batch_size: int = Field(default=256, gt=0)

    def resolved_db_url(self) -> str:
        """The catalog URL, defaulting to ``sqlite:///<workspace>/catalog.db``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self._root() / 'catalog.db'}"

    def resolved_blob_url(self) -> str:
        """The blob store URL, defaulting to ``<workspace>/blobs``."""
        return self.blob_url or str(self._root() / "blobs")

    def resolved_workers(self) -> int:
        """Number of ingest processes (0 means decode in the main process)."""
        if self.ingest_workers is None:
            return os.cpu_count() or 1
        return self.ingest_workers

    def _root(self) -> Path:
        if self.workspace is None:
            raise ValueError("settings have no workspace folder to put default stores in")
        return self.workspace


def read_workspace_file(root: Path) -> dict[str, Any]:
    """The settings written in ``root/synsetlab.toml`` (empty when absent)."""
    path = root / WORKSPACE_FILE
    if not path.exists():
        return {}
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path} is not valid TOML ({e}); fix or remove the line") from e


def load_settings(workspace: Path | None = None, **overrides: Any) -> Settings:
    """Settings for ``workspace``: overrides > environment > ``synsetlab.toml`` > defaults."""
    from_env = Settings()
    root = workspace or from_env.workspace
    values: dict[str, Any] = read_workspace_file(root) if root else {}
    values.update({name: getattr(from_env, name) for name in from_env.model_fields_set})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if root is not None:
        values["workspace"] = Path(root).resolve()
    return Settings(**values)
