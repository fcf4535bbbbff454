"""Creating and finding challenges, and which of their phases is open.

A challenge is bound to a frozen version: its answer key (the hidden labels and boxes of the
version's test split, the public/private partition and the seed it was drawn with) is
computed once at creation and stored in the blob store; the database keeps only its sha256.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.blobs import BlobStore
from synsetlab.catalog import Challenge, Phase
from synsetlab.challenge.answers import AnswerKey, answer_key
from synsetlab.challenge.errors import ChallengeError, ConflictError, LeakError, NotFoundError
from synsetlab.challenge.formats import TASKS
from synsetlab.challenge.leakage import find_leaks, leak_message
from synsetlab.challenge.phases import PhaseSpec, as_utc
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace

PhaseState = Literal["upcoming", "open", "ended"]
#: A challenge's URL id, matched whole (``$`` would also accept a trailing newline).
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
#: Bits of the random partition seed: far beyond guessing by recomputing partitions.
SEED_BITS = 128


def slugify(name: str) -> str:
    """A URL-safe id from a challenge name: ``"Shapes 2026"`` -> ``"shapes-2026"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].rstrip("-")
    if not slug:
        raise ChallengeError(f"cannot make a URL id from the name {name!r}; pass --slug")
    return slug


def check_slug(slug: str) -> str:
    """``slug`` if it is a valid challenge id, else :class:`ChallengeError`."""
    if not _SLUG.fullmatch(slug):
        raise ChallengeError(
            f"challenge id {slug!r} must be 1-64 lowercase letters, digits or '-', starting "
            "with a letter or digit: it is part of the challenge's URLs"
        )
    return slug


def create_challenge(
    ws: Workspace,
    version: str,
    *,
    name: str,
    phases: Sequence[PhaseSpec],
    task: str = "classification",
    public_fraction: float = 0.3,
    seed: int | None = None,
    slug: str | None = None,
    rules: str = "",
    ladder: bool = False,
    allow_leaks: str | None = None,
) -> Challenge:
    """A challenge on the test split of ``version`` (name or id prefix).

    ``seed`` draws the public/private partition; by default a random secret one, kept only
    in the answer key. A seed given here is public knowledge to whoever knows it: with the
    published fraction they can tell which test images are public. The version's hidden
    test images must have no copy in its labelled splits (:mod:`.leakage`), unless
    ``allow_leaks`` gives the reason to go on, which is recorded on the challenge.

    Raises :class:`ChallengeError` for a bad task, fraction, slug, overlapping phases, or a
    version whose test split cannot be scored (empty, conflicting duplicates, no boxes for
    localization); :class:`LeakError` for test images with copies in labelled splits;
    :class:`ConflictError` when the slug is taken. Nothing is written then.
    """
    if task not in TASKS:
        raise ChallengeError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if not 0.0 < public_fraction <= 1.0:
        raise ChallengeError(f"public fraction must be in (0, 1], got {public_fraction}")
    if not phases:
        raise ChallengeError(
            "a challenge needs at least one phase, e.g. --phase dev:START..END:5/day"
        )
    if allow_leaks is not None and not allow_leaks.strip():
        raise ChallengeError("--allow-leaks needs a reason, recorded on the challenge")
    ordered = sorted(phases, key=lambda p: as_utc(p.starts_at))
    for before, after in itertools.pairwise(ordered):
        if as_utc(after.starts_at) < as_utc(before.ends_at):
            raise ChallengeError(
                f"phases {before.name!r} and {after.name!r} overlap; fix their dates"
            )
    if len({p.name for p in phases}) != len(phases):
        raise ChallengeError("phase names must differ")
    slug = check_slug(slug) if slug is not None else slugify(name)
    loaded = load_version(ws, version)
    secret = seed is None
    if secret:
        seed = secrets.randbits(SEED_BITS)
    key = answer_key(loaded.manifest, public_fraction=public_fraction, seed=seed)
    with ws.session() as s:
        leaks = find_leaks(s, loaded.manifest)
    if leaks and allow_leaks is None:
        raise LeakError(leak_message(leaks, loaded.name), leaks)
    if ladder and task == "detection":
        raise ChallengeError(
            "the Ladder needs an error per image, which mean AP has not: drop --ladder"
        )
    if task == "detection":
        has_objects = np.array([len(o) > 0 for o in key.objects])
        for partition, mask in (("public", key.public), ("private", ~key.public)):
            if mask.any() and not has_objects[mask].any():
                raise ChallengeError(
                    f"no {partition} test image of version {loaded.name!r} has a box of its "
                    "classes, so its mean AP is undefined: a detection challenge needs "
                    "ground-truth boxes on both boards (or change --public-fraction)"
                )
    if task == "localization":
        missing = sum(len(b) == 0 for b in key.boxes)
        if missing:
            raise ChallengeError(
                f"{missing} of {len(key.image_ids)} test images of version {loaded.name!r} have "
                "no box: a localization challenge needs a box for every test image"
            )
    key_sha = ws.blobs.put(key.to_bytes())
    with ws.session() as s:
        if s.scalar(select(Challenge.id).where(Challenge.slug == slug)) is not None:
            raise ConflictError(f"a challenge {slug!r} exists already; choose another --slug")
        challenge = Challenge(
            slug=slug,
            name=name,
            version_id=loaded.id,
            task=task,
            public_fraction=public_fraction,
            # A secret seed stays in the answer key only, which scoring alone reads.
            seed=None if secret else seed,
            answer_key_sha256=key_sha,
            n_images=len(key.image_ids),
            rules=rules,
            ladder=ladder,
            leaked_images=len(leaks),
            leak_override=allow_leaks.strip() if leaks and allow_leaks else None,
        )
        s.add(challenge)
        s.flush()
        for p in ordered:
            s.add(
                Phase(
                    challenge_id=challenge.id,
                    name=p.name,
                    starts_at=p.starts_at,
                    ends_at=p.ends_at,
                    per_day=p.per_day,
                    total=p.total,
                    concurrent=p.concurrent,
                    select=p.select,
                )
            )
        s.flush()
        s.refresh(challenge)
        challenge.phases  # noqa: B018 - loaded now, for use after the session closes
        return challenge


def get_challenge(s: Session, slug: str) -> Challenge:
    """The challenge ``slug`` with its phases; :class:`NotFoundError` lists the known ones."""
    challenge = s.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        known = ", ".join(s.scalars(select(Challenge.slug).order_by(Challenge.id))) or "none"
        raise NotFoundError(f"no challenge {slug!r} (challenges: {known})")
    challenge.phases  # noqa: B018 - loaded while the session is open
    return challenge


def list_challenges(s: Session) -> list[Challenge]:
    rows = list(s.scalars(select(Challenge).order_by(Challenge.created_at.desc())))
    for row in rows:
        row.phases  # noqa: B018
    return rows


def phase_state(phase: Phase, now: datetime) -> PhaseState:
    now = as_utc(now)
    if now < as_utc(phase.starts_at):
        return "upcoming"
    return "open" if now < as_utc(phase.ends_at) else "ended"


def phase_ended(phase: Phase, now: datetime) -> bool:
    """Whether ``phase`` is over at ``now``: its private scores may then be shown."""
    return phase_state(phase, now) == "ended"


def open_phase(challenge: Challenge, now: datetime) -> Phase | None:
    """The phase accepting submissions at ``now`` (phases never overlap), if any."""
    return next((p for p in challenge.phases if phase_state(p, now) == "open"), None)


def get_phase(challenge: Challenge, name: str) -> Phase:
    for phase in challenge.phases:
        if phase.name == name:
            return phase
    names = ", ".join(p.name for p in challenge.phases)
    raise NotFoundError(f"challenge {challenge.slug!r} has no phase {name!r} (phases: {names})")


def current_phase(challenge: Challenge, now: datetime) -> Phase:
    """The open phase, else the last one that ended, else the first one to come."""
    ended = [p for p in challenge.phases if phase_ended(p, now)]
    return open_phase(challenge, now) or (ended[-1] if ended else challenge.phases[0])


def load_answer_key(blobs: BlobStore, sha256: str) -> AnswerKey:
    """The answer key stored under ``sha256`` (cached: keys never change)."""
    return _cached_key(blobs.url, sha256)


@lru_cache(maxsize=8)
def _cached_key(blob_url: str, sha256: str) -> AnswerKey:
    return AnswerKey.from_bytes(BlobStore(blob_url).get(sha256))
