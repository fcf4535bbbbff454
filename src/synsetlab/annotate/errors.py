"""The one error class of :mod:`synsetlab.annotate`: a vote table, option or request it refuses."""

from __future__ import annotations

from synsetlab.errors import UserError

__all__ = ["AnnotationError"]


class AnnotationError(UserError, ValueError):
    """Votes, gold answers or options that annotation cannot use; the message says what to fix."""
