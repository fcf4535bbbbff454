"""The synset record and the text normalisation that lookups share."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ROOT_WNID", "WNID_PATTERN", "Synset", "normalize_lemma"]

ROOT_WNID = "n00001740"
"""'entity', the single root of the WordNet 3.0 noun hierarchy."""

WNID_PATTERN = re.compile(r"^n\d{8}$")
"""An ImageNet wnid: 'n' and the 8-digit byte offset of the synset in WordNet 3.0's data.noun."""


@dataclass(frozen=True, slots=True)
class Synset:
    """One node of the taxonomy: a WordNet 3.0 noun synset or a workspace's own class."""

    wnid: str  # 'n' + 8-digit offset, or the id of a workspace class
    lemmas: tuple[str, ...]  # WordNet order, first is the usual name; spaces, not underscores
    gloss: str  # WordNet's definition, examples included
    hypernyms: tuple[str, ...] = ()  # '@' pointers: "is a kind of"
    instance_hypernyms: tuple[str, ...] = ()  # '@i' pointers: "is an instance of"
    custom: bool = False  # True for a workspace class, False for WordNet

    @property
    def name(self) -> str:
        """The first lemma, the synset's usual name."""
        return self.lemmas[0]

    @property
    def parents(self) -> tuple[str, ...]:
        """Hypernyms then instance hypernyms: every is-a edge up from this synset."""
        return self.hypernyms + self.instance_hypernyms


def normalize_lemma(text: str) -> str:
    """Lower-case ``text``, read underscores as spaces and collapse runs of white space."""
    return " ".join(text.replace("_", " ").split()).casefold()
