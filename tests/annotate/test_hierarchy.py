"""A yes for a synset is a yes for its ancestors; a no says nothing about them."""

from __future__ import annotations

import pandas as pd
import pytest

from synsetlab.annotate import AnnotationError, ancestors_from_parents, propagate_yes
from synsetlab.taxonomy import Taxonomy

# brambling -> finch -> passerine -> bird; a second parent for the finch, as WordNet allows.
PARENTS = {
    "brambling": ["finch"],
    "finch": ["passerine", "songbird"],
    "songbird": ["passerine"],
    "passerine": ["bird"],
    "dog": ["animal"],
}


def test_ancestors_are_the_transitive_parents() -> None:
    ancestors = ancestors_from_parents(PARENTS)
    assert ancestors["brambling"] == {"finch", "passerine", "songbird", "bird"}
    assert ancestors["passerine"] == {"bird"}
    with pytest.raises(AnnotationError, match="cycle"):
        ancestors_from_parents({"a": ["b"], "b": ["c"], "c": ["a"]})


def test_yes_votes_propagate_up_once_and_never_over_an_explicit_vote() -> None:
    votes = pd.DataFrame(
        {
            "image": ["i1", "i1", "i1", "i2", "i3"],
            "synset": ["brambling", "finch", "bird", "brambling", "dog"],
            "worker": ["w1", "w2", "w1", "w2", "w1"],
            "label": [True, True, False, True, False],
        }
    )
    out = propagate_yes(votes, parents=PARENTS)
    added = out.loc[out["propagated"]]
    assert out.loc[~out["propagated"]].shape[0] == 5
    assert added["label"].all()
    got = set(added[["image", "synset", "worker"]].itertuples(index=False, name=None))
    assert got == {
        # w1's yes on the brambling: its ancestors, except the bird w1 said no to.
        ("i1", "finch", "w1"),
        ("i1", "songbird", "w1"),
        ("i1", "passerine", "w1"),
        # w2's yes on finch and on the brambling (i1) give each ancestor once.
        ("i1", "passerine", "w2"),
        ("i1", "songbird", "w2"),
        ("i1", "bird", "w2"),
        ("i2", "finch", "w2"),
        ("i2", "songbird", "w2"),
        ("i2", "passerine", "w2"),
        ("i2", "bird", "w2"),
    }
    # A no on the dog says nothing about the animal.
    assert not ((out["image"] == "i3") & (out["synset"] == "animal")).any()
    only_birds = propagate_yes(votes, parents=PARENTS, synsets={"bird"})
    assert set(only_birds.loc[only_birds["propagated"], "synset"]) == {"bird"}


def test_propagation_reads_wordnet_parents() -> None:
    wn = Taxonomy.wordnet()
    brambling = "n01530575"
    parents = {w: wn.parents(w) for w in wn.ancestors(brambling) | {brambling}}
    votes = pd.DataFrame(
        {"image": ["i1"], "synset": [brambling], "worker": ["w1"], "label": [True]}
    )
    out = propagate_yes(votes, parents=parents)
    assert set(out.loc[out["propagated"], "synset"]) == wn.ancestors(brambling)


def test_propagation_refuses_votes_without_synsets() -> None:
    with pytest.raises(AnnotationError, match="lack column"):
        propagate_yes(pd.DataFrame({"task": ["a"], "worker": ["w"], "label": [True]}), parents={})
