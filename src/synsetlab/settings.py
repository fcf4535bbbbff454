"""One settings object for the whole package.

Values come, highest priority first, from keyword overrides, ``SYNSETLAB_*`` environment
variables, the workspace's ``synsetlab.toml``, and the defaults below.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import pydantic_settings
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synsetlab.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

WORKSPACE_FILE = "synsetlab.toml"
ENV_PREFIX = "SYNSETLAB_"


class SettingsError(UserError, ValueError):
    """A setting in ``synsetlab.toml``, a ``SYNSETLAB_*`` environment variable or an override
    that cannot be accepted; the message names the setting and where to fix it."""


class QualityThresholds(BaseModel):
    """Limits of the quality rules. A "min" limit of 0 turns its rule off.

    Calibrated on three real photos (matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and
    flower.jpg) at 500x375 px, sharp, Gaussian-blurred and JPEG-compressed; see the comments.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Pixels. A 64 px short side is already upsampled 3.5x by a 224 px training crop;
    #: ILSVRC's own smallest pictures (20-50 px) are the ones this is meant to catch.
    min_side: int = Field(default=64, ge=0)
    #: Fraction of the dataset's median short side under which an image must also fall to be
    #: too small: keeps a dataset of small pictures (CIFAR, 32 px) from being flagged wholesale.
    min_side_vs_median: float = Field(default=0.5, ge=0)
    #: Long side / short side. A 224 px centre crop of a 4:1 picture keeps a quarter of it.
    max_aspect: float = Field(default=4.0, ge=1)
    #: Largest standard deviation of the thumbnail's R, G or B values (0-255). Blank or
    #: single-colour frames measure under 1 (JPEG noise); real photos, even dark or foggy
    #: ones, 10 or more.
    min_std: float = Field(default=5.0, ge=0)
    #: Variance of the Laplacian of the <=256 px grey thumbnail (grey levels squared). Sharp
    #: photos measure 400-1300; a Gaussian blur of sigma 2 px on a 500 px picture 35-130,
    #: sigma 3 px 13-42, sigma 5 px 5-10. 40 catches sigma >= ~3 px (1.5 px on the thumbnail).
    min_laplacian_var: float = Field(default=40.0, ge=0)
    #: Fraction of the dataset's median sharpness under which an image must also fall to be
    #: blurry: keeps soft-by-nature datasets (upscaled thumbnails, X-rays) from being flagged.
    blur_vs_median: float = Field(default=0.1, ge=0)
    #: Hasler-Suesstrunk colourfulness of the thumbnail. Grey pictures measure 0, JPEG chroma
    #: noise and scanner casts on black-and-white prints stay under ~3; photos measure 30-90
    #: (the authors' "slightly colourful" is ~15).
    min_colourfulness: float = Field(default=5.0, ge=0)
    #: Greyscale pictures are flagged only when more than this fraction of the dataset is
    #: colour: in a mostly grey dataset (scans, X-rays) grey is the norm, not a finding.
    colour_majority: float = Field(default=0.5, ge=0, le=1)
    #: File bits per pixel, lossy formats only. ILSVRC-2012 train averages ~5 bpp (138 GB over
    #: 1.28 M pictures of ~470x390 px); photos at JPEG quality 75 measure 0.8-1.8, quality 10
    #: 0.25-0.45, quality 5 0.19-0.28, quality 1-2 0.16-0.2 (at 500x375: headers weigh more on
    #: small files, so those measure higher).
    #: 0.25 flags pictures crushed into visible 8x8 blocks, and nothing near normal quality.
    min_bits_per_pixel: float = Field(default=0.25, ge=0)


#: The secret key shipped in examples; refused like no key at all outside development.
_PLACEHOLDER_KEYS = frozenset({"", "changeme", "change-me", "secret", "development"})


class ServerSettings(BaseModel):
    """The challenge server (``[server]`` in synsetlab.toml, ``SYNSETLAB_SERVER__*`` in the
    environment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``development`` allows a random per-process secret key and plain-http cookies;
    #: anything else (``production``) needs a real ``secret_key`` and serves cookies Secure.
    environment: str = "development"
    #: Signs session cookies. Make one with
    #: ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.
    secret_key: SecretStr | None = None
    #: New teams wait for an admin's approval before they may submit.
    team_approval: bool = False
    #: Rate limits per client address, in the ``limits`` notation ("N/second|minute|hour").
    login_rate: str = "10/minute"
    submit_rate: str = "60/minute"
    #: Addresses or networks (``10.0.0.0/8``) of the reverse proxies in front of the
    #: server: only a request from one of them has its ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` believed. Empty by default: every client is known by the
    #: address it connects from, so no one can rotate a header past the rate limits.
    #: ``SYNSETLAB_SERVER__TRUSTED_PROXIES='["127.0.0.1"]'`` in the environment.
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {item!r} is not an IP address or network, e.g. "
                    "127.0.0.1 or 10.0.0.0/8"
                ) from None
        return value

    @property
    def development(self) -> bool:
        return self.environment == "development"

    def checked_secret(self) -> str | None:
        """The secret key; ``None`` in development without one (the app makes a random one).

        Raises :class:`SettingsError` outside development when the key is missing or a
        placeholder.
        """
        key = self.secret_key.get_secret_value() if self.secret_key else None
        if not self.development and (key is None or key.strip().lower() in _PLACEHOLDER_KEYS):
            raise SettingsError(
                f"server environment is {self.environment!r} but no real secret key is set: "
                "set SYNSETLAB_SERVER__SECRET_KEY to a long random string (32+ characters)"
            )
        if not self.development and len(key or "") < 32:
            raise SettingsError(
                "the server's secret key must be at least 32 characters long: set "
                "SYNSETLAB_SERVER__SECRET_KEY to a longer random string"
            )
        return key


class Settings(BaseSettings):
    """Settings of one workspace (see the module docstring for where values come from)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

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
    #: Limits of the quality findings (``[quality]`` in synsetlab.toml,
    #: ``SYNSETLAB_QUALITY__MIN_SIDE=32`` in the environment).
    quality: QualityThresholds = QualityThresholds()
    #: The challenge server (``[server]`` in synsetlab.toml).
    server: ServerSettings = ServerSettings()

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
    """The settings written in ``root/synsetlab.toml`` (empty when absent).

    Raises :class:`SettingsError` when the file is not valid TOML.
    """
    path = root / WORKSPACE_FILE
    if not path.exists():
        return {}
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{path} is not valid TOML ({e}); fix or remove the line") from e


def load_settings(workspace: Path | None = None, **overrides: Any) -> Settings:
    """Settings for ``workspace``: overrides > environment > ``synsetlab.toml`` > defaults.

    Raises :class:`SettingsError` naming every setting that cannot be accepted (an unknown
    name, a value of the wrong type or out of range) and where it can be fixed.
    """
    try:
        from_env = Settings()
    except (ValidationError, pydantic_settings.SettingsError) as e:
        raise SettingsError(
            f"invalid {ENV_PREFIX}* environment variable ({_describe(e)}); fix or unset it"
        ) from e
    root = workspace or from_env.workspace
    values: dict[str, Any] = read_workspace_file(root) if root else {}
    for name in from_env.model_fields_set:
        value = getattr(from_env, name)
        if isinstance(value, BaseModel):  # a nested table: the environment overrides per key
            value = {**values.get(name, {}), **value.model_dump(exclude_unset=True)}
        values[name] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    if root is not None:
        values["workspace"] = Path(root).resolve()
    try:
        return Settings(**values)
    except ValidationError as e:
        where = f"{Path(root) / WORKSPACE_FILE} or " if root is not None else ""
        raise SettingsError(
            f"invalid settings ({_describe(e)}); fix them in {where}the {ENV_PREFIX}* environment"
        ) from e


def _describe(error: ValidationError | ValueError) -> str:
    """Every problem of a validation error as ``"field.path: message; ..."``, without the
    input values (a secret key must not reach a terminal or a log)."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in error.errors()
    )
