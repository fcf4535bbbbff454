"""A workspace's own classes: checked here, then added to a taxonomy by ``Taxonomy.with_custom``."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass

from synsetlab.taxonomy.errors import InvalidClassError
from synsetlab.taxonomy.synset import WNID_PATTERN, Synset

__all__ = ["CLASS_ID_PATTERN", "CustomClass", "custom_synsets", "validate_class_id"]

CLASS_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
"""A class id: 2 to 64 of a-z, 0-9, '_', '.', '-', starting with a letter."""


@dataclass(frozen=True)
class CustomClass:
    """A class that a workspace defines for itself, placed under an existing synset or class."""

    id: str  # e.g. "ceramic-mug"; never wnid-shaped, so it cannot collide with WordNet
    name: str  # the display name, searchable like a lemma
    gloss: str  # what the class holds, for annotators
    parent: str  # a WordNet wnid or the id of another custom class


def validate_class_id(class_id: str) -> str:
    """Return ``class_id`` if it is a well-formed custom class id, else raise InvalidClassError.

    Well-formed: matches ``^[a-z][a-z0-9_.-]{1,63}$`` and is not shaped like a wnid ('n' and 8
    digits), which WordNet owns.
    """
    if not isinstance(class_id, str) or not CLASS_ID_PATTERN.fullmatch(class_id):
        raise InvalidClassError(
            f"invalid class id {class_id!r}: use 2 to 64 characters of a-z, 0-9, '_', '.', '-', "
            "starting with a letter, e.g. 'ceramic-mug'"
        )
    if WNID_PATTERN.fullmatch(class_id):
        raise InvalidClassError(
            f"invalid class id {class_id!r}: ids shaped like a wnid ('n' and 8 digits) are "
            "reserved for WordNet synsets; pick a descriptive id such as 'ceramic-mug'"
        )
    return class_id


def custom_synsets(classes: Iterable[CustomClass], existing: Container[str]) -> list[Synset]:
    """Check ``classes`` in order against ``existing`` wnids and turn them into synsets.

    A class may name an earlier class of ``classes`` as its parent. Raises InvalidClassError on
    the first class that has a bad id, an id already taken, an empty name or an unknown parent.
    """
    new: dict[str, Synset] = {}
    for cls in classes:
        validate_class_id(cls.id)
        if cls.id in existing or cls.id in new:
            raise InvalidClassError(
                f"class id {cls.id!r} is already taken by another class; pick another id"
            )
        name = " ".join(cls.name.split())
        if not name:
            raise InvalidClassError(f"class {cls.id!r} has an empty name; give it a display name")
        if cls.parent not in existing and cls.parent not in new:
            raise InvalidClassError(
                f"class {cls.id!r} has an unknown parent {cls.parent!r}: use a WordNet 3.0 noun "
                "wnid or the id of a class defined before it; find one with "
                "`synsetlab taxonomy search TEXT`"
            )
        new[cls.id] = Synset(
            cls.id, (name,), " ".join(cls.gloss.split()), (cls.parent,), (), custom=True
        )
    return list(new.values())
