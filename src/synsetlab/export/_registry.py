"""The export formats, by name: each format module registers one :class:`Exporter`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synsetlab.errors import UserError

if TYPE_CHECKING:
    from synsetlab.export._job import ExportJob


class ExportError(UserError, ValueError):
    """The version cannot be exported as asked: an unknown format or option, or a version the
    format cannot hold. The message names the value and what to use instead."""


def _accept_all(job: ExportJob) -> None:
    """The default check: every version can be written."""


@dataclass(frozen=True)
class Exporter:
    """A format: how to write a version into a (staging) folder."""

    name: str
    #: One line for ``--help`` and error messages.
    summary: str
    #: ``write(job, folder) -> details``: write everything into ``folder`` (empty on entry);
    #: the details (shard lists, ...) go into the report and ``export.json``.
    write: Callable[[ExportJob, Path], dict[str, Any]]
    #: ``check(job)`` raises :class:`ExportError` when the format cannot hold this version as
    #: asked; run before anything is written.
    check: Callable[[ExportJob], None] = _accept_all
    #: The image encodings it can write (``ExportJob.encoding``).
    encodings: tuple[str, ...] = ("stored",)


#: Format name -> exporter, in registration order.
EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    """Add ``exporter`` to :data:`EXPORTERS`; a name registered twice is an error."""
    if exporter.name in EXPORTERS:
        raise ValueError(f"export format {exporter.name!r} is already registered")
    EXPORTERS[exporter.name] = exporter
    return exporter


def get_exporter(name: str) -> Exporter:
    try:
        return EXPORTERS[name]
    except KeyError:
        raise ExportError(
            f"unknown export format {name!r}: use one of {', '.join(EXPORTERS)}"
        ) from None
