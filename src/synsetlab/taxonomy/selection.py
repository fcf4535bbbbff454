"""Choosing a challenge's classes: non-overlapping synsets spread across a part of the hierarchy.

ILSVRC's rule is that no chosen class is an ancestor of another, so every image has one correct
label. :func:`select_classes` picks such a set; :func:`find_overlaps` checks any set against it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from synsetlab.taxonomy.errors import TaxonomyError
from synsetlab.taxonomy.wordnet import Taxonomy

__all__ = ["SelectionError", "find_overlaps", "select_classes"]


class SelectionError(TaxonomyError, ValueError):
    """A class selection that cannot be made: no roots, or more classes than the roots hold;
    the message says how many can be picked."""


def select_classes(
    taxonomy: Taxonomy,
    roots: str | Iterable[str],
    count: int | None = None,
    *,
    seed: int = 0,
    candidates: Iterable[str] | None = None,
    leaves_only: bool = True,
) -> list[str]:
    """Pick ``count`` synsets under ``roots`` of which none is an ancestor of another.

    Args:
        taxonomy: where the synsets live (WordNet, perhaps with a workspace's classes).
        roots: one wnid or several; the pool is everything strictly below them.
        count: how many to pick; None picks as many as possible (every leaf of the pool).
        seed: the same seed, pool and count give the same choice.
        candidates: if given, only these wnids may be picked, e.g. ``ilsvrc2012_wnids()`` or
            the classes present in a workspace.
        leaves_only: pick only leaves of the pool, i.e. members with no other member below them
            (WordNet leaves when there are no candidates). With False, a member above other
            members may be picked instead of them.

    The choice is a stratified sample of the hierarchy: the pool is walked as a tree (each member
    under its first parent inside the roots' subtrees) and, at every node, the branches below it
    share the picks in proportion to their size, at random offsets drawn with ``seed``. So 50
    birds are mostly passerines, as most bird species are, and a lone odd leaf directly under
    'bird' (dickeybird) is as likely to be picked as any one species. Several roots take turns.

    Returns:
        The picked wnids, sorted. Raises :class:`SelectionError` when fewer than ``count`` can
        be picked (the message says how many can) and UnknownSynsetError for an unknown root
        or candidate.
    """
    root_list = [roots] if isinstance(roots, str) else list(dict.fromkeys(roots))
    if not root_list:
        raise SelectionError(
            "select_classes needs at least one root wnid: pass one, e.g. n01503061 (bird)"
        )
    subtrees = {root: taxonomy.descendants(root) for root in root_list}
    pool = set().union(*subtrees.values())
    if candidates is not None:
        allowed = set(candidates)
        for wnid in sorted(allowed):
            taxonomy.get(wnid)
        pool &= allowed
    leaves = _pool_leaves(taxonomy, pool, restricted=candidates is not None)
    available = len(leaves)
    if count is None:
        count = available
    if count < 1:
        raise SelectionError(f"count must be at least 1, got {count}")
    if count > available:
        where = ", ".join(root_list) + (" among the candidates" if candidates is not None else "")
        raise SelectionError(
            f"only {available} non-overlapping classes are available under {where}; "
            f"ask for at most {available}, or widen the roots"
        )
    rng = random.Random(seed)
    eligible = leaves if leaves_only else pool
    order = _spread_order(taxonomy, subtrees, root_list, eligible, rng)
    if leaves_only:
        return sorted(order[:count])
    return sorted(_take_compatible(taxonomy, order, leaves, count))


def find_overlaps(taxonomy: Taxonomy, wnids: Iterable[str]) -> list[tuple[str, str]]:
    """Every (ancestor, descendant) pair among ``wnids``, sorted; empty when ILSVRC's rule holds."""
    chosen = set(wnids)
    pairs = []
    for wnid in chosen:
        pairs.extend((above, wnid) for above in taxonomy.ancestors(wnid) & chosen)
    return sorted(pairs)


def _pool_leaves(taxonomy: Taxonomy, pool: set[str], *, restricted: bool) -> set[str]:
    """Members of ``pool`` with no other member below them."""
    if not restricted:
        # The pool is then whole subtrees, so a member with any child has one in the pool.
        return {wnid for wnid in pool if taxonomy.is_leaf(wnid)}
    above_others: set[str] = set()
    for wnid in pool:
        above_others |= taxonomy.ancestors(wnid) & pool
    return pool - above_others


def _spread_order(
    taxonomy: Taxonomy,
    subtrees: dict[str, set[str]],
    roots: list[str],
    eligible: set[str],
    rng: random.Random,
) -> list[str]:
    """``eligible`` in an order that alternates between branches at every level."""
    owner: dict[str, str] = {}  # each member belongs to the first root it is under
    trees: dict[str, dict[str, set[str]]] = {}
    for root in roots:
        tree = trees[root] = {}
        inside = subtrees[root] | {root}
        for wnid in sorted((eligible & subtrees[root]) - owner.keys()):
            owner[wnid] = root
            node = wnid
            while node != root:
                # The first parent inside the subtree makes the DAG a tree, deterministically.
                parent = next(p for p in taxonomy.get(node).parents if p in inside)
                kids = tree.setdefault(parent, set())
                if node in kids:
                    break  # the rest of the path is already in the tree
                kids.add(node)
                node = parent

    def walk(root: str, node: str) -> list[str]:
        kids = sorted(trees[root].get(node, ()))
        order = _proportional_merge([walk(root, kid) for kid in kids], rng)
        if owner.get(node) == root:
            # A member above others competes with its subtree at a random place in its turn.
            order.insert(rng.randint(0, len(order)), node)
        return order

    return _interleave([walk(root, root) for root in roots])


def _proportional_merge(lists: list[list[str]], rng: random.Random) -> list[str]:
    """Merge so that every prefix holds each list's items in proportion to the list's length.

    Item ``j`` of a list of ``n`` sits at ``(j + u) / n`` with ``u`` uniform in [0, 1) per list:
    systematic sampling within each branch, a random phase between branches.
    """
    keyed = []
    for k, items in enumerate(lists):
        phase = rng.random()
        keyed.extend(((j + phase) / len(items), k, item) for j, item in enumerate(items))
    return [item for *_, item in sorted(keyed)]


def _interleave(lists: list[list[str]]) -> list[str]:
    """Round-robin: the first of each list, then the second of each, and so on."""
    out: list[str] = []
    for i in range(max((len(items) for items in lists), default=0)):
        out.extend(items[i] for items in lists if i < len(items))
    return out


def _take_compatible(
    taxonomy: Taxonomy, order: list[str], leaves: set[str], count: int
) -> list[str]:
    """The first ``count`` of ``order`` that overlap no earlier pick and keep ``count`` reachable.

    Pool leaves not below a pick are always compatible with every pick, so a member is taken only
    if the picks plus those leaves still number at least ``count``.
    """
    picked: list[str] = []
    blocked: set[str] = set()  # below some pick
    free_leaves = set(leaves)
    for wnid in order:
        if len(picked) == count:
            break
        if wnid in blocked:
            continue
        below = taxonomy.descendants(wnid)
        if not below.isdisjoint(picked):
            continue
        lost = len(free_leaves & below) + (wnid in free_leaves)
        if len(picked) + 1 + len(free_leaves) - lost < count:
            continue
        picked.append(wnid)
        blocked |= below
        free_leaves -= below
        free_leaves.discard(wnid)
    return picked
