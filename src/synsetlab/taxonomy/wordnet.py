"""The taxonomy: WordNet 3.0's noun hierarchy, optionally extended with a workspace's classes."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources

from synsetlab.taxonomy._search import (
    Key,
    SearchIndex,
    close_lemmas,
    near_wnids,
    phrase_matches,
    word_matches,
    words_add_nothing,
)
from synsetlab.taxonomy._wndb import read_embedded
from synsetlab.taxonomy.custom import CustomClass, custom_synsets
from synsetlab.taxonomy.errors import AmbiguousNameError, UnknownSynsetError
from synsetlab.taxonomy.synset import ROOT_WNID, WNID_PATTERN, Synset, normalize_lemma

__all__ = ["Taxonomy"]

_EMBEDDED_FILE = "wordnet30_nouns.tsv.gz"


class Taxonomy:
    """An immutable is-a hierarchy of synsets, addressed by wnid.

    ``Taxonomy.wordnet()`` is WordNet 3.0's noun hierarchy (82,115 synsets under 'entity',
    n00001740); ``with_custom`` adds a workspace's own classes, which then behave like synsets
    everywhere.

    Both WordNet pointers are is-a edges here: hypernyms ('@', "a brambling is a kind of finch")
    and instance hypernyms ('@i', "the Nile is an instance of river"). ImageNet's hierarchy uses
    both, so ancestors, descendants, depth, paths and leaves all follow both; ``Synset`` keeps them
    apart for callers that care. A synset may have several parents, so the hierarchy is a DAG.

    Derived facts (depth, height, search index) are computed on first use and cached.
    """

    def __init__(self, synsets: Iterable[Synset]) -> None:
        """Build a taxonomy from synsets whose parents are all among them."""
        self._synsets: dict[str, Synset] = {s.wnid: s for s in synsets}
        children: dict[str, list[str]] = {}
        for s in self._synsets.values():
            for parent in s.parents:
                children.setdefault(parent, []).append(s.wnid)
        missing = children.keys() - self._synsets.keys()
        if missing:
            raise ValueError(f"parents missing from the taxonomy: {sorted(missing)[:10]}")
        self._children: dict[str, tuple[str, ...]] = {
            wnid: tuple(sorted(kids)) for wnid, kids in children.items()
        }
        self._depths: dict[str, int] = {}
        self._heights: dict[str, int] = {}

    @classmethod
    def wordnet(cls) -> Taxonomy:
        """The embedded WordNet 3.0 noun hierarchy; loaded once, then shared."""
        return _load_wordnet()

    def with_custom(self, classes: Iterable[CustomClass]) -> Taxonomy:
        """A new taxonomy that adds ``classes`` (a workspace's own classes) to this one.

        Each class becomes a synset (``custom=True``) whose wnid is the class id, whose only lemma
        is its name and whose only hypernym is its parent. Classes are checked in order, so a class
        may have an earlier one as its parent. Raises InvalidClassError for a malformed or taken id,
        an empty name or an unknown parent.
        """
        new = custom_synsets(classes, self._synsets)
        if not new:
            return self
        extended = Taxonomy.__new__(Taxonomy)
        extended._synsets = {**self._synsets, **{s.wnid: s for s in new}}
        extended._children = dict(self._children)
        for s in new:
            extended._children[s.hypernyms[0]] = tuple(
                sorted((*extended._children.get(s.hypernyms[0], ()), s.wnid))
            )
        # New classes add no edge between existing nodes: depths hold, and only heights above a
        # new class can change.
        extended._depths = dict(self._depths)
        extended._heights = dict(self._heights)
        for s in new:
            for wnid in extended.ancestors(s.wnid):
                extended._heights.pop(wnid, None)
        if "_index" in self.__dict__:
            extended.__dict__["_index"] = self._index.extended(new)
        return extended

    # Container protocol ------------------------------------------------------------------------

    def __contains__(self, wnid: object) -> bool:
        return wnid in self._synsets

    def __len__(self) -> int:
        return len(self._synsets)

    def __iter__(self) -> Iterator[str]:
        """The wnids, in the order built (WordNet's sorted), then custom classes as added."""
        return iter(self._synsets)

    def __getitem__(self, wnid: str) -> Synset:
        return self.get(wnid)

    def __repr__(self) -> str:
        custom = sum(1 for s in self._synsets.values() if s.custom)
        return f"Taxonomy({len(self) - custom} synsets, {custom} custom classes)"

    # Single nodes ------------------------------------------------------------------------------

    def get(self, wnid: str) -> Synset:
        """The synset or custom class with this wnid (or class id); UnknownSynsetError if none."""
        try:
            return self._synsets[wnid]
        except KeyError:
            raise UnknownSynsetError(wnid) from None

    def name_of(self, wnid: str, default: str | None = None) -> str:
        """The usual name (first lemma) of ``wnid``; for a wnid the taxonomy lacks, ``default``
        (the wnid itself when None): what labels, plots and tables show."""
        synset = self._synsets.get(wnid)
        if synset is not None:
            return synset.name
        return wnid if default is None else default

    @property
    def custom_classes(self) -> list[Synset]:
        """The workspace classes added by ``with_custom``, in the order added."""
        return [s for s in self._synsets.values() if s.custom]

    def lookup(self, lemma: str) -> list[Synset]:
        """Synsets with ``lemma`` as one of their lemmas.

        Case-insensitive; spaces and underscores are the same. Synsets where the lemma comes
        first (their usual name) come first, then by wnid.
        """
        hits = self._index.lemmas.get(normalize_lemma(lemma), [])
        return [self._synsets[wnid] for _, wnid in sorted(hits)]

    def resolve(self, text: str) -> str:
        """The wnid that ``text`` names: a wnid or class id as is, else a lemma naming one synset.

        Raises UnknownSynsetError when nothing matches and AmbiguousNameError when the lemma names
        several synsets.
        """
        key = text.strip()
        if key in self._synsets:
            return key
        matches = self.lookup(key)
        if not matches:
            if WNID_PATTERN.fullmatch(key):
                raise UnknownSynsetError(key)
            raise UnknownSynsetError(key, lemma=True)
        if len(matches) > 1:
            raise AmbiguousNameError(key, [(s.wnid, s.gloss) for s in matches])
        return matches[0].wnid

    def search(self, text: str, limit: int | None = 20) -> list[Synset]:
        """Synsets matching ``text``, best first; at most ``limit`` (None: all).

        Ranking, each tier ordered deterministically: the wnid or class id itself; exact lemma
        (usual name first); lemma starting with the text; a word of a lemma starting with it;
        lemma containing it (shorter lemmas first in these three); gloss containing it as whole
        words; gloss containing it anywhere (these two by wnid); then the text's words apart,
        in any order and singular or plural: all of them in lemmas or gloss, then some of them
        in a lemma (so "ankle boot", no WordNet lemma, finds "chukka boot", whose gloss says
        "ankle", and then the boots). Case-insensitive; spaces and underscores are the same.
        """
        query = normalize_lemma(text)
        if not query:
            return []
        best: dict[str, Key] = {}
        if text.strip() in self._synsets:
            best[text.strip()] = (0, 0, "", "")
        index = self._index
        scans = [phrase_matches(index, query)]
        # Word matches rank below every phrase match: the word scan (about half a search's
        # time) runs only where it can add a synset to what the phrase scan found.
        if not words_add_nothing(query):
            scans.append(word_matches(index, query))
        for matches in scans:
            if limit is not None and len(best) >= limit:
                break  # phrase matches fill the limit: the word scan would change nothing
            for wnid, key in matches:
                if wnid not in best or key < best[wnid]:
                    best[wnid] = key
        ranked = sorted(best, key=best.__getitem__)
        return [self._synsets[wnid] for wnid in ranked[:limit]]

    def suggest(self, text: str, limit: int = 5) -> list[Synset]:
        """Synsets that ``text`` may have meant when it names none: for a wnid, the known wnids
        one digit away (changed, swapped, added or dropped); for a name, the search's best
        matches, or else lemmas spelled alike ("tshirt": T-shirt)."""
        near = self._near_wnids(text, limit)
        return near or self.search(text, limit=limit) or self._spelled_alike(text, limit)

    def close_names(self, text: str, limit: int = 5) -> list[Synset]:
        """What :meth:`suggest` gives for a ``text`` that :meth:`search` found nothing for,
        without searching again: the wnids one digit away, or else lemmas spelled alike."""
        return self._near_wnids(text, limit) or self._spelled_alike(text, limit)

    def _near_wnids(self, text: str, limit: int) -> list[Synset]:
        return [self._synsets[w] for w in near_wnids(text, self._synsets)[:limit]]

    def _spelled_alike(self, text: str, limit: int) -> list[Synset]:
        query = normalize_lemma(text)
        seen: dict[str, Synset] = {}
        for lemma in close_lemmas(self._index, query, limit) if query else []:
            for s in self.lookup(lemma):
                seen.setdefault(s.wnid, s)
        return list(seen.values())[:limit]

    # Edges -------------------------------------------------------------------------------------

    def parents(self, wnid: str) -> list[str]:
        """Direct is-a parents: hypernyms, then instance hypernyms, in WordNet order."""
        return list(self.get(wnid).parents)

    def children(self, wnid: str) -> list[str]:
        """Direct hyponyms and instances, sorted by wnid."""
        self.get(wnid)
        return list(self._children.get(wnid, ()))

    def is_leaf(self, wnid: str) -> bool:
        """True if nothing is below ``wnid``."""
        self.get(wnid)
        return wnid not in self._children

    # Transitive relations ----------------------------------------------------------------------

    def ancestors(self, wnid: str) -> set[str]:
        """Every wnid above ``wnid`` through any chain of parents, excluding ``wnid``."""
        self.get(wnid)
        return self._closure(wnid, lambda w: self._synsets[w].parents)

    def descendants(self, wnid: str) -> set[str]:
        """Every wnid below ``wnid`` through any chain of children, excluding ``wnid``."""
        self.get(wnid)
        return self._closure(wnid, lambda w: self._children.get(w, ()))

    def leaves_under(self, wnid: str) -> set[str]:
        """The leaves of the subtree rooted at ``wnid``; ``{wnid}`` when it is a leaf itself."""
        if self.is_leaf(wnid):
            return {wnid}
        return {w for w in self.descendants(wnid) if w not in self._children}

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if ``ancestor`` is strictly above ``descendant``."""
        self.get(ancestor)
        return ancestor in self.ancestors(descendant)

    def hypernym_paths(self, wnid: str) -> list[list[str]]:
        """Every path from the root down to ``wnid``, root ('entity') first, ``wnid`` last.

        Paths are listed in the order of the parents at each step (WordNet order).
        """
        self.get(wnid)
        return self._paths(wnid)

    def _paths(self, wnid: str) -> list[list[str]]:
        parents = self._synsets[wnid].parents
        if not parents:
            return [[wnid]]
        return [[*path, wnid] for parent in parents for path in self._paths(parent)]

    def depth(self, wnid: str) -> int:
        """Length of the shortest path up to the root: 'entity' is 0, its children 1."""
        self.get(wnid)
        return self._depth(wnid)

    def _depth(self, wnid: str) -> int:
        depth = self._depths.get(wnid)
        if depth is None:
            parents = self._synsets[wnid].parents
            depth = 1 + min(self._depth(p) for p in parents) if parents else 0
            self._depths[wnid] = depth
        return depth

    def height(self, wnid: str) -> int:
        """Length of the longest path down to a leaf: a leaf is 0."""
        self.get(wnid)
        return self._height(wnid)

    def _height(self, wnid: str) -> int:
        height = self._heights.get(wnid)
        if height is None:
            children = self._children.get(wnid, ())
            height = 1 + max(self._height(c) for c in children) if children else 0
            self._heights[wnid] = height
        return height

    def lowest_common_ancestor(self, a: str, b: str) -> str:
        """The lowest synset that is ``a`` or above it and ``b`` or above it.

        Lowest: no other shared ancestor lies below it. WordNet has synsets with two parents
        ("dog" is a canine and a domestic animal), so there can be several such (dog and cat:
        carnivore, and domestic animal); the deepest by :meth:`depth` is returned, ties to the
        smallest wnid. ``a`` itself when ``a`` is ``b`` or above it (and the other way).
        """
        common = (self.ancestors(a) | {a}) & (self.ancestors(b) | {b})
        above = set().union(*(self.ancestors(w) for w in common))
        lowest = common - above
        return min(lowest, key=lambda w: (-self._depth(w), self._height(w), w))

    # Internals ---------------------------------------------------------------------------------

    @staticmethod
    def _closure(start: str, step: Callable[[str], Iterable[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(step(start))
        while stack:
            wnid = stack.pop()
            if wnid not in seen:
                seen.add(wnid)
                stack.extend(step(wnid))
        return seen

    @functools.cached_property
    def _index(self) -> SearchIndex:
        with _gc_paused():
            return SearchIndex(self._synsets.values())


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small, long-lived objects.

    Loading WordNet creates about a million tuples and strings; each batch of allocations would
    otherwise trigger a collection that scans them all and frees nothing (3x slower load).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def _load_wordnet() -> Taxonomy:
    data = resources.files("synsetlab.taxonomy").joinpath("data", _EMBEDDED_FILE).read_bytes()
    with _gc_paused():
        taxonomy = Taxonomy(read_embedded(data))
    if ROOT_WNID not in taxonomy:
        raise RuntimeError(f"the embedded WordNet has no root {ROOT_WNID}; rebuild it")
    return taxonomy
