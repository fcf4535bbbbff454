"""Exact and near duplicates, and the duplicates that leak across splits.

Three kinds of finding, replaced together on each run of :func:`find_duplicates`:

- ``exact-duplicate``: images sharing one content (sha256), one finding per image;
  detail ``{"cluster", "size", "sha256"}``, score 1.
- ``near-duplicate``: images whose content is linked to another content (see below), one
  finding per image of a cluster of two or more contents; score :func:`proximity`; detail
  ``{"cluster", "size", "contents", "nearest_image_id", "distance", "flipped", "inset"}``.
- ``split-leak``: images with an exact or near duplicate in another split (the
  ``split_assignments`` table when it has rows, else each image's ``source_split``), one
  finding per image, about its closest such duplicate; detail
  ``{"cluster", "other_image_id", "splits": [own, other], "distance"}``.
- ``crowded-hash``: images whose hashes have so many others within the radius (tiny, flat or
  look-alike pictures: ``SearchLimits.crowd_limit``, 1000 by default) that a link would mean
  nothing; they get no near-duplicate link (embeddings still link them), and the command says
  how many there are; detail ``{"neighbours", "radius", "sha256"}``, ``neighbours`` estimated.

Two contents are linked when their pHashes differ in at most ``max_distance`` bits (or the
pHash of one's mirror image and the other's, with ``flips``), or their dHashes in at most
``max_dhash_distance``; or, with ``insets`` (the default), when the pHash or dHash of one's
centre (4% trimmed from each side) is as close to the other's whole-frame hash, either way
round; and their global statistics agree (:class:`StatsTolerance`); or when given CNN
embeddings are close. Clusters are the connected components of the links;
an exact group is one content, so it joins its near neighbours' cluster. ``cluster`` ids
are the first 16 hex digits of the smallest sha256 in the cluster, stable while it stands
(for ``exact-duplicate``, of the group's own sha256: one content, one cluster).
``distance`` is always a pHash distance in bits, the smallest over the framings compared:
mirrored when ``flipped``, one's centre against the other's whole frame when ``inset``.

Measured on synthetic shapes (3 x 1000 clean images, 60 near duplicates per transform), pHash
<= 8 bits alone links 100% of resized, 95% of re-encoded and colour-shifted, 57% of cropped
copies, and 34 false pairs per 1000 clean images (flat, centred figures); dHash <= 8 as a
second source lifts crops to 73%; the statistics check removes 98% of false pairs and none of
the true ones. A dHash *confirmation* (pHash and dHash both close) removed 65% of the false
pairs but also true crops, so dHash is a second source instead. Crops (0-6% a side) move
both hashes with the frame; centre against whole frame lifts the copies clustered with their
original from 42 to 57 of 60 (43 to 55 on three other seeds), other transforms unchanged,
for 5 more false images in 3000 (precision 0.989 to 0.979): ``bench/duplicates.py
--recall-only``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import BlobSignals, Image, SplitAssignment
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.hamming_index import (
    SearchError,
    SearchLimits,
    SearchResult,
    pairs_within,
    popcount64,
    search,
)
from synsetlab.curate.kinds import DUPLICATE_KINDS as KINDS
from synsetlab.curate.signals import update_signals
from synsetlab.workspace import Workspace

#: Above this many vectors :func:`embedding_pairs` searches an HNSW graph, not all vectors.
EXACT_KNN_MAX = 100_000


@dataclass(frozen=True, slots=True)
class StatsTolerance:
    """Largest differences of global statistics (``BlobSignals``) between near duplicates.

    Resizing, re-encoding and slight crops barely move them; two different pictures with a
    similar layout (a figure on a flat background) have similar hashes but other colours.
    Defaults are just above what the synthetic colour shift (gain 0.9-1.1, offset ~5) gives.
    """

    #: Mean grey level, 0-255.
    mean: float = 15.0
    #: Standard deviation of grey levels, 0-255.
    std: float = 8.0
    #: Hasler-Suesstrunk colourfulness.
    colourfulness: float = 12.0


@dataclass(frozen=True, slots=True)
class DuplicateReport:
    """What one run of :func:`find_duplicates` found."""

    #: Distinct contents in the catalog, and how many of them were measured by this run.
    contents: int
    measured: int
    #: Image pairs sharing a content; contents with 2+ images; images in them.
    exact_pairs: int
    exact_clusters: int
    exact_images: int
    #: Linked content pairs; clusters of 2+ contents; images in them.
    near_pairs: int
    near_clusters: int
    near_images: int
    #: Image pairs (exact or linked) in different splits; images with a split-leak finding.
    leak_pairs: int
    leak_images: int
    #: Contents whose hashes were too crowded to link (and their images): see ``crowd_limit``.
    crowded_contents: int
    #: ...of which flagged as members of a chain of links longer than ``crowd_limit``.
    chained_contents: int
    crowded_images: int
    crowd_limit: int | None
    seconds: float


def near_duplicate_pairs(
    hashes: np.ndarray, flips_hashes: np.ndarray | None = None, *, max_distance: int = 8
) -> np.ndarray:
    """Pairs of 64-bit hashes within ``max_distance`` bits, as ``(P, 3)`` int64 ``(i, j, d)``.

    ``hashes``: ``(N,)`` int64 (e.g. pHash). ``flips_hashes``: optional ``(N,)`` hashes of
    the mirrored images; then ``i`` and ``j`` also pair when one's mirror hash is close to the
    other's hash, and ``d`` is the smaller of the direct and mirrored distances. Rows have
    ``i < j`` and are sorted. Cost grows as ``N log N``; nothing is ``N x N``.
    """
    hashes = np.asarray(hashes, dtype=np.int64)
    direct = pairs_within(hashes, radius=max_distance)
    if flips_hashes is None:
        return direct
    flips_hashes = np.asarray(flips_hashes, dtype=np.int64)
    if flips_hashes.shape != hashes.shape:
        raise ValueError(f"flips_hashes has shape {flips_hashes.shape}, hashes {hashes.shape}")
    mirrored = pairs_within(flips_hashes, hashes, radius=max_distance)
    mirrored = mirrored[mirrored[:, 0] != mirrored[:, 1]]  # a symmetric picture matches itself
    mirrored[:, :2].sort(axis=1)
    return _closest_per_pair(np.concatenate([direct, mirrored]))


def _whole_and_centre_search(
    whole: np.ndarray, centre: np.ndarray | None, radius: int, limits: SearchLimits
) -> SearchResult:
    """Pairs ``i < j`` whose whole-frame hashes are within ``radius`` bits, or (given
    ``centre``) one's centre hash and the other's whole-frame hash, either way round, as a
    :class:`SearchResult` over the ``N`` pictures (``pairs`` ``(P, 3)``, distance unused).

    One self-join of both sets of hashes together: measured ~1.5-2x faster at 100k than a
    self-join plus a centre-by-whole join, which sorts the whole frames' keys twice. The
    centre-against-centre pairs it also finds are dropped, but for identical centres; a
    picture is crowded when its whole frame or its centre is.
    """
    whole = np.asarray(whole, dtype=np.int64)
    if centre is None:
        return search(whole, radius=radius, limits=limits)
    centre = np.asarray(centre, dtype=np.int64)
    if centre.shape != whole.shape:
        raise ValueError(f"centre hashes have shape {centre.shape}, whole-frame {whole.shape}")
    n = len(whole)
    both = search(np.concatenate([whole, centre]), radius=radius, limits=limits)
    # Rows have i < j: only centre-centre pairs start at n. Those are no rule of ours, but
    # for identical centres (distance 0): the search links identical hashes to one of them
    # only, which may be a centre, so that whole frames close to one reach them all.
    found = both.pairs[(both.pairs[:, 0] < n) | (both.pairs[:, 2] == 0)]
    found[:, 0] %= n
    found[:, 1] %= n
    found = found[found[:, 0] != found[:, 1]]  # a picture's centre resembles its own frame
    found[:, :2].sort(axis=1)
    return SearchResult(
        pairs=found, crowded=both.crowded[:n] | both.crowded[n:],
        neighbours=np.maximum(both.neighbours[:n], both.neighbours[n:]),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class NearLinks:
    """What :func:`near_duplicate_links` found over ``N`` pictures."""

    #: ``(L, 5)`` int64 ``(i, j, distance, flipped, inset)``, ``i < j``, sorted.
    links: np.ndarray
    #: ``(N,)`` bool: hashes too crowded to mean anything (about ``crowd_limit`` or more
    #: others within the radius); they are in no link.
    crowded: np.ndarray
    #: ``(N,)`` int64: the estimated others within the radius, where it was estimated.
    neighbours: np.ndarray


def near_duplicate_links(
    phash: np.ndarray,
    *,
    phash_flip: np.ndarray | None = None,
    dhash: np.ndarray | None = None,
    phash_inset: np.ndarray | None = None,
    dhash_inset: np.ndarray | None = None,
    stats: np.ndarray | None = None,
    max_distance: int = 8,
    max_dhash_distance: int = 8,
    tolerance: StatsTolerance | None = StatsTolerance(),
    limits: SearchLimits = SearchLimits(),
) -> NearLinks:
    """The linking rule of :func:`find_duplicates` over arrays: :class:`NearLinks`, whose
    ``links`` are ``(L, 5)`` int64 rows ``(i, j, distance, flipped, inset)``, ``i < j``, sorted.

    ``phash``, ``phash_flip``, ``dhash``, ``phash_inset``, ``dhash_inset``: ``(N,)`` int64;
    ``stats``: ``(N, 3)`` (mean, std, colourfulness). Pairs within ``max_distance`` pHash
    bits (mirrored too, given ``phash_flip``; one's centre against the other's whole frame,
    both ways, given ``phash_inset``), or within ``max_dhash_distance`` dHash bits (given
    ``dhash``; centre against whole frame too, given ``dhash_inset``), whose ``stats`` agree
    within ``tolerance`` (given both). Each search costs ``N log N``; nothing is ``N x N``.

    ``distance`` is the smallest pHash distance over the framings compared: whole against
    whole, mirror against whole (given ``phash_flip``) and centre against whole (given
    ``phash_inset``), each of the last two both ways. ``flipped`` is 1 when the mirrored
    distance is the smallest (strictly below the direct one), ``inset`` when a centre
    against whole one is (strictly below both): the framing that matched best.

    ``limits`` bound each search's work and memory (:class:`SearchLimits`): each picture
    keeps its ``k`` nearest links per search, and pictures crowded in the pHash or dHash
    search are left out of every link.
    """
    phash = np.asarray(phash, dtype=np.int64)
    searches = [_whole_and_centre_search(phash, phash_inset, max_distance, limits)]
    if dhash is not None:
        searches.append(_whole_and_centre_search(dhash, dhash_inset, max_dhash_distance, limits))
    elif dhash_inset is not None:
        raise ValueError("dhash_inset is compared with whole-frame dHashes: pass dhash too")
    crowded = np.logical_or.reduce([r.crowded for r in searches])
    neighbours = np.maximum.reduce([r.neighbours for r in searches])
    found = [r.pairs[:, :2] for r in searches]
    if phash_flip is not None:
        mirrored = search(phash_flip, phash, radius=max_distance, limits=limits, exclude=crowded)
        pairs = mirrored.pairs[mirrored.pairs[:, 0] != mirrored.pairs[:, 1]][:, :2]
        pairs.sort(axis=1)  # a symmetric picture matches itself
        found.append(pairs)
    pairs = _unique_pairs(np.concatenate(found), len(phash))
    pairs = pairs[~crowded[pairs[:, 0]] & ~crowded[pairs[:, 1]]]
    if stats is not None and tolerance is not None:
        pairs = pairs[statistics_agree(stats, pairs, tolerance)]
    links = _phash_distances(pairs, phash, phash_flip, phash_inset)
    return NearLinks(links=links, crowded=crowded, neighbours=neighbours)


def _phash_distances(
    pairs: np.ndarray,
    phash: np.ndarray,
    phash_flip: np.ndarray | None,
    phash_inset: np.ndarray | None,
) -> np.ndarray:
    """``(P, 5)`` ``(i, j, distance, flipped, inset)`` of ``pairs`` (see near_duplicate_links)."""
    i, j = pairs[:, 0], pairs[:, 1]
    direct = popcount64(phash[i] ^ phash[j])
    mirrored = _other_framing(phash, phash_flip, i, j)
    centred = _other_framing(phash, phash_inset, i, j)
    # Ties go to the whole frame, then to the mirror.
    flipped = (mirrored < direct) & (mirrored <= centred)
    inset = (centred < direct) & (centred < mirrored)
    distance = np.minimum(direct, np.minimum(mirrored, centred))
    return np.column_stack([i, j, distance, flipped, inset]).astype(np.int64)


def _other_framing(
    phash: np.ndarray, other: np.ndarray | None, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """Per pair, the smaller distance of one's ``other`` hash to the other's pHash; 65
    (more than any distance) without ``other``."""
    if other is None:
        return np.full(len(i), 65, dtype=np.int64)
    return np.minimum(popcount64(other[i] ^ phash[j]), popcount64(phash[i] ^ other[j]))


def _unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """``(P, 2)`` pairs of items ``< n`` deduplicated and sorted."""
    code = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack(np.divmod(code, n), axis=1)


def cluster(n: int, pairs: np.ndarray) -> np.ndarray:
    """Cluster labels ``(n,)`` int64 of the connected components of ``pairs`` over ``n`` items.

    ``pairs``: ``(P, >=2)``, the first two columns item indices. Labels run from 0, numbered
    in order of each cluster's smallest item; an item in no pair is a cluster of its own.
    (Union-find by scipy's connected components over a sparse graph: ``O(n + P)``.)
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if pairs.size == 0:
        pairs = pairs.reshape(0, 2)
    edges = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(edges, directed=False)
    return labels.astype(np.int64)


def statistics_agree(
    stats: np.ndarray, pairs: np.ndarray, tolerance: StatsTolerance = StatsTolerance()
) -> np.ndarray:
    """``(P,)`` bool: whether each pair's statistics differ by at most ``tolerance``.

    ``stats``: ``(N, 3)`` float, columns mean, std, colourfulness. ``pairs``: ``(P, >=2)``.
    """
    i, j = pairs[:, 0], pairs[:, 1]
    limit = np.array([tolerance.mean, tolerance.std, tolerance.colourfulness])
    return np.all(np.abs(stats[i] - stats[j]) <= limit, axis=1)


def embedding_pairs(
    embeddings: np.ndarray, *, threshold: float, k: int = 10, exact: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows whose cosine similarity is at least ``threshold``, among k nearest.

    ``embeddings``: ``(N, D)`` float vectors (any norm; all-zero rows pair with nothing).
    Returns ``(pairs, similarity)``: ``(P, 2)`` int64 with ``i < j``, sorted, and ``(P,)``
    float32. Each row's ``k`` nearest neighbours are searched, exactly (faiss ``IndexFlatIP``,
    memory ``O(N k)``) up to :data:`EXACT_KNN_MAX` rows or with ``exact=True``, otherwise in
    an HNSW graph (approximate, ``~N log N``).
    """
    import faiss  # only this optional path needs it

    x = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
    if not -1.0 <= threshold <= 1.0:
        raise SearchError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    faiss.normalize_L2(x)
    exact = len(x) <= EXACT_KNN_MAX if exact is None else exact
    if exact:
        index = faiss.IndexFlatIP(x.shape[1])
    else:
        index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.add(x)
    similarity, neighbour = index.search(x, min(k + 1, len(x)))  # +1: each row finds itself
    rows = np.repeat(np.arange(len(x)), neighbour.shape[1])
    neighbour, similarity = neighbour.ravel(), similarity.ravel()
    keep = (neighbour >= 0) & (neighbour != rows) & (similarity >= threshold)
    pairs = np.sort(np.stack([rows[keep], neighbour[keep]], axis=1), axis=1)
    similarity = similarity[keep]
    order = np.lexsort((-similarity, pairs[:, 1], pairs[:, 0]))
    pairs, similarity = pairs[order], similarity[order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    return pairs[first], similarity[first]


def content_keys(ws: Workspace) -> list[str]:
    """The catalog's distinct sha256, sorted: the row order ``embeddings`` must follow."""
    with ws.session() as s:
        return list(s.scalars(select(Image.sha256).distinct().order_by(Image.sha256)))


def find_duplicates(
    ws: Workspace,
    *,
    max_distance: int = 8,
    max_dhash_distance: int | None = 8,
    flips: bool = False,
    insets: bool = True,
    tolerance: StatsTolerance | None = StatsTolerance(),
    embeddings: np.ndarray | None = None,
    embedding_threshold: float = 0.95,
    workers: int | None = None,
    limits: SearchLimits = SearchLimits(),
) -> DuplicateReport:
    """Find exact duplicates, near duplicates and split leaks; record them as findings.

    Measures contents without signals first (``update_signals(ws, workers=workers)``).
    ``max_distance``: pHash bits; ``max_dhash_distance``: dHash bits (``None``: pHash only);
    ``flips``: also link mirror images; ``insets``: also compare each picture's centre with
    the others' whole frames (slight crops); ``tolerance``: the statistics check of hash
    links (``None``: none). ``embeddings``: optional ``(C, D)`` vectors, one per content in
    :func:`content_keys` order, linking contents at cosine ``>= embedding_threshold``.
    ``limits``: bounds on the hash searches' work and memory (:class:`SearchLimits`);
    contents whose hashes are crowded (``limits.crowd_limit`` or more others within the
    radius, or a cluster of more contents than that) get a ``crowded-hash`` finding instead
    of near-duplicate links, and embeddings still link them.
    Earlier findings of :data:`KINDS` are replaced in one transaction.
    """
    start = time.perf_counter()
    measured = update_signals(ws, workers=workers)
    with ws.session() as s:
        catalog = _load_catalog(s)
    if embeddings is not None and len(embeddings) != len(catalog.shas):
        raise ValueError(
            f"embeddings has {len(embeddings)} rows for {len(catalog.shas)} contents; compute "
            "them in content_keys(ws) order, after the last ingest"
        )
    found = _links(catalog, max_distance, max_dhash_distance, flips, insets, tolerance, limits)
    crowded, neighbours = found.crowded, found.neighbours
    links, chain = _crowded_clusters(found.links, crowded, limits.crowd_limit)
    if embeddings is not None:
        links = _closest_per_pair(
            np.concatenate([links, _embedding_links(catalog, embeddings, embedding_threshold)])
        )
    labels = cluster(len(catalog.shas), links)
    findings, counts = _findings(catalog, links, labels, max_distance)
    crowded_findings = _crowded_findings(catalog, crowded, neighbours, chain, max_distance)
    params = {
        "max_distance": max_distance, "max_dhash_distance": max_dhash_distance, "flips": flips,
        "insets": insets, "tolerance": None if tolerance is None else asdict(tolerance),
        "embedding_threshold": None if embeddings is None else embedding_threshold,
        "k": limits.k, "crowd_limit": limits.crowd_limit,
    }  # fmt: skip
    # Crowded contents get no near-duplicate link: their copies may go unseen.
    gap = f"{len(crowded_findings)} images with crowded hashes were not linked"
    run = RunFacts(params, images=len(catalog.image_ids), complete=not crowded_findings,
                   note=gap if crowded_findings else "")  # fmt: skip
    with ws.session() as s:
        replace_findings(s, KINDS, [*findings, *crowded_findings], run=run)
    return DuplicateReport(
        contents=len(catalog.shas), measured=measured, **counts,
        crowded_contents=int(crowded.sum()), chained_contents=int((chain > 0).sum()),
        crowded_images=len(crowded_findings),
        crowd_limit=limits.crowd_limit, seconds=time.perf_counter() - start,
    )  # fmt: skip


@dataclass
class _Catalog:
    """The catalog as arrays over contents (sorted sha256) and images (by id)."""

    shas: list[str]  # (C,) sorted
    has_signals: np.ndarray  # (C,) bool: undecodable contents have no hashes
    phash: np.ndarray  # (C,) int64, and the next four likewise
    phash_flip: np.ndarray
    dhash: np.ndarray
    # A content whose centre was not measured (its blob unreadable since) stands in with its
    # whole frame: centre-against-whole searches then find nothing the whole-frame ones miss.
    phash_inset: np.ndarray
    dhash_inset: np.ndarray
    stats: np.ndarray  # (C, 3) float: mean, std, colourfulness
    image_ids: np.ndarray  # (I,) int64, ascending
    image_content: np.ndarray  # (I,) int64 index into shas
    image_split: list[str | None]  # (I,)


def _load_catalog(s: Session) -> _Catalog:
    rows = s.execute(select(Image.id, Image.sha256, Image.source_split).order_by(Image.id)).all()
    image_ids = np.array([r[0] for r in rows], dtype=np.int64)
    shas = sorted({r[1] for r in rows})
    position = {sha: k for k, sha in enumerate(shas)}
    image_content = np.array([position[r[1]] for r in rows], dtype=np.int64)
    if s.scalar(select(func.count()).select_from(SplitAssignment)):
        assigned = dict(s.execute(select(SplitAssignment.image_id, SplitAssignment.split)).all())
        splits = [assigned.get(int(i)) for i in image_ids]
    else:
        splits = [r[2] for r in rows]
    signal_rows = s.execute(
        select(BlobSignals.sha256, BlobSignals.phash, BlobSignals.phash_flip, BlobSignals.dhash,
               BlobSignals.phash_inset, BlobSignals.dhash_inset,
               BlobSignals.mean, BlobSignals.std, BlobSignals.colourfulness)
    ).all()  # fmt: skip
    stats = np.zeros((len(shas), 3))
    hashes = np.zeros((len(shas), 5), dtype=np.int64)
    has_signals = np.zeros(len(shas), dtype=bool)
    for sha, ph, flip, dh, ph_in, dh_in, mean, std, colourfulness in signal_rows:
        k = position.get(sha)
        if k is not None:
            centre = (ph, dh) if ph_in is None or dh_in is None else (ph_in, dh_in)
            hashes[k] = (ph, flip, dh, *centre)
            stats[k] = (mean, std, colourfulness)
            has_signals[k] = True
    return _Catalog(
        shas=shas, has_signals=has_signals, phash=hashes[:, 0], phash_flip=hashes[:, 1],
        dhash=hashes[:, 2], phash_inset=hashes[:, 3], dhash_inset=hashes[:, 4], stats=stats,
        image_ids=image_ids, image_content=image_content, image_split=splits,
    )  # fmt: skip


def _links(
    catalog: _Catalog,
    max_distance: int,
    max_dhash_distance: int | None,
    flips: bool,
    insets: bool,
    tolerance: StatsTolerance | None,
    limits: SearchLimits,
) -> NearLinks:
    """:func:`near_duplicate_links` over the catalog's contents (``(C,)`` arrays); contents
    without signals are in no link and never crowded."""
    known = np.flatnonzero(catalog.has_signals)
    by_dhash = max_dhash_distance is not None
    found = near_duplicate_links(
        catalog.phash[known],
        phash_flip=catalog.phash_flip[known] if flips else None,
        dhash=catalog.dhash[known] if by_dhash else None,
        phash_inset=catalog.phash_inset[known] if insets else None,
        dhash_inset=catalog.dhash_inset[known] if insets and by_dhash else None,
        stats=catalog.stats[known],
        max_distance=max_distance,
        max_dhash_distance=max_dhash_distance or 0,
        tolerance=tolerance,
        limits=limits,
    )
    links = found.links
    links[:, :2] = known[links[:, :2]]
    crowded = np.zeros(len(catalog.shas), dtype=bool)
    neighbours = np.zeros(len(catalog.shas), dtype=np.int64)
    crowded[known], neighbours[known] = found.crowded, found.neighbours
    return NearLinks(links=links, crowded=crowded, neighbours=neighbours)


def _crowded_clusters(
    links: np.ndarray, crowded: np.ndarray, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Links left after the contents of clusters of more than ``limit`` contents join the
    crowded ones (``crowded`` updated in place), and per content the size of such a chain
    (0 elsewhere): a chain of look-alikes that long is no duplicate cluster either, though
    each of its contents may have few neighbours of its own."""
    chain = np.zeros(len(crowded), dtype=np.int64)
    if limit is None or not len(links):
        return links, chain
    labels = cluster(len(crowded), links)
    sizes = np.bincount(labels)[labels]
    giant = sizes > limit
    if not giant.any():
        return links, chain
    crowded |= giant
    chain[giant] = sizes[giant]
    return links[~crowded[links[:, 0]] & ~crowded[links[:, 1]]], chain


def _embedding_links(catalog: _Catalog, embeddings: np.ndarray, threshold: float) -> np.ndarray:
    pairs, _ = embedding_pairs(embeddings, threshold=threshold)
    pairs = pairs[catalog.has_signals[pairs[:, 0]] & catalog.has_signals[pairs[:, 1]]]
    return _phash_distances(pairs, catalog.phash, catalog.phash_flip, catalog.phash_inset)


def _closest_per_pair(rows: np.ndarray) -> np.ndarray:
    """Rows ``(i, j, d, ...)`` deduplicated on ``(i, j)``, keeping the smallest ``d``; sorted."""
    rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = np.any(rows[1:, :2] != rows[:-1, :2], axis=1)
    return rows[first]


def _findings(
    catalog: _Catalog, links: np.ndarray, labels: np.ndarray, radius: int
) -> tuple[list[NewFinding], dict[str, int]]:
    images_of = _images_per_content(catalog)
    cluster_ids = _cluster_ids(catalog.shas, labels)
    exact, exact_counts = _exact_findings(catalog, images_of)
    near, near_counts = _near_findings(catalog, images_of, links, labels, cluster_ids, radius)
    leaks, leak_counts = _leak_findings(catalog, images_of, links, labels, cluster_ids, radius)
    return [*exact, *near, *leaks], {**exact_counts, **near_counts, **leak_counts}


def _crowded_findings(
    catalog: _Catalog, crowded: np.ndarray, neighbours: np.ndarray, chain: np.ndarray,
    radius: int,
) -> list[NewFinding]:  # fmt: skip
    """One ``crowded-hash`` finding per image of a crowded content: its hashes have so many
    others within ``radius`` bits (tiny, flat or look-alike pictures), or it sits in so long
    a chain of links (``chain``: the chain's contents), that a near-duplicate link would mean
    nothing. Score: the share of the catalog's contents so near, or in the chain."""
    findings = []
    rows_of = _images_per_content(catalog)
    for content in np.flatnonzero(crowded).tolist():
        n, c = int(neighbours[content]), int(chain[content])
        detail = {"neighbours": n, "radius": radius, "sha256": catalog.shas[content]}
        if c:
            detail["chain"] = c
        score = min(1.0, max(n, c - 1) / max(len(catalog.shas) - 1, 1))
        findings += [
            NewFinding("crowded-hash", int(catalog.image_ids[r]), score=score, detail=detail)
            for r in rows_of[content]
        ]
    return findings


def proximity(distance: int, radius: int) -> float:
    """A finding's score from a pHash distance in bits: 1 for equal hashes, falling evenly to
    ``1 / (radius + 1)`` at the search radius. (``1 - distance / 64`` put every finding
    between 0.875 and 1, shown as 1.000 for most.)"""
    return 1.0 - min(distance, radius + 1) / (radius + 1)


def _images_per_content(catalog: _Catalog) -> list[list[int]]:
    """Row numbers of each content's images, ascending image id (rows are by id)."""
    images_of: list[list[int]] = [[] for _ in range(len(catalog.shas))]
    for row, content in enumerate(catalog.image_content.tolist()):
        images_of[content].append(row)
    return images_of


def _cluster_ids(shas: list[str], labels: np.ndarray) -> list[str]:
    """Per label: its smallest member's sha256 prefix (contents are sorted by sha256)."""
    _, first = np.unique(labels, return_index=True)
    return [shas[k][:16] for k in first.tolist()]


def _exact_findings(
    catalog: _Catalog, images_of: list[list[int]]
) -> tuple[list[NewFinding], dict[str, int]]:
    findings, pairs, groups = [], 0, 0
    for content, rows in enumerate(images_of):
        if len(rows) < 2:
            continue
        groups += 1
        pairs += len(rows) * (len(rows) - 1) // 2
        # Its own cluster, not its near neighbours': excluding all but one per cluster
        # (decisions.exclude_findings) must keep one copy of each content.
        sha = catalog.shas[content]
        detail = {"cluster": sha[:16], "size": len(rows), "sha256": sha}
        findings += [
            NewFinding("exact-duplicate", int(catalog.image_ids[r]), score=1.0, detail=detail)
            for r in rows
        ]
    counts = {"exact_pairs": pairs, "exact_clusters": groups, "exact_images": len(findings)}
    return findings, counts


def _nearest_link(
    links: np.ndarray, representative: np.ndarray
) -> dict[int, tuple[int, int, bool, bool]]:
    """Per linked content: ``(other content, distance, flipped, inset)`` of its closest link.

    Ties go to the other content whose first image has the smaller id, so runs agree.
    """
    both = np.concatenate([links, links[:, [1, 0, 2, 3, 4]]])
    both = both[np.lexsort((representative[both[:, 1]], both[:, 2], both[:, 0]))]
    first = np.ones(len(both), dtype=bool)
    first[1:] = both[1:, 0] != both[:-1, 0]
    return {int(a): (int(b), int(d), bool(f), bool(c)) for a, b, d, f, c in both[first].tolist()}


def _near_findings(
    catalog: _Catalog,
    images_of: list[list[int]],
    links: np.ndarray,
    labels: np.ndarray,
    cluster_ids: list[str],
    radius: int,
) -> tuple[list[NewFinding], dict[str, int]]:
    representative = np.array([catalog.image_ids[r[0]] for r in images_of], dtype=np.int64)
    nearest = _nearest_link(links, representative)
    members: dict[int, list[int]] = defaultdict(list)
    for content in nearest:
        members[int(labels[content])].append(content)
    findings = []
    for label, contents in members.items():
        size = sum(len(images_of[c]) for c in contents)
        for content in contents:
            other, distance, flipped, inset = nearest[content]
            detail = {
                "cluster": cluster_ids[label], "size": size, "contents": len(contents),
                "nearest_image_id": int(representative[other]), "distance": distance,
                "flipped": flipped, "inset": inset,
            }  # fmt: skip
            score = proximity(distance, radius)
            findings += [
                NewFinding("near-duplicate", int(catalog.image_ids[r]), score=score, detail=detail)
                for r in images_of[content]
            ]
    counts = {"near_pairs": len(links), "near_clusters": len(members),
              "near_images": len(findings)}  # fmt: skip
    return findings, counts


def _leak_findings(
    catalog: _Catalog,
    images_of: list[list[int]],
    links: np.ndarray,
    labels: np.ndarray,
    cluster_ids: list[str],
    radius: int,
) -> tuple[list[NewFinding], dict[str, int]]:
    """Each image's closest duplicate (same content: distance 0) in another split."""
    neighbours: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for a, b, d, *_ in links.tolist():
        neighbours[a].append((d, b))
        neighbours[b].append((d, a))
    candidates = {c for c, rows in enumerate(images_of) if len(rows) > 1} | set(neighbours)
    findings: list[NewFinding] = []
    pairs = 0
    for content in sorted(candidates):
        first_in = _rows_per_split(catalog, images_of[content])
        others = sorted([(0, content), *neighbours[content]])
        pairs += _cross_split_pairs(first_in, first_in, same=True) + sum(
            _cross_split_pairs(first_in, _rows_per_split(catalog, images_of[b]))
            for _, b in neighbours[content] if b > content
        )  # fmt: skip
        for row in images_of[content]:
            own = catalog.image_split[row]
            leak = None if own is None else _closest_other_split(catalog, images_of, others, own)
            if leak is None:
                continue
            distance, other_row = leak
            other_split = catalog.image_split[other_row]
            detail = {"cluster": cluster_ids[labels[content]],
                      "other_image_id": int(catalog.image_ids[other_row]),
                      "splits": [own, other_split], "distance": distance}  # fmt: skip
            findings.append(
                NewFinding("split-leak", int(catalog.image_ids[row]),
                           score=proximity(distance, radius), detail=detail)
            )  # fmt: skip
    return findings, {"leak_pairs": pairs, "leak_images": len(findings)}


def _rows_per_split(catalog: _Catalog, rows: Iterable[int]) -> dict[str, list[int]]:
    """Split -> rows of the images in it (ascending id); images without a split left out."""
    out: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        split = catalog.image_split[r]
        if split is not None:
            out[split].append(r)
    return out


def _cross_split_pairs(
    a: dict[str, list[int]], b: dict[str, list[int]], *, same: bool = False
) -> int:
    """Image pairs, one from ``a`` and one from ``b``, in different splits."""
    total = sum(len(x) for x in a.values()) * sum(len(x) for x in b.values())
    within = sum(len(rows) * len(b.get(split, ())) for split, rows in a.items())
    return (total - within) // 2 if same else total - within


def _closest_other_split(
    catalog: _Catalog,
    images_of: list[list[int]],
    others: Sequence[tuple[int, int]],
    own: str,
) -> tuple[int, int] | None:
    """``(distance, row)`` of the first image not in split ``own``, closest content first."""
    for distance, content in others:
        for r in images_of[content]:
            split = catalog.image_split[r]
            if split is not None and split != own:
                return distance, r
    return None
