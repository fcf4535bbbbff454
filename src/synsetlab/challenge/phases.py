"""Phases of a challenge: parsing ``--phase`` specs, and which phase is open when.

A spec reads ``NAME:START..END[:OPTION...]``, for example
``dev:2026-12-01..2027-01-15:5/day`` or ``final:2027-01-16..2027-01-20:2/day:select=2``.
START and END are dates (``YYYY-MM-DD``, the whole END day included) or ISO datetimes
(``2026-12-01T12:00``, END excluded), in UTC. Options: ``N/day`` (submissions per team per
UTC day), ``total=N``, ``concurrent=N`` (being scored at once) and ``select=N`` (submissions a
team may pick for the private ranking; 1 by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from synsetlab.catalog.models import as_utc
from synsetlab.challenge.errors import ChallengeError

# Matched whole (``fullmatch``): ``$`` would also accept a trailing newline.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_OPTION = re.compile(r"(?:(?P<per_day>\d+)/day|(?P<key>total|concurrent|select)=(?P<value>\d+))")


@dataclass(frozen=True)
class PhaseSpec:
    """A phase before it is stored: a UTC window [starts_at, ends_at) and its quotas."""

    name: str
    starts_at: datetime
    ends_at: datetime
    per_day: int | None = None
    total: int | None = None
    concurrent: int | None = None
    select: int = 1

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ChallengeError(
                f"phase name {self.name!r} must be 1-32 lowercase letters, digits, - or _"
            )
        if as_utc(self.ends_at) <= as_utc(self.starts_at):
            raise ChallengeError(f"phase {self.name!r} ends before it starts; check its dates")
        for field in ("per_day", "total", "concurrent"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ChallengeError(
                    f"phase {self.name!r}: {field} must be at least 1, got {value}"
                )
        if self.select < 1:
            raise ChallengeError(
                f"phase {self.name!r}: select must be at least 1, got {self.select}"
            )


def parse_phase(spec: str) -> PhaseSpec:
    """A :class:`PhaseSpec` from ``NAME:START..END[:OPTION...]`` (see the module docstring)."""
    name, sep, rest = spec.partition(":")
    if not sep or ".." not in rest:
        raise ChallengeError(
            f"phase {spec!r} should read NAME:START..END[:OPTIONS], "
            "e.g. dev:2026-12-01..2027-01-15:5/day"
        )
    # Options are the trailing ':'-separated tokens that look like options; what is left is
    # the window, whose ISO times may contain ':' themselves.
    tokens = rest.split(":")
    options: dict[str, int] = {}
    while len(tokens) > 1 and _OPTION.fullmatch(tokens[-1]):
        match = _OPTION.fullmatch(tokens.pop())
        assert match is not None
        key = "per_day" if match["per_day"] else match["key"]
        if key in options:
            raise ChallengeError(f"phase {spec!r} gives {key} twice")
        options[key] = int(match["per_day"] or match["value"])
    start_text, _, end_text = ":".join(tokens).partition("..")
    starts_at = _moment(start_text, spec, end=False)
    ends_at = _moment(end_text, spec, end=True)
    return PhaseSpec(name, starts_at, ends_at, **options)


def _moment(text: str, spec: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            # A date as END means the whole day is in: the window ends at the next midnight.
            return datetime.combine(day + timedelta(days=int(end)), time(), timezone.utc)
        return as_utc(datetime.fromisoformat(text))
    except ValueError:  # datetime's own
        raise ChallengeError(
            f"phase {spec!r}: {text!r} is not a date (YYYY-MM-DD) or ISO datetime "
            "(YYYY-MM-DDTHH:MM, UTC)"
        ) from None


def day_start(moment: datetime) -> datetime:
    """Midnight UTC at the start of ``moment``'s day: per-day quotas reset then."""
    return datetime.combine(as_utc(moment).date(), time(), timezone.utc)
