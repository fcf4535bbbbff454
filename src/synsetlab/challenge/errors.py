"""What challenge rules refuse. The server maps each class to one HTTP status.

::

    ChallengeError (ValueError)
    ├── NotFoundError       no such challenge, team, user or submission           404
    ├── ForbiddenError      not yours, not an admin, not approved                 403
    ├── UnauthorizedError   wrong password, unknown or revoked token              401
    ├── ConflictError       a name taken, membership frozen, already in a team    409
    ├── PhaseClosedError    no phase of the challenge accepts submissions now     409
    └── QuotaExceededError  the team's per-day, total or concurrent quota is used 429

Submission files that fail validation raise :class:`synsetlab.challenge.formats.SubmissionError`
(422) before anything is stored or counted.
"""

from __future__ import annotations


class ChallengeError(ValueError):
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
