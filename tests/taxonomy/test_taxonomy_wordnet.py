"""The embedded WordNet 3.0 noun hierarchy: contents, lookups and relations on real synsets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import chain

import pytest

from synsetlab.taxonomy import (
    ROOT_WNID,
    AmbiguousNameError,
    Synset,
    Taxonomy,
    UnknownSynsetError,
    normalize_lemma,
)
from synsetlab.taxonomy._search import Key, SearchIndex, phrase_matches, word_matches

ENTITY = ROOT_WNID
ANIMAL = "n00015388"
BIRD = "n01503061"
FINCH = "n01529672"
BRAMBLING = "n01530575"
GOLDFINCH = "n01531178"
DOG = "n02084071"
CAT = "n02121808"
CARNIVORE = "n02075296"
DUMBBELL = "n03255030"
WHOLE = "n00003553"
VERTEBRATE = "n01471682"
NILE = "n09371360"
RIVER = "n09411430"


def test_holds_every_wordnet30_noun_synset(wordnet: Taxonomy) -> None:
    assert len(wordnet) == 82115
    assert ENTITY in wordnet
    assert "n99999999" not in wordnet
    assert 12345 not in wordnet
    assert [w for w in wordnet if not wordnet.get(w).parents] == [ENTITY]


def test_wordnet_is_loaded_once_and_fast() -> None:
    start = time.perf_counter()
    first = Taxonomy.wordnet()
    assert time.perf_counter() - start < 3.0  # measured ~0.3 s; generous for slow CI machines
    assert Taxonomy.wordnet() is first


def test_synset_record(wordnet: Taxonomy) -> None:
    brambling = wordnet.get(BRAMBLING)
    assert brambling == Synset(
        BRAMBLING, ("brambling", "Fringilla montifringilla"), "Eurasian finch", (FINCH,), ()
    )
    assert brambling.name == "brambling"
    assert brambling.parents == (FINCH,)
    assert not brambling.custom
    assert wordnet[BRAMBLING] is brambling


def test_instance_hypernyms_are_kept_apart_and_count_as_is_a(wordnet: Taxonomy) -> None:
    nile = wordnet.get(NILE)
    assert nile.hypernyms == ()
    assert nile.instance_hypernyms == (RIVER,)
    assert wordnet.parents(NILE) == [RIVER]
    assert NILE in wordnet.children(RIVER)
    assert RIVER in wordnet.ancestors(NILE)
    assert NILE in wordnet.descendants(RIVER)
    assert wordnet.hypernym_paths(NILE)[0][0] == ENTITY


def test_unknown_wnid_says_what_to_do(wordnet: Taxonomy) -> None:
    with pytest.raises(UnknownSynsetError) as info:
        wordnet.get("n99999999")
    message = str(info.value)
    assert message.startswith("unknown synset 'n99999999': not a WordNet 3.0 noun synset")
    assert "synsetlab taxonomy search TEXT" in message
    assert isinstance(info.value, KeyError)
    for method in (
        wordnet.children,
        wordnet.parents,
        wordnet.ancestors,
        wordnet.descendants,
        wordnet.depth,
        wordnet.height,
        wordnet.hypernym_paths,
        wordnet.leaves_under,
    ):
        with pytest.raises(UnknownSynsetError):
            method("n99999999")
    with pytest.raises(UnknownSynsetError):
        wordnet.lowest_common_ancestor(BRAMBLING, "n99999999")
    with pytest.raises(UnknownSynsetError):
        wordnet.is_ancestor("n99999999", BRAMBLING)


def test_name_of_gives_the_first_lemma_or_a_stand_in(wordnet: Taxonomy) -> None:
    assert wordnet.name_of("n01440764") == "tench"
    assert wordnet.name_of("n99999999") == "n99999999"
    assert wordnet.name_of("n99999999", default="?") == "?"


def test_ancestors_and_descendants(wordnet: Taxonomy) -> None:
    ancestors = wordnet.ancestors(BRAMBLING)
    assert {BIRD, ANIMAL, ENTITY, FINCH} <= ancestors
    assert BRAMBLING not in ancestors
    assert len(ancestors) == 13
    assert BRAMBLING in wordnet.descendants(BIRD)
    assert BIRD not in wordnet.descendants(BIRD)
    assert len(wordnet.descendants(ENTITY)) == 82114
    assert wordnet.descendants(BRAMBLING) == set()
    assert wordnet.is_ancestor(BIRD, BRAMBLING)
    assert not wordnet.is_ancestor(BRAMBLING, BIRD)
    assert not wordnet.is_ancestor(BRAMBLING, BRAMBLING)


def test_parents_children_and_leaves(wordnet: Taxonomy) -> None:
    assert wordnet.parents(BRAMBLING) == [FINCH]
    assert BRAMBLING in wordnet.children(FINCH)
    assert wordnet.children(ENTITY) == ["n00001930", "n00002137", "n04424418"]
    assert wordnet.children(BRAMBLING) == []
    assert wordnet.is_leaf(BRAMBLING)
    assert not wordnet.is_leaf(BIRD)
    assert wordnet.leaves_under(BRAMBLING) == {BRAMBLING}
    bird_leaves = wordnet.leaves_under(BIRD)
    assert len(bird_leaves) == 646
    assert {BRAMBLING, GOLDFINCH} <= bird_leaves
    assert all(wordnet.is_leaf(w) for w in bird_leaves)


def test_multiple_inheritance_paths(wordnet: Taxonomy) -> None:
    # "Crane, Hart Crane": a poet, reached through organism and through causal agent.
    paths = wordnet.hypernym_paths("n10914331")
    assert len(paths) == 2
    assert all(path[0] == ENTITY and path[-1] == "n10914331" for path in paths)
    assert wordnet.depth("n10914331") == min(len(p) for p in paths) - 1


def test_hypernym_path_depth_and_height(wordnet: Taxonomy) -> None:
    [path] = wordnet.hypernym_paths(BRAMBLING)
    assert [wordnet.get(w).name for w in path] == [
        "entity",
        "physical entity",
        "object",
        "whole",
        "living thing",
        "organism",
        "animal",
        "chordate",
        "vertebrate",
        "bird",
        "passerine",
        "oscine",
        "finch",
        "brambling",
    ]
    assert wordnet.depth(ENTITY) == 0
    assert wordnet.depth(BIRD) == 9
    assert wordnet.depth(BRAMBLING) == 13
    assert wordnet.height(BRAMBLING) == 0
    assert wordnet.height(BIRD) == 7
    assert wordnet.height(ENTITY) == 19
    assert wordnet.hypernym_paths(ENTITY) == [[ENTITY]]


@pytest.mark.parametrize(
    ("a", "b", "lca"),
    [
        (BRAMBLING, GOLDFINCH, FINCH),
        (DOG, CAT, CARNIVORE),
        (BRAMBLING, DOG, VERTEBRATE),
        (BRAMBLING, DUMBBELL, WHOLE),
        (BIRD, BRAMBLING, BIRD),
        (BRAMBLING, BIRD, BIRD),
        (BRAMBLING, BRAMBLING, BRAMBLING),
    ],
)
def test_lowest_common_ancestor(wordnet: Taxonomy, a: str, b: str, lca: str) -> None:
    assert wordnet.lowest_common_ancestor(a, b) == lca


def test_lookup_is_exact_case_and_underscore_insensitive(wordnet: Taxonomy) -> None:
    assert [s.wnid for s in wordnet.lookup("sea snake")] == ["n01751748"]
    assert [s.wnid for s in wordnet.lookup("Sea_Snake")] == ["n01751748"]
    assert [s.wnid for s in wordnet.lookup("  fringilla   MONTIFRINGILLA ")] == [BRAMBLING]
    assert wordnet.lookup("sea snak") == []
    cranes = [s.wnid for s in wordnet.lookup("crane")]
    assert cranes[:2] == ["n02012849", "n03126707"]  # the bird and the machine are named crane
    assert len(cranes) == 5


def test_search_ranks_exact_lemmas_first(wordnet: Taxonomy) -> None:
    found = wordnet.search("sea snake")
    assert found[0].wnid == "n01751748"
    assert "n01751621" in [s.wnid for s in found]  # Hydrophidae: "sea snakes" in its gloss
    snakes = [s.wnid for s in wordnet.search("snake", limit=50)]
    assert snakes[0] == "n01726692"  # snake, serpent, ophidian
    assert len(snakes) == 50
    assert len(set(snakes)) == 50
    assert wordnet.search("snake", limit=50) == wordnet.search("snake", limit=50)


def test_search_finds_by_wnid_prefix_and_gloss(wordnet: Taxonomy) -> None:
    assert wordnet.search(BRAMBLING)[0].wnid == BRAMBLING
    goldf = [s.wnid for s in wordnet.search("goldf", limit=5)]
    assert GOLDFINCH in goldf
    # No lemma holds "Eurasian finch"; only brambling's gloss is exactly that.
    assert BRAMBLING in [s.wnid for s in wordnet.search("eurasian finch", limit=None)]
    assert wordnet.search("   ") == []
    assert wordnet.search("zzzzqqq") == []
    assert len(wordnet.search("bird", limit=3)) == 3


CHUKKA_BOOT, CONGRESS_BOOT, BOOT = "n03027625", "n03090710", "n02872752"  # BOOT: the footwear


def test_search_matches_the_words_of_a_query_apart(wordnet: Taxonomy) -> None:
    # "ankle boot" (Fashion-MNIST's class 9) is no WordNet lemma: the boots whose gloss says
    # "ankle" come first, then the synsets named boot.
    found = [s.wnid for s in wordnet.search("ankle boot")]
    assert set(found[:2]) == {CHUKKA_BOOT, CONGRESS_BOOT}
    assert BOOT in found[:8]
    assert [s.wnid for s in wordnet.search("Ankle  Boots")][:3] == found[:3]  # case, plural
    # Singular and plural of an exact lemma rank as exact lemmas.
    assert wordnet.search("boots")[0].name == "boot"
    assert wordnet.search("sea snakes")[0].wnid == "n01751748"
    # The same letters without the hyphen name the same synset.
    assert wordnet.search("tshirt")[0].wnid == "n03595614"  # jersey, T-shirt, tee shirt


def test_suggest_names_what_a_text_that_matches_nothing_may_have_meant(
    wordnet: Taxonomy,
) -> None:
    assert [s.wnid for s in wordnet.suggest("n02872753")] == [BOOT]  # one digit changed
    assert BOOT in [s.wnid for s in wordnet.suggest("n0287275")]  # one digit dropped
    assert BOOT in [s.wnid for s in wordnet.suggest("n028727522")]  # one digit added
    assert BOOT in [s.wnid for s in wordnet.suggest("n02827752")]  # two digits swapped
    assert wordnet.search("bootz") == []
    assert BOOT in [s.wnid for s in wordnet.suggest("bootz")]  # spelled alike
    assert wordnet.suggest("zzzzqqq") == []


def test_search_scans_words_apart_only_where_they_can_add_to_the_result(
    wordnet: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synsetlab.taxonomy.wordnet as module

    def every_scan(text: str, limit: int | None) -> list[str]:
        """What search gave when it always scanned the words apart."""
        query = normalize_lemma(text)
        best = {text: (0, 0, "", "")} if text in wordnet else {}
        for wnid, key in chain(phrase_matches(wordnet._index, query),
                               word_matches(wordnet._index, query)):  # fmt: skip
            if wnid not in best or key < best[wnid]:
                best[wnid] = key
        return sorted(best, key=best.__getitem__)[:limit]

    scanned: list[str] = []
    real = module.word_matches

    def counted(index: SearchIndex, query: str) -> Iterator[tuple[str, Key]]:
        scanned.append(query)
        yield from real(index, query)

    monkeypatch.setattr(module, "word_matches", counted)
    for text, limit, scans in [
        ("brambling", None, False),  # a lone word: every lemma or gloss holding it is a phrase
        ("snakes", None, True),  # its singular is not a phrase match: "snake"
        ("snakes", 20, False),  # 87 phrase matches fill the limit
        ("sea snake", 20, True),  # 2 phrase matches leave room
        (DOG, 1, False),  # the wnid itself
    ]:
        scanned.clear()
        assert [s.wnid for s in wordnet.search(text, limit=limit)] == every_scan(text, limit)
        assert bool(scanned) == scans, text


def test_close_names_suggest_without_searching_again(
    wordnet: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in ("n02872753", "bootz", "zzzzqqq"):
        assert wordnet.close_names(text) == wordnet.suggest(text), text
    monkeypatch.setattr(Taxonomy, "search", lambda *a, **k: pytest.fail("searched again"))
    assert BOOT in [s.wnid for s in wordnet.close_names("bootz")]


def test_resolve_accepts_wnids_and_unambiguous_lemmas(wordnet: Taxonomy) -> None:
    assert wordnet.resolve(BRAMBLING) == BRAMBLING
    assert wordnet.resolve(" brambling ") == BRAMBLING
    with pytest.raises(AmbiguousNameError, match="'crane' names 5 synsets: n02012849"):
        wordnet.resolve("crane")
    with pytest.raises(UnknownSynsetError, match="no synset or class is named 'xyzzy'"):
        wordnet.resolve("xyzzy")
    with pytest.raises(UnknownSynsetError, match="unknown synset 'n99999999'"):
        wordnet.resolve("n99999999")


def test_taxonomy_checks_its_edges() -> None:
    with pytest.raises(ValueError, match="parents missing"):
        Taxonomy([Synset("n00000001", ("orphan",), "", ("n00000002",))])
    tiny = Taxonomy(
        [Synset("n00000002", ("root",), ""), Synset("n00000001", ("kid",), "", ("n00000002",))]
    )
    assert tiny.depth("n00000001") == 1
    assert tiny.height("n00000002") == 1
    assert repr(tiny) == "Taxonomy(2 synsets, 0 custom classes)"


def test_lowest_common_ancestor_is_below_every_other_shared_ancestor(wordnet: Taxonomy) -> None:
    # "dog" is a canine and a domestic animal: the shallow second path must not win.
    chihuahua, japanese_spaniel, toy_dog = "n02085620", "n02085782", "n02085374"
    assert wordnet.lowest_common_ancestor(chihuahua, japanese_spaniel) == toy_dog
