"""A workspace's own classes behave like synsets once added with ``Taxonomy.with_custom``."""

from __future__ import annotations

import pytest

from synsetlab.taxonomy import (
    CustomClass,
    InvalidClassError,
    Taxonomy,
    validate_class_id,
)

MUG = "n03797390"
ENTITY = "n00001740"


def test_custom_classes_behave_like_synsets(wordnet: Taxonomy, with_mugs: Taxonomy) -> None:
    mug = with_mugs.get("ceramic-mug")
    assert mug.custom
    assert mug.name == "ceramic mug"
    assert mug.parents == (MUG,)
    assert len(with_mugs) == len(wordnet) + 2
    assert "travel-mug" in with_mugs
    assert "travel-mug" not in wordnet  # the base taxonomy is unchanged
    assert [s.wnid for s in with_mugs.custom_classes] == ["ceramic-mug", "travel-mug"]
    assert with_mugs.children(MUG) == sorted([*wordnet.children(MUG), "ceramic-mug"])
    assert with_mugs.children("ceramic-mug") == ["travel-mug"]
    assert {"ceramic-mug", "travel-mug"} <= with_mugs.descendants(MUG)
    assert {"ceramic-mug", "travel-mug"} <= with_mugs.descendants(ENTITY)
    assert with_mugs.ancestors("travel-mug") == wordnet.ancestors(MUG) | {MUG, "ceramic-mug"}
    assert with_mugs.depth("travel-mug") == wordnet.depth(MUG) + 2
    assert with_mugs.height(MUG) == 2
    assert wordnet.height(MUG) == 1
    assert with_mugs.is_ancestor(MUG, "travel-mug")
    assert with_mugs.lowest_common_ancestor("travel-mug", "n03063599") == MUG  # coffee mug
    assert with_mugs.hypernym_paths("travel-mug")[0][-3:] == [MUG, "ceramic-mug", "travel-mug"]
    assert with_mugs.leaves_under(MUG) == (wordnet.leaves_under(MUG) - {MUG}) | {"travel-mug"}


def test_custom_classes_are_found(with_mugs: Taxonomy) -> None:
    assert [s.wnid for s in with_mugs.lookup("travel_mug")] == ["travel-mug"]
    assert with_mugs.search("ceramic mug")[0].wnid == "ceramic-mug"
    assert with_mugs.search("travel-mug")[0].wnid == "travel-mug"  # by id
    assert with_mugs.resolve("Travel Mug") == "travel-mug"


def test_search_index_of_base_is_not_changed(wordnet: Taxonomy) -> None:
    mugs = [s.wnid for s in wordnet.lookup("mug")]  # builds the base's index before extending
    assert MUG in mugs
    extended = wordnet.with_custom([CustomClass("mug-2", "mug", "another mug", MUG)])
    # Usual names (first lemmas) first, then by id: "mug-2" sorts before every wnid.
    assert [s.wnid for s in extended.lookup("mug")] == ["mug-2", *mugs]
    assert [s.wnid for s in wordnet.lookup("mug")] == mugs


def test_chained_and_empty_extensions(with_mugs: Taxonomy) -> None:
    more = with_mugs.with_custom([CustomClass("tiny-mug", "tiny mug", "", "travel-mug")])
    assert more.depth("tiny-mug") == with_mugs.depth("travel-mug") + 1
    assert more.height(MUG) == 3
    assert with_mugs.height(MUG) == 2
    assert with_mugs.with_custom([]) is with_mugs


@pytest.mark.parametrize(
    "class_id",
    ["", "a", "Mug", "1mug", "-mug", "mug mug", "mug/2", "m" * 65, "n01530575", "n12345678"],
)
def test_bad_ids_are_refused(class_id: str) -> None:
    with pytest.raises(InvalidClassError, match="invalid class id"):
        validate_class_id(class_id)


@pytest.mark.parametrize("class_id", ["ab", "ceramic-mug", "mug_2.0", "m" * 64, "n1234567", "nx"])
def test_good_ids_pass(class_id: str) -> None:
    assert validate_class_id(class_id) == class_id


def test_wnid_shaped_ids_are_reserved_with_a_clear_message() -> None:
    with pytest.raises(InvalidClassError, match="reserved for WordNet synsets"):
        validate_class_id("n01530575")


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([CustomClass("Mug", "mug", "", MUG)], "invalid class id 'Mug'"),
        ([CustomClass("n99999999", "mug", "", MUG)], "reserved for WordNet"),
        ([CustomClass("ceramic-mug", "mug", "", MUG)], "'ceramic-mug' is already taken"),
        (
            [CustomClass("a-mug", "mug", "", MUG), CustomClass("a-mug", "mug", "", MUG)],
            "'a-mug' is already taken",
        ),
        ([CustomClass("a-mug", "  ", "", MUG)], "'a-mug' has an empty name"),
        ([CustomClass("a-mug", "mug", "", "n99999999")], "unknown parent 'n99999999'"),
        ([CustomClass("a-mug", "mug", "", "later-mug")], "unknown parent 'later-mug'"),
    ],
)
def test_invalid_classes_are_refused(
    with_mugs: Taxonomy, classes: list[CustomClass], message: str
) -> None:
    with pytest.raises(InvalidClassError, match=message):
        with_mugs.with_custom(classes)


def test_invalid_class_error_is_a_value_error(wordnet: Taxonomy) -> None:
    with pytest.raises(ValueError, match=r"use a WordNet 3\.0 noun wnid or the id of a class"):
        wordnet.with_custom([CustomClass("a-mug", "mug", "", "nowhere")])
