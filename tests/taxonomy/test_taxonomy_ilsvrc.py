"""The ILSVRC-2012 class list and its two numberings."""

from __future__ import annotations

import pytest

from synsetlab.taxonomy import (
    Taxonomy,
    find_overlaps,
    ilsvrc2012_id_to_index,
    ilsvrc2012_id_to_wnid,
    ilsvrc2012_index_to_id,
    ilsvrc2012_wnids,
)


def test_1000_distinct_wordnet_synsets(wordnet: Taxonomy) -> None:
    wnids = ilsvrc2012_wnids()
    assert len(wnids) == len(set(wnids)) == 1000
    assert all(w in wordnet for w in wnids)
    assert find_overlaps(wordnet, wnids) == []  # ILSVRC's rule: no class above another


def test_devkit_id_order() -> None:
    by_id = ilsvrc2012_id_to_wnid()
    assert sorted(by_id) == list(range(1, 1001))
    assert by_id[1] == "n02119789"  # kit fox
    assert by_id[490] == "n01751748"  # sea snake
    assert by_id[1000] == "n03255030"  # dumbbell
    assert ilsvrc2012_wnids("id") == [by_id[i] for i in range(1, 1001)]


def test_sorted_order_is_the_torchvision_class_index(wordnet: Taxonomy) -> None:
    wnids = ilsvrc2012_wnids("sorted")
    assert wnids == sorted(wnids) == ilsvrc2012_wnids()
    assert wnids[0] == "n01440764"
    assert wordnet.get(wnids[0]).name == "tench"
    assert wnids[-1] == "n15075141"
    assert wordnet.get(wnids[-1]).name == "toilet tissue"


def test_id_index_mappings_agree() -> None:
    to_index = ilsvrc2012_id_to_index()
    to_id = ilsvrc2012_index_to_id()
    by_id = ilsvrc2012_id_to_wnid()
    sorted_wnids = ilsvrc2012_wnids("sorted")
    assert sorted(to_index.values()) == list(range(1000))
    assert all(sorted_wnids[to_index[i]] == by_id[i] for i in by_id)
    assert all(to_id[index] == i for i, index in to_index.items())
    assert list(to_id) == list(range(1000))
    assert to_index[1] == 278  # kit fox is class 278 in torchvision's ImageNet
    assert to_index[449] == 0  # tench
    assert to_index[490] == 65  # sea snake
    assert to_index[1000] == 543  # dumbbell


def test_results_are_copies() -> None:
    ilsvrc2012_wnids().clear()
    ilsvrc2012_id_to_wnid().clear()
    assert len(ilsvrc2012_wnids()) == 1000
    assert len(ilsvrc2012_id_to_wnid()) == 1000


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown order 'random': use 'id' or 'sorted'"):
        ilsvrc2012_wnids("random")  # type: ignore[arg-type]
