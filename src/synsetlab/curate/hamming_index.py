"""Pairs of 64-bit hashes within a Hamming radius, without comparing all pairs, in bounded memory.

Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012), done with sorts instead of hash
tables. Split the hashes' bits into ``m`` substrings: if two hashes differ in at most ``r``
bits, some substring differs in at most ``rho = r // m`` of them (pigeonhole). Two substrings
differ in at most ``rho_a + rho_b`` bits exactly when a variant of one with at most ``rho_a``
bits flipped equals a variant of the other with at most ``rho_b`` flipped. So each substring
is one sort of every variant of every hash and a scan of runs of equal keys; candidates are
then checked on all 64 bits. Cost is ``O(K log K)`` for ``K = N x variants``, plus the random
collisions, ``~ K^2 / 2^bits``, which the choice of ``m`` keeps near ``K`` (see :func:`plan`).

Real collections are not uniform: product shots on one background, small greyscale or flat
pictures put thousands of hashes within the radius of each other, and the pairs grow as
``N^2`` (70k such images took over 22 GB). :func:`search` bounds the work and memory
whatever the data (:class:`SearchLimits`):

1. identical hashes are searched once, and chained at distance 0;
2. a run of equal keys longer than ``max_run`` is not listed pair by pair: the hashes whose
   own substring is the run's key count their neighbours among a sample of the run, and
   those with an estimated ``crowd_limit`` or more others within the radius are *crowded*:
   they get no links, and the caller says so instead of returning one giant cluster;
3. the other candidates are checked ``chunk_pairs`` at a time and folded into the ``k``
   nearest others of each hash (the clusters need no more than a spanning set of links); a
   run that is still longer than ``max_run`` is compared in a band of ``max_run`` neighbours
   in hash order (approximate).

Why not faiss's ``IndexBinaryMultiHash`` (same method, one ``unordered_map`` lookup per flip
mask and query): on 100k random hashes at radius 8, 2 cores, it took 5-8 s against 0.6-1.4 s
here, and grew 8-14x from 20k to 100k hashes (its tables fall out of cache) against ~7x (the
sort alone grows 6.6x); it has no bound on the pairs of a crowded set either.
``bench/duplicates.py`` times both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations, pairwise
from math import comb

import numpy as np

from synsetlab.errors import UserError


class SearchError(UserError, ValueError):
    """Search options that cannot be used (a radius beyond 64 bits, a limit below 1)."""


#: Widest substring: its key, a side bit and a 32-bit row number must share one uint64.
MAX_SUBSTRING_BITS = 30
#: Most substrings tried; beyond it the per-substring radius is 0 and collisions explode.
MAX_SUBSTRINGS = 16
#: Keys (8 bytes each, sorted at once) above which a plan is taken only if none is smaller.
MAX_KEYS = 1 << 27

_ID_BITS = np.uint64(32)
_ID_MASK = np.uint64(0xFFFFFFFF)
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each 64-bit integer of ``x`` (any shape, int64 or uint64) as int64."""
    x = np.ascontiguousarray(x)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x.view(np.uint64)).astype(np.int64)
    by_byte = _BYTE_POPCOUNT[x.view(np.uint8)].reshape(*x.shape, 8)
    return by_byte.sum(axis=-1, dtype=np.int64)


def plan(n_a: int, n_b: int, radius: int) -> tuple[int, int, int, int]:
    """The cheapest split for a join of ``n_a`` by ``n_b`` hashes: ``(m, bits, rho_a, rho_b)``.

    ``m`` substrings of ``bits`` bits each, variants of the ``a`` side with up to ``rho_a``
    bits flipped and of the ``b`` side with up to ``rho_b``. The cost model counts keys
    sorted plus expected random collisions of uniformly distributed hashes; plans that would
    sort more than :data:`MAX_KEYS` keys at once lose to any that would not.
    """
    best: tuple[bool, float, tuple[int, int, int, int]] | None = None
    for m in range(1, min(radius + 1, MAX_SUBSTRINGS) + 1):
        bits = min(64 // m, MAX_SUBSTRING_BITS)  # the narrowest substring: most collisions
        rho = radius // m
        rho_a, rho_b = (rho + 1) // 2, rho // 2
        keys_a, keys_b = n_a * _ball(bits, rho_a), n_b * _ball(bits, rho_b)
        cost = m * (keys_a + keys_b + keys_a * keys_b / 2.0**bits)
        candidate = (keys_a + keys_b > MAX_KEYS, cost, (m, bits, rho_a, rho_b))
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    assert best is not None
    return best[2]


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """Bounds on a :func:`search`'s work and memory, whatever the data.

    Memory is ``~ 8 bytes x variants x N`` for the sorted keys (176 MB at 1M hashes and 8
    bits) plus ``~ 100 bytes x chunk_pairs`` for candidates, plus ``~ 50 bytes x k x N`` of
    kept links.
    """

    #: Nearest others kept per hash (``None``: every pair, memory growing with the pairs).
    k: int | None = 16
    #: Hashes with an estimated this many others within the radius are crowded and get no
    #: links (``None``: none are).
    crowd_limit: int | None = 1000
    #: Longest run of equal keys listed pair by pair; longer ones are sampled for crowding.
    max_run: int = 2048
    #: Members of a long run that each of its hashes is compared with to estimate crowding.
    sample: int = 256
    #: Candidate pairs checked at a time (~100 bytes each).
    chunk_pairs: int = 1 << 21

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise SearchError(f"k must be at least 1 (or None for every pair), got {self.k}")
        if self.crowd_limit is not None and self.crowd_limit < 1:
            raise SearchError(f"crowd_limit must be at least 1 (or None), got {self.crowd_limit}")
        if self.max_run < 2 or self.sample < 1 or self.chunk_pairs < self.max_run**2 // 4:
            raise SearchError("max_run >= 2, sample >= 1 and chunk_pairs >= max_run^2 / 4 needed")


#: Every pair, nothing crowded: :func:`pairs_within`'s limits.
EXACT = SearchLimits(k=None, crowd_limit=None)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What :func:`search` found."""

    #: ``(P, 3)`` int64 rows ``(i, j, d)``, sorted; ``i < j`` for a self-search.
    pairs: np.ndarray
    #: ``(N,)`` bool over ``a``: hashes with about ``crowd_limit`` or more others within the
    #: radius. They are in no pair.
    crowded: np.ndarray
    #: ``(N,)`` int64 over ``a``: estimated others within the radius where it was estimated
    #: (hashes of long runs, and identical copies), else 0.
    neighbours: np.ndarray


def pairs_within(a: np.ndarray, b: np.ndarray | None = None, *, radius: int) -> np.ndarray:
    """Every pair of hashes at Hamming distance ``<= radius``, as ``(P, 3)`` int64 rows.

    ``a``: ``(N,)`` int64 (or uint64) hashes. Without ``b``: rows ``(i, j, d)`` with
    ``i < j`` and ``d = popcount(a[i] ^ a[j])``. With ``b`` (``(M,)``): rows ``(i, j, d)``
    for ``a[i]`` against ``b[j]``, any ``i``, ``j``. Rows are sorted by ``(i, j)``. Memory
    grows with the pairs found: on crowded data use :func:`search`.
    """
    return search(a, b, radius=radius, limits=EXACT).pairs


def search(
    a: np.ndarray,
    b: np.ndarray | None = None,
    *,
    radius: int,
    limits: SearchLimits = SearchLimits(),
    exclude: np.ndarray | None = None,
) -> SearchResult:
    """Pairs within ``radius`` bits (see :func:`pairs_within`), each hash keeping its
    ``limits.k`` nearest others, crowded hashes left out (see the module docstring).

    ``exclude``: optional ``(N,)`` bool over ``a`` (and ``b``, which must then have the same
    length, as a mirror or centre of the same pictures): hashes to leave out of every pair.
    Ties between equally near others go to the smaller index.
    """
    if radius < 0 or radius > 64:
        raise SearchError(f"radius must be in [0, 64] bits, got {radius}")
    ua = np.ascontiguousarray(a, dtype=np.int64).view(np.uint64).ravel()
    ub = None if b is None else np.ascontiguousarray(b, dtype=np.int64).view(np.uint64).ravel()
    if max(len(ua), 0 if ub is None else len(ub)) >= 1 << 31:
        raise ValueError("at most 2**31 - 1 hashes per side; shard the search")
    keep_a = np.ones(len(ua), dtype=bool) if exclude is None else ~np.asarray(exclude, bool)
    if ub is not None and exclude is not None and len(ub) != len(ua):
        raise ValueError("exclude needs a and b of the same length")
    side_a = _Side.of(ua, keep_a)
    side_b = None if ub is None else _Side.of(ub, keep_a if exclude is not None else None)
    state = _Pass(side_a, side_b, radius, limits)
    if len(side_a.unique) and (side_b is None or len(side_b.unique)):
        state.run()
    crowded_u, estimate_u = state.crowded(), state.estimate
    found = state.found.drop(crowded_u)
    pairs = _expand(found, side_a, side_b, crowded_u, limits.k is None)
    crowded = np.zeros(len(ua), dtype=bool)
    neighbours = np.zeros(len(ua), dtype=np.int64)
    rows = side_a.rows_kept
    crowded[rows] = crowded_u[side_a.inverse]
    neighbours[rows] = estimate_u[side_a.inverse]
    return SearchResult(pairs=pairs, crowded=crowded, neighbours=neighbours)


@dataclass(frozen=True, slots=True)
class _Side:
    """One side's distinct hashes (sorted), and which kept rows hold each."""

    unique: np.ndarray  # (U,) uint64
    counts: np.ndarray  # (U,) int64 rows holding each
    inverse: np.ndarray  # (R,) index into unique of each kept row
    rows_kept: np.ndarray  # (R,) the kept rows, ascending

    @staticmethod
    def of(u: np.ndarray, keep: np.ndarray | None) -> _Side:
        rows = np.arange(len(u)) if keep is None else np.flatnonzero(keep)
        unique, inverse, counts = np.unique(u[rows], return_inverse=True, return_counts=True)
        return _Side(unique, counts.astype(np.int64), inverse.ravel(), rows)

    def rows_of(self) -> tuple[np.ndarray, np.ndarray]:
        """Kept rows grouped by distinct hash, and where each group starts (``(U + 1,)``)."""
        order = np.argsort(self.inverse, kind="stable")
        return self.rows_kept[order], np.concatenate([[0], np.cumsum(self.counts)])


class _Pass:
    """One sort per substring: long runs sampled for crowding and banded, short runs listed,
    candidates checked on all bits and folded into the nearest others of each hash.

    A hash found crowded in a later substring may already have links: they are dropped at the
    end (:meth:`_Nearest.drop`), so its neighbours may keep fewer than ``k`` links.
    """

    def __init__(self, a: _Side, b: _Side | None, radius: int, limits: SearchLimits) -> None:
        self.a, self.other, self.self_join = a, a if b is None else b, b is None
        self.radius, self.limits = radius, limits
        # Identical copies are neighbours at distance 0.
        self.estimate = a.counts - 1 if b is None else np.zeros(len(a.unique), dtype=np.int64)
        self.count = np.zeros(len(a.unique), dtype=np.int64)
        self.key_b = np.zeros(0, dtype=np.uint64)  # the other side's substrings, per pass
        self.found = _Nearest(len(a.unique), limits.k, limits.chunk_pairs, self_join=self.self_join)

    def crowded(self) -> np.ndarray:
        if self.limits.crowd_limit is None:
            return np.zeros(len(self.a.unique), dtype=bool)
        return self.estimate >= self.limits.crowd_limit

    def run(self) -> None:
        m, _, rho_a, rho_b = plan(len(self.a.unique), len(self.other.unique), self.radius)
        symmetric = self.self_join and rho_a == rho_b
        for c in range(m):
            bits = min(len(range(c, 64, m)), MAX_SUBSTRING_BITS)
            key_a = _substring(self.a.unique, c, m, bits)
            if symmetric:  # one set of variants: every pair of a run
                self.key_b = key_a
                entries = _entries(key_a, None, bits, rho_a, rho_b)
            else:
                self.key_b = _substring(self.other.unique, c, m, bits)
                entries = _entries(key_a, self.key_b, bits, rho_a, rho_b)
            if not len(entries):
                continue
            if symmetric:
                entries = _owners_first(entries, key_a)
            starts, ends = _run_bounds(entries)
            index = (entries & _ID_MASK).astype(np.int64)
            is_b = ((entries >> _ID_BITS) & np.uint64(1)).astype(bool)
            long = (ends - starts) > self.limits.max_run
            # Close pairs found in the run keyed by a hash's own substring, counted once per
            # substring: a lower bound of its neighbours, whatever the variants repeat.
            self.count = np.zeros(len(self.a.unique), dtype=np.int64)
            for r in np.flatnonzero(long).tolist():
                key = entries[starts[r]] >> np.uint64(33)
                self._long_run(index[starts[r] : ends[r]], is_b[starts[r] : ends[r]],
                               key_a, key, symmetric)  # fmt: skip
            run_key = entries >> np.uint64(33)
            partners = _first_partners(run_key, key_a[index]) if symmetric else None
            for left, right in _short_run_pairs(starts[~long], ends[~long], is_b, partners,
                                                self.limits.chunk_pairs):  # fmt: skip
                self._check(index[left], index[right], key_a, run_key[left])
            self.estimate = np.maximum(self.estimate, self.count)

    def _check(
        self, i: np.ndarray, j: np.ndarray, key_a: np.ndarray, run_key: np.ndarray | np.uint64
    ) -> None:
        # Hashes with equal substrings share the runs of all their variants (22 at 21 bits
        # and one flip): keep their pair in the run of the substring itself only. In crowded
        # data most candidates are such repeats.
        run_key = np.broadcast_to(run_key, i.shape)
        same = key_a[i] == self.key_b[j]
        keep = ~same | (key_a[i] == run_key)
        i, j, run_key = i[keep], j[keep], run_key[keep]
        d = popcount64(self.a.unique[i] ^ self.other.unique[j])
        close = d <= self.radius
        i, j, d, run_key = i[close], j[close], d[close], run_key[close]
        self.found.add(i, j, d)
        own = (key_a[i] == run_key) & (i != j)
        # In place, O(pairs): a bincount per chunk would sweep all N hashes each time.
        np.add.at(self.count, i[own], self.other.counts[j[own]])
        if self.self_join:
            own = (key_a[j] == run_key) & (i != j)
            np.add.at(self.count, j[own], self.a.counts[i[own]])

    def _long_run(
        self, index: np.ndarray, is_b: np.ndarray, key_a: np.ndarray, key: np.uint64,
        symmetric: bool,
    ) -> None:  # fmt: skip
        """Estimate the crowding of the hashes whose own substring keys the run (each hash is
        estimated at most once per substring), then compare the rest in a band."""
        a_idx = np.sort(index if symmetric else index[~is_b])
        b_idx = a_idx if symmetric else np.sort(index[is_b])
        owner = a_idx[key_a[a_idx] == key]
        self._sample(owner, b_idx)
        if self.limits.crowd_limit is not None:  # only the run's members: runs are many
            a_idx = a_idx[self.estimate[a_idx] < self.limits.crowd_limit]
            if self.self_join:
                b_idx = b_idx[self.estimate[b_idx] < self.limits.crowd_limit]
        half = self.limits.max_run // 2
        offsets = np.arange(-half, half + 1)
        per_chunk = max(1, self.limits.chunk_pairs // len(offsets))
        centre = np.searchsorted(b_idx, a_idx)
        for s in range(0, len(a_idx), per_chunk):
            pos = centre[s : s + per_chunk, None] + offsets[None, :]
            ok = (pos >= 0) & (pos < len(b_idx))
            left = np.broadcast_to(a_idx[s : s + per_chunk, None], pos.shape)[ok]
            self._check(left, b_idx[pos[ok]], key_a, key)

    def _sample(self, owner: np.ndarray, member: np.ndarray) -> None:
        """Raise ``estimate[owner]`` to the weight within the radius of a sample of
        ``member``, scaled to the members' weight: a lower bound of its neighbours (the run's
        members are some of them), up to sampling noise."""
        if not len(owner):
            return
        step = max(1, len(member) // self.limits.sample)
        sample = member[::step][: self.limits.sample]
        weight = self.other.counts[sample]
        scale = self.other.counts[member].sum() / max(int(weight.sum()), 1)
        per_chunk = max(1, self.limits.chunk_pairs // len(sample))
        for start in range(0, len(owner), per_chunk):
            rows = owner[start : start + per_chunk]
            d = popcount64(self.a.unique[rows][:, None] ^ self.other.unique[sample][None, :])
            est = np.rint(((d <= self.radius) * weight).sum(axis=1) * scale).astype(np.int64)
            if self.self_join:
                est -= 1  # a sampled hash found itself
            self.estimate[rows] = np.maximum(self.estimate[rows], est)


def _entries(
    key_a: np.ndarray, key_b: np.ndarray | None, bits: int, rho_a: int, rho_b: int
) -> np.ndarray:
    """Sorted entries ``key << 33 | side << 32 | index`` of both sides' variants (side 0:
    ``a``, 1: ``b``; without ``key_b``, ``a``'s variants alone), in runs of two or more."""
    packed = _variants(key_a, bits, rho_a)
    merged = ((packed >> _ID_BITS) << np.uint64(33)) | (packed & _ID_MASK)
    if key_b is not None:
        packed = _variants(key_b, bits, rho_b)
        side_b = ((packed >> _ID_BITS) << np.uint64(33)) | np.uint64(1 << 32)
        merged = np.concatenate([merged, side_b | (packed & _ID_MASK)])
    return _in_shared_runs(np.sort(merged), np.uint64(33))


def _run_bounds(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (one past) of each run of equal keys of sorted ``entries``."""
    key = entries >> np.uint64(33)
    starts = np.flatnonzero(np.insert(key[1:] != key[:-1], 0, True))
    return starts, np.append(starts[1:], len(key))


def _owners_first(entries: np.ndarray, key_a: np.ndarray) -> np.ndarray:
    """Sorted ``entries`` reordered inside each run: first the hashes whose own substring is
    the run's key (its owners), then the others grouped by their substring."""
    run_key = entries >> np.uint64(33)
    own_key = key_a[(entries & _ID_MASK).astype(np.int64)]
    group = np.where(own_key == run_key, np.uint64(0), own_key + np.uint64(1))
    # Keys have at most MAX_SUBSTRING_BITS (30) bits: one 61-bit sort key, a stable sort.
    return entries[np.argsort((run_key << np.uint64(31)) | group, kind="stable")]


def _first_partners(run_key: np.ndarray, own_key: np.ndarray) -> np.ndarray:
    """Per entry of :func:`_owners_first` order, the first later entry of its run to pair
    with: the next one for an owner, the first past its group for the others.

    Hashes with one substring ``k`` meet in the run of each variant of ``k``; they are paired
    in the run of ``k`` itself only (where they are owners), instead of 22 times.
    """
    n = len(run_key)
    is_owner = own_key == run_key
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (run_key[1:] != run_key[:-1]) | (own_key[1:] != own_key[:-1])
    starts = np.flatnonzero(new_group)
    group_end = np.repeat(np.append(starts[1:], n), np.diff(np.append(starts, n)))
    return np.where(is_owner, np.arange(n) + 1, group_end)


def _short_run_pairs(
    starts: np.ndarray,
    ends: np.ndarray,
    is_b: np.ndarray,
    partners: np.ndarray | None,
    chunk: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Positions of the pairs of the runs, about ``chunk`` pairs at a time, vectorised:
    each ``a``-entry with each ``b``-entry; or (given ``partners``, a self-join) each entry
    with the later entries of its run from ``partners[entry]`` on."""
    if not len(starts):
        return
    length = ends - starts
    if partners is not None:
        run_end = np.repeat(ends, length)
        pos = _repeat_ranges(starts, length)
        later = run_end - partners[pos]
        work = np.add.reduceat(later, np.cumsum(length) - length) if len(later) else later
    else:
        n_b = np.add.reduceat(is_b.astype(np.int64), starts)[: len(starts)]
        n_a = length - n_b
        work = n_a * n_b
    chunk_of = (np.cumsum(work) - 1) // chunk
    bounds = [*np.flatnonzero(np.diff(chunk_of, prepend=-1)).tolist(), len(starts)]
    offset = np.concatenate([[0], np.cumsum(length)])  # runs' first entry in pos
    for lo, hi in pairwise(bounds):
        if partners is not None:
            p = pos[offset[lo] : offset[hi]]
            count = later[offset[lo] : offset[hi]]
            yield np.repeat(p, count), _repeat_ranges(partners[p], count)
        else:  # in a run, a-entries sort before b-entries
            s, na, nb = starts[lo:hi], n_a[lo:hi], n_b[lo:hi]
            counts = na * nb
            run = np.repeat(np.arange(len(s)), counts)
            k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            yield s[run] + k // nb[run], s[run] + na[run] + k % nb[run]


class _Nearest:
    """The ``k`` nearest others of each index, folded in from chunks of pairs (all pairs
    when ``k`` is None): memory ``O(k N + chunk)`` whatever the data."""

    def __init__(self, n: int, k: int | None, chunk: int, *, self_join: bool) -> None:
        self.k, self.chunk, self.self_join = k, chunk, self_join
        self.parts: list[np.ndarray] = []
        self.pending = self.kept = 0
        # Distance of each index's k-th nearest so far: a farther candidate cannot enter.
        self.worst = np.full(n, 1 << 30, dtype=np.int64)

    def add(self, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> None:
        if self.self_join:
            keep = (i != j) & (d <= np.maximum(self.worst[i], self.worst[j]))
            i, j, d = np.minimum(i, j)[keep], np.maximum(i, j)[keep], d[keep]
        else:
            keep = d <= self.worst[i]
            i, j, d = i[keep], j[keep], d[keep]
        self.parts.append(np.stack([i, j, d], axis=1).astype(np.int64))
        self.pending += len(i)
        # Reduce when the new rows outnumber the kept ones: each row is sorted O(1) times.
        if self.pending > max(2 * self.chunk, self.kept):
            rows = self._reduce()
            self.parts, self.pending, self.kept = [rows], 0, len(rows)

    def drop(self, crowded: np.ndarray) -> np.ndarray:
        """The pairs found, without those of ``crowded`` ``a`` hashes (and ``b`` ones in a
        self-join), each hash's ``k`` nearest of the rest."""
        rows = self._reduce()
        keep = ~crowded[rows[:, 0]]
        if self.self_join:
            keep &= ~crowded[rows[:, 1]]
        self.parts = [rows[keep]]
        return self._reduce()

    def _reduce(self) -> np.ndarray:
        rows = np.concatenate(self.parts) if self.parts else np.empty((0, 3), dtype=np.int64)
        # The same pair comes from several variants and substrings: one row each.
        code = rows[:, 0] * (1 << 31) + rows[:, 1]
        _, first = np.unique(code, return_index=True)
        rows = rows[first]
        if self.k is None or not len(rows):
            return rows
        # Each row is a candidate of both its ends (a self-join) or of its a-end.
        ends = [(0, 1), (1, 0)] if self.self_join else [(0, 1)]
        kept = np.zeros(len(rows), dtype=bool)
        for own, _ in ends:
            # Rows are sorted by (i, j): a stable sort on (owner, distance) orders ties by
            # the other end (lexsort on three keys cost 3x more).
            order = np.argsort(rows[:, own] * 128 + rows[:, 2], kind="stable")
            owner = rows[order, own]
            starts = np.flatnonzero(np.insert(owner[1:] != owner[:-1], 0, True))
            rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
            kept[order[rank < self.k]] = True
            at_k = order[rank == self.k - 1]
            self.worst[rows[at_k, own]] = rows[at_k, 2]
        return rows[kept]


def _expand(
    pairs: np.ndarray, a: _Side, b: _Side | None, crowded: np.ndarray, every: bool
) -> np.ndarray:
    """Pairs of distinct hashes as pairs of rows, sorted.

    ``every``: each row of one hash with each row of the other, and identical rows with
    each other (a self-search). Otherwise the first (smallest) row of each hash stands for
    it, and identical rows pair with their first (distance 0), so links stay ``O(k N)``.
    """
    rows_a, start_a = a.rows_of()
    rows_b, start_b = (rows_a, start_a) if b is None else b.rows_of()
    i, j, d = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    out = []
    if every:
        count = (start_a[i + 1] - start_a[i]) * (start_b[j + 1] - start_b[j])
        pair = np.repeat(np.arange(len(pairs)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        width = (start_b[j + 1] - start_b[j])[pair]
        left = rows_a[start_a[i[pair]] + k // width]
        right = rows_b[start_b[j[pair]] + k % width]
        out.append(np.stack([left, right, d[pair]], axis=1))
        if b is None:  # identical hashes: every pair of their rows
            n = a.counts
            count = n * (n - 1) // 2
            out.append(_within_groups(rows_a, start_a, count))
    else:
        out.append(np.stack([rows_a[start_a[i]], rows_b[start_b[j]], d], axis=1))
        if b is None:  # identical rows: each with its group's first (smallest) row
            member = np.ones(len(rows_a), dtype=bool)
            member[start_a[:-1]] = False
            member &= ~np.repeat(crowded, a.counts)
            at = np.flatnonzero(member)
            first = rows_a[np.repeat(start_a[:-1], a.counts)[at]]
            out.append(np.stack([first, rows_a[at], np.zeros_like(at)], axis=1))
    rows = np.concatenate(out).astype(np.int64) if out else np.empty((0, 3), dtype=np.int64)
    if b is None:
        rows[:, :2].sort(axis=1)
    # Identical hashes of both sides meet twice: one row per pair.
    _, first = np.unique(rows[:, 0] * (1 << 31) + rows[:, 1], return_index=True)
    return rows[first]


def _within_groups(rows: np.ndarray, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``(P, 3)``: every pair of rows inside each group (distance 0)."""
    out = []
    for g in np.flatnonzero(count).tolist():
        members = rows[start[g] : start[g + 1]]
        p, q = np.triu_indices(len(members), 1)
        out.append(np.stack([members[p], members[q], np.zeros_like(p)], axis=1))
    return np.concatenate(out) if out else np.empty((0, 3), dtype=np.int64)


def _ball(bits: int, rho: int) -> int:
    return sum(comb(bits, k) for k in range(rho + 1))


def _substring(u: np.ndarray, c: int, m: int, bits: int) -> np.ndarray:
    """Substring ``c``: ``bits`` bits ``c, c + m, c + 2m, ...`` of each hash, low to high.

    Interleaved rather than contiguous: a pHash's bits run from low to high frequency, and the
    low ones are skewed (the DC bit is almost always set), so each substring gets a fair share.
    """
    out = np.zeros(len(u), dtype=np.uint64)
    one = np.uint64(1)
    for k in range(bits):
        out |= ((u >> np.uint64(c + k * m)) & one) << np.uint64(k)
    return out


def _variants(key: np.ndarray, bits: int, rho: int) -> np.ndarray:
    """``(N * V,)`` packed ``variant << 32 | row``: each key with up to ``rho`` bits flipped."""
    masks = [0]
    for k in range(1, rho + 1):
        masks += [sum(1 << p for p in flips) for flips in combinations(range(bits), k)]
    flipped = key[:, None] ^ np.asarray(masks, dtype=np.uint64)
    rows = np.arange(len(key), dtype=np.uint64)[:, None]
    return ((flipped << _ID_BITS) | rows).ravel()


def _in_shared_runs(sorted_packed: np.ndarray, packed_shift: np.uint64) -> np.ndarray:
    """Drop entries whose key occurs once: most of them, and they pair with nothing."""
    key = sorted_packed >> packed_shift
    same_next = np.append(key[1:] == key[:-1], False)
    same_prev = np.insert(key[1:] == key[:-1], 0, False)
    return sorted_packed[same_next | same_prev]


def _repeat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    total = int(counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets
