"""The exceptions of :mod:`synsetlab.taxonomy`.

The whole tree::

    TaxonomyError
     ├── UnknownSynsetError  (also a KeyError: no synset or class with that id or name)
     ├── AmbiguousNameError  (also a LookupError: a name that several synsets share)
     └── InvalidClassError   (also a ValueError: a workspace class that cannot be added)
"""

from __future__ import annotations

from synsetlab.errors import UserError

__all__ = ["AmbiguousNameError", "InvalidClassError", "TaxonomyError", "UnknownSynsetError"]

_FIND_HINT = "find one with `synsetlab taxonomy search TEXT`"


class TaxonomyError(UserError):
    """Base of every error that :mod:`synsetlab.taxonomy` raises on purpose."""


class UnknownSynsetError(TaxonomyError, KeyError):
    """A wnid, workspace class id or lemma that the taxonomy does not hold."""

    def __init__(self, key: str, *, lemma: bool = False) -> None:
        self.key = key
        if lemma:
            message = f"no synset or class is named {key!r}; {_FIND_HINT}"
        else:
            message = (
                f"unknown synset {key!r}: not a WordNet 3.0 noun synset nor a class of this "
                f"workspace; {_FIND_HINT}"
            )
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message as if it were the missing key.
        return str(self.args[0])


class AmbiguousNameError(TaxonomyError, LookupError):
    """A lemma that names several synsets where one was needed."""

    def __init__(self, name: str, candidates: list[tuple[str, str]]) -> None:
        self.name = name
        self.candidates = candidates
        listed = "; ".join(f"{wnid} ({gloss})" for wnid, gloss in candidates[:10])
        more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
        super().__init__(
            f"{name!r} names {len(candidates)} synsets: {listed}{more}; pass a wnid instead"
        )


class InvalidClassError(TaxonomyError, ValueError):
    """A workspace class whose id, name or parent cannot be accepted."""
