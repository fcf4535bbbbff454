"""What :mod:`synsetlab.annotate` refuses. A server maps each class to one HTTP status::

AnnotationError (UserError, ValueError)  bad votes, options, answers or files        400
├── AnnotationNotFoundError   no such project, page, question or annotator             404
├── AnnotationForbiddenError  another annotator's page; a stopped annotator            403
└── AnnotationConflictError   a project name taken; a page closed, or submitted       409
                              before with other answers; a vote that contradicts one
"""

from __future__ import annotations

from synsetlab.errors import UserError

__all__ = [
    "AnnotationConflictError",
    "AnnotationError",
    "AnnotationForbiddenError",
    "AnnotationNotFoundError",
]


class AnnotationError(UserError, ValueError):
    """Votes, gold answers or options that annotation cannot use; the message says what to fix."""


class AnnotationNotFoundError(AnnotationError, LookupError):
    """No project, page, question or annotator by that name or id."""


class AnnotationForbiddenError(AnnotationError):
    """The annotator may not do this: another annotator's page, or they were stopped."""


class AnnotationConflictError(AnnotationError):
    """The request contradicts what is stored: a taken name, a closed or answered page."""
