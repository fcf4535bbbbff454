"""Every pair of 64-bit hashes within a Hamming radius, without comparing all pairs.

Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012), done with sorts instead of hash
tables. Split the hashes' bits into ``m`` substrings: if two hashes differ in at most ``r``
bits, some substring differs in at most ``rho = r // m`` of them (pigeonhole). Two substrings
differ in at most ``rho_a + rho_b`` bits exactly when a variant of one with at most ``rho_a``
bits flipped equals a variant of the other with at most ``rho_b`` flipped. So each substring
is one sort of every variant of every hash and a scan of runs of equal keys; candidates are
then checked on all 64 bits. Cost is ``O(K log K)`` for ``K = N x variants``, plus the random
collisions, ``~ K^2 / 2^bits``, which the choice of ``m`` keeps near ``K`` (see :func:`plan`).

Why not faiss's ``IndexBinaryMultiHash`` (same method, one ``unordered_map`` lookup per flip
mask and query): on 100k random hashes at radius 8, 2 cores, it took 5-8 s against 0.6-1.4 s
here, and grew 8-14x from 20k to 100k hashes (its tables fall out of cache) against ~7x (the
sort alone grows 6.6x). ``bench/duplicates.py`` times both.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

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


def pairs_within(a: np.ndarray, b: np.ndarray | None = None, *, radius: int) -> np.ndarray:
    """Every pair of hashes at Hamming distance ``<= radius``, as ``(P, 3)`` int64 rows.

    ``a``: ``(N,)`` int64 (or uint64) hashes. Without ``b``: rows ``(i, j, d)`` with
    ``i < j`` and ``d = popcount(a[i] ^ a[j])``. With ``b`` (``(M,)``): rows ``(i, j, d)``
    for ``a[i]`` against ``b[j]``, any ``i``, ``j``. Rows are sorted by ``(i, j)``.
    """
    if radius < 0 or radius > 64:
        raise ValueError(f"radius must be in [0, 64] bits, got {radius}")
    ua = np.ascontiguousarray(a, dtype=np.int64).view(np.uint64).ravel()
    ub = None if b is None else np.ascontiguousarray(b, dtype=np.int64).view(np.uint64).ravel()
    n_b = len(ua) if ub is None else len(ub)
    if max(len(ua), n_b) >= 1 << 31:
        raise ValueError("at most 2**31 - 1 hashes per side; shard the search")
    if len(ua) == 0 or n_b == 0:
        return np.empty((0, 3), dtype=np.int64)
    m, _, rho_a, rho_b = plan(len(ua), n_b, radius)
    other = ua if ub is None else ub
    found = []
    for c in range(m):
        bits = min(len(range(c, 64, m)), MAX_SUBSTRING_BITS)
        key_a = _substring(ua, c, m, bits)
        if ub is None and rho_a == rho_b:
            i, j = _self_join(_variants(key_a, bits, rho_a))
        else:
            key_b = _substring(other, c, m, bits)
            i, j = _cross_join(_variants(key_a, bits, rho_a), _variants(key_b, bits, rho_b))
        if ub is None:
            i, j = np.minimum(i, j), np.maximum(i, j)
        keep = (popcount64(ua[i] ^ other[j]) <= radius) & ((i != j) | (ub is not None))
        found.append(i[keep] * n_b + j[keep])
    # A pair close in several substrings, or matched by several variants, is found repeatedly.
    code = np.unique(np.concatenate(found))
    i, j = np.divmod(code, n_b)
    return np.stack([i, j, popcount64(ua[i] ^ other[j])], axis=1)


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


def _self_join(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(p, q)`` sharing a key, each unordered pair of entries once."""
    packed = _in_shared_runs(np.sort(packed), packed_shift=_ID_BITS)
    key = packed >> _ID_BITS
    run_end = _run_ends(key)
    # Entry at position p pairs with every later entry of its run.
    count = run_end - np.arange(len(key))
    count -= 1
    p = _repeat_ranges(np.arange(len(key)) + 1, count)
    left = np.repeat(np.arange(len(key)), count)
    ids = (packed & _ID_MASK).astype(np.int64)
    return ids[left], ids[p]


def _cross_join(packed_a: np.ndarray, packed_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(i, j)`` with ``a``-entry ``i`` and ``b``-entry ``j`` sharing a key."""
    # One sort of both sides, a side bit below the key: in each run, a-entries come first.
    key_a, key_b = packed_a >> _ID_BITS, packed_b >> _ID_BITS
    side_a = (key_a << np.uint64(33)) | (packed_a & _ID_MASK)
    side_b = (key_b << np.uint64(33)) | np.uint64(1 << 32) | (packed_b & _ID_MASK)
    merged = _in_shared_runs(np.sort(np.concatenate([side_a, side_b])), np.uint64(33))
    key = merged >> np.uint64(33)
    is_b = ((merged >> _ID_BITS) & np.uint64(1)).astype(bool)
    run_end = _run_ends(key)
    # First b-entry of each run: a-entries are before it, so count a-entries per run.
    b_count = np.cumsum(is_b[::-1])[::-1]  # b-entries at or after each position, overall
    after = np.append(b_count, 0)[run_end]  # ...at or after the run's end
    count = np.where(is_b, 0, b_count - after)
    first_b = run_end - count
    left = np.repeat(np.arange(len(key)), count)
    right = _repeat_ranges(first_b, count)
    ids = (merged & _ID_MASK).astype(np.int64)
    return ids[left], ids[right]


def _in_shared_runs(sorted_packed: np.ndarray, packed_shift: np.uint64) -> np.ndarray:
    """Drop entries whose key occurs once: most of them, and they pair with nothing."""
    key = sorted_packed >> packed_shift
    same_next = np.append(key[1:] == key[:-1], False)
    same_prev = np.insert(key[1:] == key[:-1], 0, False)
    return sorted_packed[same_next | same_prev]


def _run_ends(key: np.ndarray) -> np.ndarray:
    """For each position of sorted ``key``, the index one past the end of its run."""
    ends = np.append(np.flatnonzero(key[1:] != key[:-1]) + 1, len(key))
    return np.repeat(ends, np.diff(np.insert(ends, 0, 0)))


def _repeat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    total = int(counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets
