"""Text search over a taxonomy: the index of lemmas and glosses, and how matches are ranked.

:meth:`Taxonomy.search <synsetlab.taxonomy.Taxonomy.search>` offers every synset a rank key
from each matcher here and keeps its best; keys sort by tier first, so a phrase match always
comes before a word match, and a word match before nothing.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Container, Iterable, Iterator

from synsetlab.taxonomy.synset import Synset, normalize_lemma

#: Rank key of a match: tier first, then tier-specific ordering; smaller is better.
Key = tuple[int, int, str, str]

# Words of lemmas and glosses: runs of letters and digits ("t-shirt" is "t" and "shirt").
_WORD = re.compile(r"[^\W_]+")
# Words that say nothing about a class; dropped from word matching unless nothing else is left.
_STOP_WORDS = frozenset({"a", "an", "and", "for", "in", "of", "on", "or", "the", "to", "with"})
# A wnid mistyped by one digit added, dropped, changed or swapped: 'n' and 7 to 9 digits.
_WNID_LIKE = re.compile(r"n\d{7,9}")


class SearchIndex:
    """Normalised lemmas and lower-cased glosses, built on the first lookup or search."""

    def __init__(self, synsets: Iterable[Synset]) -> None:
        self.lemmas: dict[str, list[tuple[int, str]]] = {}
        self.glosses: list[tuple[str, str]] = []
        self._add(synsets)

    def _add(self, synsets: Iterable[Synset]) -> None:
        for s in synsets:
            for position, lemma in enumerate(s.lemmas):
                # WordNet's lemmas are already single-spaced with no underscores left.
                key = normalize_lemma(lemma) if s.custom else lemma.casefold()
                self.lemmas.setdefault(key, []).append((position, s.wnid))
            self.glosses.append((s.wnid, s.gloss.casefold()))

    def extended(self, synsets: list[Synset]) -> SearchIndex:
        """A copy with ``synsets`` added; this index is left as it was."""
        copy = SearchIndex(())
        copy.lemmas = dict(self.lemmas)
        for s in synsets:
            for lemma in s.lemmas:
                key = normalize_lemma(lemma)
                # The copy shares its lists with this index; copy those about to grow.
                copy.lemmas[key] = list(self.lemmas.get(key, ()))
        copy.glosses = list(self.glosses)
        copy._add(synsets)
        return copy

    @functools.cached_property
    def squashed(self) -> dict[str, list[str]]:
        """Lemmas by their letters and digits alone ("tshirt" for "t-shirt"), built on first use."""
        out: dict[str, list[str]] = {}
        for lemma in self.lemmas:
            out.setdefault(_squash(lemma), []).append(lemma)
        return out


def phrase_matches(index: SearchIndex, query: str) -> Iterator[tuple[str, Key]]:
    """Synsets whose lemma or gloss holds the normalised ``query`` as one piece of text.

    Tiers: exact lemma (usual name first), or the query's singular or plural, or the same
    letters apart from spaces and hyphens ("tshirt": "t-shirt"); lemma starting with the
    query; a word of a lemma starting with it; lemma containing it (shorter lemmas first in
    these three); gloss containing it as whole words; gloss containing it anywhere (these two
    by wnid).
    """
    alike = (_forms(query) | set(index.squashed.get(_squash(query), ()))) - {query}
    for lemma in sorted(alike):
        for position, wnid in index.lemmas.get(lemma, ()):
            yield wnid, (1, 2 * position + 1, "", wnid)
    for lemma, hits in index.lemmas.items():
        if query not in lemma:
            continue
        if lemma == query:
            for position, wnid in hits:
                yield wnid, (1, 2 * position, "", wnid)
            continue
        if lemma.startswith(query):
            tier = 2
        elif (" " + lemma).find(" " + query) >= 0:
            tier = 3
        else:
            tier = 4
        for _, wnid in hits:
            yield wnid, (tier, len(lemma), lemma, wnid)
    whole_words = re.compile(r"\b" + re.escape(query) + r"\b")
    for wnid, gloss in index.glosses:
        if query in gloss:
            yield wnid, (5 if whole_words.search(gloss) else 6, 0, "", wnid)


def word_matches(index: SearchIndex, query: str) -> Iterator[tuple[str, Key]]:
    """Synsets that hold the query's words apart, in any order, in lemmas or gloss.

    "ankle boot" is no WordNet lemma, but "chukka boot" (gloss: "a shoe that comes up to the
    ankle") holds both words. A word matches itself and its plural or singular (+s, +es).
    Tier 7: every word found, in a lemma or the gloss; tier 8: some found, one in a lemma.
    Within a tier: more words found, then more found in lemmas, then synsets whose lemmas hold
    the last word (an English compound's head: an ankle boot is a boot), then those where the
    lemma holding a word comes first (the usual name) and is shortest, then by wnid.
    """
    # One-letter words ("t" of "t-shirt") and stop words would match nearly everything.
    words = [w for w in _WORD.findall(query) if len(w) > 1 and w not in _STOP_WORDS]
    if not words:
        return
    in_lemmas: list[dict[str, str]] = []
    in_glosses: list[set[str]] = []
    for forms in map(_forms, words):
        # A substring test first (every form holds the shortest), then the whole-word pattern:
        # scanning costs far less than building a word index of every gloss on first use.
        stem, pattern = min(forms, key=len), _whole_words(forms)
        lemma_orders: dict[str, str] = {}
        for lemma in [lemma for lemma in index.lemmas if stem in lemma]:
            if pattern.search(lemma):
                for position, wnid in index.lemmas[lemma]:
                    # Zero-padded, so the string sorts as (position, length) would.
                    order = f"{min(position, 999):03d}{min(len(lemma), 999):03d}"
                    lemma_orders[wnid] = min(lemma_orders.get(wnid, order), order)
        in_lemmas.append(lemma_orders)
        glosses = [(wnid, gloss) for wnid, gloss in index.glosses if stem in gloss]
        in_glosses.append({wnid for wnid, gloss in glosses if pattern.search(gloss)})
    anywhere = [a.keys() | b for a, b in zip(in_lemmas, in_glosses, strict=True)]
    n = len(words)
    for wnid in set().union(*in_lemmas) | set.intersection(*anywhere):
        found = sum(wnid in hits for hits in anywhere)
        lemma_orders = [hits[wnid] for hits in in_lemmas if wnid in hits]
        headless = wnid not in in_lemmas[-1]
        rank = ((n - found) * (n + 1) + n - len(lemma_orders)) * 2 + headless
        yield wnid, (7 if found == n else 8, rank, min(lemma_orders, default="~"), wnid)


def words_add_nothing(query: str) -> bool:
    """Whether :func:`word_matches` can find only synsets that :func:`phrase_matches` finds
    for the normalised ``query`` (and ranks higher): a lone word whose every form holds it,
    so every lemma or gloss holding a form holds the query. Only a word ending in "s" has a
    form without it, its singular."""
    return _WORD.findall(query) == [query] and not query.endswith("s")


def _forms(word: str) -> set[str]:
    """``word``, its plural and its singular, crudely: enough to match "boots" and "boot"."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("s"):
        forms.add(word[:-1])
    if word.endswith("es"):
        forms.add(word[:-2])
    return {f for f in forms if f}


def _whole_words(forms: set[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(forms))) + r")\b")


def _squash(text: str) -> str:
    return "".join(_WORD.findall(text))


def near_wnids(text: str, known: Container[str]) -> list[str]:
    """Known wnids one typo away from ``text`` (a digit changed, swapped, added or dropped)."""
    text = text.strip()
    if not _WNID_LIKE.fullmatch(text):
        return []
    digits = text[1:]
    found: set[str] = set()
    for i in range(len(digits) + 1):
        head, tail = digits[:i], digits[i:]
        if tail:
            found.add(head + tail[1:])  # dropped
            found.update(head + d + tail[1:] for d in "0123456789")  # changed
        if len(tail) > 1:
            found.add(head + tail[1] + tail[0] + tail[2:])  # swapped
        found.update(head + d + tail for d in "0123456789")  # added
    return sorted(w for w in ("n" + d for d in found if len(d) == 8) if w != text and w in known)


def close_lemmas(index: SearchIndex, query: str, limit: int) -> list[str]:
    """Lemmas spelled like ``query`` (difflib's ratio of at least 0.75), closest first."""
    return difflib.get_close_matches(query, index.lemmas.keys(), n=limit, cutoff=0.75)
