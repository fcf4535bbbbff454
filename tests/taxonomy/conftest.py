"""Fixtures for the taxonomy tests: the real embedded WordNet, loaded once per session."""

from __future__ import annotations

import pytest

from synsetlab.taxonomy import CustomClass, Taxonomy

MUG = "n03797390"  # mug: "with handle and usually cylindrical"


@pytest.fixture(scope="session")
def wordnet() -> Taxonomy:
    """The embedded WordNet 3.0 noun hierarchy."""
    return Taxonomy.wordnet()


@pytest.fixture(scope="session")
def with_mugs(wordnet: Taxonomy) -> Taxonomy:
    """WordNet plus two workspace classes: a mug kind and a sub-kind of it."""
    return wordnet.with_custom(
        [
            CustomClass("ceramic-mug", "ceramic mug", "a mug made of fired clay", MUG),
            CustomClass(
                "travel-mug", "Travel Mug", "a lidded, insulated ceramic mug", "ceramic-mug"
            ),
        ]
    )
