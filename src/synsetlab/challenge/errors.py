"""What challenge rules refuse. The server maps each class to one HTTP status.

::

    ChallengeError (UserError, ValueError)  a malformed request: a bad name, slug, phase    400
    ├── NotFoundError       no such challenge, team, user or submission (of your team)    404
    ├── ForbiddenError      not an admin, not approved, not in a team                     403
    ├── UnauthorizedError   wrong password, unknown or revoked token                      401
    ├── ConflictError       a name taken, membership frozen, already in a team            409
    ├── PhaseClosedError    no phase of the challenge accepts submissions now             409
    ├── QuotaExceededError  the team's per-day, total or concurrent quota is used         429
    └── LeakError           hidden test images have copies in the version's labelled
                            splits (``challenge create``; see :mod:`.leakage`)

Submission files that fail validation raise :class:`synsetlab.challenge.formats.SubmissionError`
(422) before anything is stored or counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from synsetlab.errors import UserError

if TYPE_CHECKING:
    from synsetlab.challenge.leakage import Leak


class ChallengeError(UserError, ValueError):
    """A request the challenge rules refuse; the message says what to do instead."""


class NotFoundError(ChallengeError):
    pass


class ForbiddenError(ChallengeError):
    pass


class UnauthorizedError(ChallengeError):
    pass


class ConflictError(ChallengeError):
    pass


class PhaseClosedError(ChallengeError):
    pass


class QuotaExceededError(ChallengeError):
    """``retry_after`` is the number of seconds until a slot frees up, when one will."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LeakError(ChallengeError):
    """``leaks`` lists every hidden test image with a copy in a labelled split."""

    def __init__(self, message: str, leaks: Sequence[Leak]) -> None:
        super().__init__(message)
        self.leaks = tuple(leaks)
