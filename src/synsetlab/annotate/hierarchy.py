"""A yes for a synset is a yes for its ancestors: an image of a brambling shows a bird.

The hierarchy comes in as a parent map (synset -> its parents; WordNet nouns may have several),
e.g. ``{w: taxonomy.parents(w) for w in taxonomy}``, so that this module needs no catalog.
:func:`propagate_yes` adds, for every yes vote, a yes by the same worker on the same image for
each ancestor, so that the question is never asked twice. A no says nothing about the
ancestors (not a dog may still be an animal), and an explicit vote of the worker on the
ancestor is never overridden.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping

import pandas as pd

from synsetlab.annotate.errors import AnnotationError

__all__ = ["ancestors_from_parents", "propagate_yes"]

_COLUMNS = ("image", "synset", "worker", "label")


def ancestors_from_parents(
    parents: Mapping[Hashable, Iterable[Hashable]],
) -> dict[Hashable, frozenset[Hashable]]:
    """Every synset's ancestors (transitive parents, itself excluded) from a parent map.

    Synsets named only as parents are roots. A cycle is refused with :class:`AnnotationError`.
    """
    parents = {child: tuple(ps) for child, ps in parents.items()}
    ancestors: dict[Hashable, frozenset[Hashable]] = {}

    def visit(synset: Hashable, path: tuple[Hashable, ...]) -> frozenset[Hashable]:
        if synset in ancestors:
            return ancestors[synset]
        if synset in path:
            cycle = " -> ".join(map(str, (*path[path.index(synset) :], synset)))
            raise AnnotationError(f"the parent map has a cycle ({cycle}): a hierarchy has none")
        found: set[Hashable] = set()
        for parent in parents.get(synset, ()):
            found.add(parent)
            found |= visit(parent, (*path, synset))
        ancestors[synset] = frozenset(found)
        return ancestors[synset]

    # An explicit stack would avoid recursion limits; WordNet's noun depth is under 20.
    for synset in parents:
        visit(synset, ())
    return ancestors


def propagate_yes(
    votes: pd.DataFrame,
    *,
    parents: Mapping[Hashable, Iterable[Hashable]],
    synsets: Collection[Hashable] | None = None,
) -> pd.DataFrame:
    """``votes`` with a yes added on each ancestor of every synset voted yes.

    ``votes``: one row per vote, columns ``image``, ``synset``, ``worker``, ``label`` (bool).
    ``parents``: synset -> parent synsets. ``synsets``: if given, only ancestors among them
    (the synsets being verified) get votes. Returns the votes with a bool column
    ``propagated`` (False on the given rows), the added rows last; a worker gets at most one
    vote per (image, synset), and an explicit vote always wins over a propagated one.
    """
    missing = [c for c in _COLUMNS if c not in votes.columns]
    if missing:
        raise AnnotationError(
            f"votes lack column(s) {', '.join(missing)}: propagation needs "
            f"{', '.join(_COLUMNS)}, one row per vote"
        )
    ancestors = ancestors_from_parents(parents)
    wanted = None if synsets is None else set(synsets)
    given = votes.assign(propagated=False).reset_index(drop=True)
    yes = given.loc[given["label"].astype(bool), ["image", "synset", "worker"]]
    added = [
        (image, ancestor, worker)
        for image, synset, worker in yes.itertuples(index=False)
        for ancestor in ancestors.get(synset, ())
        if wanted is None or ancestor in wanted
    ]
    extra = pd.DataFrame(added, columns=["image", "synset", "worker"]).drop_duplicates()
    key = ["image", "synset", "worker"]
    explicit = pd.MultiIndex.from_frame(given[key])
    extra = extra.loc[~pd.MultiIndex.from_frame(extra).isin(explicit)]
    extra = extra.assign(label=True, propagated=True)
    return pd.concat([given, extra], ignore_index=True)
