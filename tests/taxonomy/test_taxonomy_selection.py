"""Choosing non-overlapping classes under given synsets, and finding overlaps."""

from __future__ import annotations

import time

import pytest

from synsetlab.taxonomy import (
    SelectionError,
    Taxonomy,
    UnknownSynsetError,
    find_overlaps,
    ilsvrc2012_wnids,
    select_classes,
)

ENTITY = "n00001740"
BIRD = "n01503061"
FINCH = "n01529672"
BRAMBLING = "n01530575"
GOLDFINCH = "n01531178"
DOG = "n02084071"
MUG = "n03797390"


def test_count_honoured_without_overlaps(wordnet: Taxonomy) -> None:
    start = time.perf_counter()
    chosen = select_classes(wordnet, BIRD, 50)
    assert time.perf_counter() - start < 0.5  # measured ~10 ms
    assert len(chosen) == len(set(chosen)) == 50
    assert chosen == sorted(chosen)
    assert find_overlaps(wordnet, chosen) == []
    assert all(BIRD in wordnet.ancestors(w) and wordnet.is_leaf(w) for w in chosen)


def test_deterministic_by_seed(wordnet: Taxonomy) -> None:
    assert select_classes(wordnet, BIRD, 50, seed=3) == select_classes(wordnet, [BIRD], 50, seed=3)
    assert select_classes(wordnet, BIRD, 50, seed=1) != select_classes(wordnet, BIRD, 50, seed=2)


def test_picks_are_spread_in_proportion_to_branch_size(wordnet: Taxonomy) -> None:
    oscine = "n01525720"  # songbirds: over a quarter of the bird species in WordNet
    pool = wordnet.leaves_under(BIRD)
    share = len(wordnet.leaves_under(oscine) & pool) / len(pool)
    for seed in range(3):
        chosen = select_classes(wordnet, BIRD, 50, seed=seed)
        observed = sum(oscine in wordnet.ancestors(w) for w in chosen) / 50
        # stratified: within two picks of the branch's share of the leaves (two, as a leaf with
        # several parents is counted under one branch only)
        assert abs(observed - share) <= 2 / 50, (seed, observed, share)
        # and not the first 50 wnids of the pool in some fixed order
        assert chosen != sorted(pool)[:50]


def test_all_available_when_count_is_none(wordnet: Taxonomy) -> None:
    assert set(select_classes(wordnet, FINCH)) == wordnet.leaves_under(FINCH)


def test_too_few_says_how_many(wordnet: Taxonomy) -> None:
    with pytest.raises(SelectionError, match="only 646 non-overlapping classes are available"):
        select_classes(wordnet, BIRD, 647)
    with pytest.raises(SelectionError, match="count must be at least 1"):
        select_classes(wordnet, BIRD, 0)
    with pytest.raises(SelectionError, match="at least one root"):
        select_classes(wordnet, [], 1)
    with pytest.raises(UnknownSynsetError):
        select_classes(wordnet, "n99999999", 1)


def test_candidates_restrict_the_pool(wordnet: Taxonomy) -> None:
    ilsvrc = set(ilsvrc2012_wnids())
    ilsvrc_birds = {w for w in ilsvrc if BIRD in wordnet.ancestors(w)}
    assert len(ilsvrc_birds) == 59
    chosen = select_classes(wordnet, BIRD, 20, candidates=ilsvrc, seed=7)
    assert len(chosen) == 20
    assert set(chosen) <= ilsvrc_birds
    assert set(select_classes(wordnet, BIRD, candidates=ilsvrc)) == ilsvrc_birds
    with pytest.raises(SelectionError, match=r"only 59 .* among the candidates"):
        select_classes(wordnet, BIRD, 60, candidates=ilsvrc)
    with pytest.raises(UnknownSynsetError):
        select_classes(wordnet, BIRD, 1, candidates=["n99999999"])


def test_leaves_of_the_candidates_not_of_wordnet(wordnet: Taxonomy) -> None:
    # finch is above brambling and goldfinch: only the two leaves of this pool qualify.
    pool = [FINCH, BRAMBLING, GOLDFINCH, DOG]
    assert select_classes(wordnet, BIRD, candidates=pool) == [BRAMBLING, GOLDFINCH]
    with pytest.raises(SelectionError, match="only 2"):
        select_classes(wordnet, BIRD, 3, candidates=pool)


def test_any_level_may_pick_inner_synsets_without_overlap(wordnet: Taxonomy) -> None:
    inner = 0
    for seed in range(5):
        chosen = select_classes(wordnet, BIRD, 50, seed=seed, leaves_only=False)
        assert len(chosen) == 50
        assert find_overlaps(wordnet, chosen) == []
        inner += sum(not wordnet.is_leaf(w) for w in chosen)
    assert inner > 0
    # Every leaf is still reachable: picking inner synsets never makes the count impossible.
    assert len(select_classes(wordnet, BIRD, 646, leaves_only=False)) == 646


def test_several_roots(wordnet: Taxonomy) -> None:
    chosen = select_classes(wordnet, [FINCH, MUG], 6, seed=1)
    assert len(chosen) == 6
    assert any(FINCH in wordnet.ancestors(w) for w in chosen)
    assert any(MUG in wordnet.ancestors(w) for w in chosen)


def test_find_overlaps(wordnet: Taxonomy) -> None:
    assert find_overlaps(wordnet, [BRAMBLING, GOLDFINCH]) == []
    assert find_overlaps(wordnet, [BRAMBLING, FINCH, BIRD, DOG]) == [
        (BIRD, FINCH),
        (BIRD, BRAMBLING),
        (FINCH, BRAMBLING),
    ]
    with pytest.raises(UnknownSynsetError):
        find_overlaps(wordnet, ["n99999999"])


def test_custom_classes_can_be_selected(with_mugs: Taxonomy) -> None:
    assert select_classes(with_mugs, MUG, candidates=["ceramic-mug", "travel-mug"]) == [
        "travel-mug"
    ]
    assert "travel-mug" in select_classes(with_mugs, MUG)
