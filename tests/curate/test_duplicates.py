"""Duplicates: the array functions against brute force, and find_duplicates on real files.

Recall and precision are measured on a synthetic dataset with planted exact and near
duplicates (truth.json); bounds are what the defaults measured there, with a little slack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select, update

from synsetlab.catalog.models import Finding, Image, SplitAssignment
from synsetlab.curate.duplicates import (
    StatsTolerance,
    cluster,
    content_keys,
    embedding_pairs,
    find_duplicates,
    near_duplicate_links,
    near_duplicate_pairs,
    statistics_agree,
)
from synsetlab.curate.hamming_index import (
    EXACT,
    SearchError,
    SearchLimits,
    pairs_within,
    plan,
    popcount64,
    search,
)
from synsetlab.errors import UserError
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.synthetic import SyntheticConfig, SyntheticTruth, generate, load_truth
from synsetlab.workspace import Workspace, init_workspace
from tests.images import encode, rgb

# ---------------------------------------------------------------- array functions


def _hashes_with_neighbours(n: int, seed: int) -> np.ndarray:
    """``n`` random hashes, then copies of some with 0-14 random bits flipped."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
    copies = []
    for h in base[: n // 2]:
        bits = rng.choice(64, rng.integers(0, 15), replace=False)
        mask = np.bitwise_or.reduce(np.uint64(1) << bits.astype(np.uint64), initial=np.uint64(0))
        copies.append(np.int64(h) ^ mask.view(np.int64))
    return np.concatenate([base, np.array(copies, dtype=np.int64), base[:5]])


def _brute_force(a: np.ndarray, b: np.ndarray | None, radius: int) -> np.ndarray:
    d = popcount64(a[:, None] ^ (a if b is None else b)[None, :])
    close = d <= radius
    if b is None:
        close = np.triu(close, 1)
    i, j = np.nonzero(close)
    return np.stack([i, j, d[i, j]], axis=1)


@pytest.mark.parametrize("radius", [0, 2, 5, 8, 10, 13])
def test_pairs_within_matches_brute_force(radius: int) -> None:
    a = _hashes_with_neighbours(400, seed=radius)
    b = _hashes_with_neighbours(300, seed=radius + 100)[::-1].copy()
    np.testing.assert_array_equal(pairs_within(a, radius=radius), _brute_force(a, None, radius))
    np.testing.assert_array_equal(pairs_within(a, b, radius=radius), _brute_force(a, b, radius))


def test_pairs_within_handles_empty_and_bad_radius() -> None:
    assert pairs_within(np.zeros(0, dtype=np.int64), radius=8).shape == (0, 3)
    with pytest.raises(ValueError, match="radius"):
        pairs_within(np.zeros(3, dtype=np.int64), radius=65)


def test_plan_keeps_the_join_near_linear() -> None:
    # At 100k pHashes and 8 bits: 3 substrings of ~21 bits, one flip on each side.
    assert plan(100_000, 100_000, 8) == (3, 21, 1, 1)
    m, bits, rho_a, rho_b = plan(1_000_000, 1_000_000, 12)
    assert m * (rho_a + rho_b) <= 12 and bits <= 30


def test_popcount_without_numpy_bitwise_count(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.array([0, -1, 1 << 62, 0x0F0F], dtype=np.int64)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(popcount64(x), [0, 64, 1, 8])


@pytest.mark.parametrize("radius", [4, 8])
def test_near_duplicate_pairs_with_flips_match_brute_force(radius: int) -> None:
    h = _hashes_with_neighbours(300, seed=7)
    rng = np.random.default_rng(8)
    flips = rng.integers(-(2**63), 2**63 - 1, len(h), dtype=np.int64, endpoint=True)
    flips[:20] = h[200:220] ^ np.int64(0b1011)  # mirrors close to other hashes
    flips[20] = h[20]  # a symmetric picture: its mirror is itself
    direct = popcount64(h[:, None] ^ h[None, :])
    mirrored = popcount64(flips[:, None] ^ h[None, :])
    d = np.minimum(direct, np.minimum(mirrored, mirrored.T))
    i, j = np.nonzero(np.triu(d <= radius, 1))
    expected = np.stack([i, j, d[i, j]], axis=1)
    np.testing.assert_array_equal(near_duplicate_pairs(h, flips, max_distance=radius), expected)
    assert len(near_duplicate_pairs(h, max_distance=radius)) < len(expected)


def test_near_duplicate_links_compare_centres_with_whole_frames() -> None:
    rng = np.random.default_rng(9)
    phash, dhash = _hashes_with_neighbours(300, seed=9), _hashes_with_neighbours(300, seed=10)
    n = len(phash)
    phash_inset, dhash_inset = rng.integers(-(2**63), 2**63 - 1, (2, n), dtype=np.int64)
    phash_inset[:20] = phash[200:220] ^ np.int64(0b10110)  # centre of k ~ whole of 200 + k
    phash_inset[240:250] = phash[20:30] ^ np.int64(0b1)  # ...and the other way round
    phash_inset[30] = phash[30]  # every centre resembles its own frame: no pair
    dhash_inset[50:60] = dhash[150:160] ^ np.int64(0b111)
    links = near_duplicate_links(
        phash, dhash=dhash, phash_inset=phash_inset, dhash_inset=dhash_inset, limits=EXACT
    ).links
    # The bounded default keeps a spanning set of the same links: the same clusters.
    bounded = near_duplicate_links(
        phash, dhash=dhash, phash_inset=phash_inset, dhash_inset=dhash_inset
    ).links
    assert len(bounded) < len(links)
    np.testing.assert_array_equal(cluster(n, bounded), cluster(n, links))

    def framings(whole: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = popcount64(centre[:, None] ^ whole[None, :])
        return popcount64(whole[:, None] ^ whole[None, :]), np.minimum(centred, centred.T)

    direct, centred = framings(phash, phash_inset)
    d_direct, d_centred = framings(dhash, dhash_inset)
    close = (direct <= 8) | (centred <= 8) | (d_direct <= 8) | (d_centred <= 8)
    i, j = np.nonzero(np.triu(close, 1))
    distance = np.minimum(direct, centred)[i, j]
    inset = (centred < direct)[i, j]
    expected = np.stack([i, j, distance, np.zeros_like(i), inset], axis=1)
    np.testing.assert_array_equal(links, expected)
    inset_pairs = {(a, b) for a, b, *_, c in links.tolist() if c}
    planted = [(k, 200 + k) for k in range(20)] + [(20 + k, 240 + k) for k in range(10)]
    assert set(planted) <= inset_pairs
    without = near_duplicate_links(phash, dhash=dhash).links
    assert len(without) < len(links) and not without[:, 4].any()
    with pytest.raises(ValueError, match="pass dhash too"):
        near_duplicate_links(phash, dhash_inset=dhash_inset)


def _union_find_reference(n: int, pairs: np.ndarray) -> list[set[int]]:
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        parent[root(a)] = root(b)
    groups: dict[int, set[int]] = defaultdict(set)
    for x in range(n):
        groups[root(x)].add(x)
    return sorted(groups.values(), key=min)


def test_cluster_is_union_find_numbered_by_smallest_member() -> None:
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, 500, (300, 2))
    labels = cluster(500, pairs)
    groups = [set(np.flatnonzero(labels == k).tolist()) for k in range(labels.max() + 1)]
    assert groups == _union_find_reference(500, pairs)
    np.testing.assert_array_equal(cluster(3, np.empty((0, 3), dtype=np.int64)), [0, 1, 2])
    assert cluster(0, np.empty((0, 2))).shape == (0,)


def test_statistics_agree_within_tolerance() -> None:
    stats = np.array([[100.0, 40.0, 20.0], [110.0, 45.0, 30.0], [100.0, 40.0, 40.0]])
    pairs = np.array([[0, 1], [0, 2]])
    np.testing.assert_array_equal(statistics_agree(stats, pairs), [True, False])
    assert not statistics_agree(stats, pairs[:1], StatsTolerance(mean=5.0))[0]


@pytest.mark.parametrize("exact", [True, False])
def test_embedding_pairs_find_the_close_vectors(exact: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    x[300:330] = x[:30] * 3 + rng.normal(scale=0.05, size=(30, 32))  # same direction
    x[399] = 0  # a failed extraction: pairs with nothing
    pairs, similarity = embedding_pairs(x, threshold=0.95, exact=exact)
    np.testing.assert_array_equal(pairs, np.stack([np.arange(30), np.arange(300, 330)], 1))
    assert np.all(similarity >= 0.95) and similarity.dtype == np.float32
    with pytest.raises(ValueError, match="threshold"):
        embedding_pairs(x, threshold=1.5)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        embedding_pairs(x[0], threshold=0.9)


# ---------------------------------------------------------------- on a synthetic dataset


@dataclass
class Synthetic:
    ws: Workspace
    truth: SyntheticTruth
    image_id: dict[str, int]  # truth path -> image id


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthetic]:
    """500 clean images with 25 exact and 50 near duplicates (10 per transform), ingested."""
    root = tmp_path_factory.mktemp("dups")
    config = SyntheticConfig(
        per_class=50, near_duplicate_rate=0.1, exact_duplicate_rate=0.05, seed=0,
        corrupt_rate=0.0,
    )  # fmt: skip
    report = generate(root / "data", config)
    ws = init_workspace(root / "ws")
    ingest(ws, open_manifest(report.manifest), workers=0)
    with ws.session() as s:
        ids = dict(s.execute(select(Image.source_key, Image.id)).all())
    yield Synthetic(ws, load_truth(root / "data"), ids)
    ws.close()


def _clusters(ws: Workspace, kind: str) -> dict[int, str]:
    with ws.session() as s:
        rows = s.execute(select(Finding.image_id, Finding.detail).where(Finding.kind == kind))
        return {image_id: detail["cluster"] for image_id, detail in rows}


def _recall_per_transform(data: Synthetic, kind: str) -> dict[str, float]:
    """Share of planted copies in the same ``kind`` cluster as their original."""
    found = _clusters(data.ws, kind)
    hits: dict[str, list[bool]] = defaultdict(list)
    for f in data.truth.files:
        if f.original is not None and f.kind == kind:
            copy, original = data.image_id[f.path], data.image_id[f.original]
            hits[f.transform or "exact"].append(
                copy in found and found.get(copy) == found.get(original)
            )
    return {name: float(np.mean(h)) for name, h in hits.items()}


def _near_precision(data: Synthetic) -> float:
    """Share of images flagged near-duplicate that are a planted copy or its original."""
    planted = set()
    for f in data.truth.files:
        if f.original is not None:
            planted |= {data.image_id[f.path], data.image_id[f.original]}
    flagged = set(_clusters(data.ws, "near-duplicate"))
    return len(flagged & planted) / len(flagged)


def test_every_exact_duplicate_is_found(synthetic: Synthetic) -> None:
    report = find_duplicates(synthetic.ws, workers=0)
    assert _recall_per_transform(synthetic, "exact-duplicate") == {"exact": 1.0}
    assert report.exact_clusters == 25 and report.exact_images == 50
    assert report.contents == 500 + 50  # exact copies share their original's content


def test_near_duplicates_recall_and_precision_at_defaults(synthetic: Synthetic) -> None:
    find_duplicates(synthetic.ws, workers=0)
    recall = _recall_per_transform(synthetic, "near-duplicate")
    # Measured: resize, jpeg and colour shift 1.0; crop 0.8 (0.6 without the centre hashes);
    # hflip 0; precision 1.0.
    assert min(recall["resize"], recall["jpeg-reencode"], recall["color-shift"]) >= 0.9
    assert recall["crop"] >= 0.7  # crops of up to 6% a side; see the wider test
    four = [recall[t] for t in ("resize", "jpeg-reencode", "color-shift", "crop")]
    assert np.mean(four) >= 0.9
    assert recall["hflip"] <= 0.2  # only pictures that are their own mirror image
    assert _near_precision(synthetic) >= 0.9


def test_wider_radii_catch_crops(synthetic: Synthetic) -> None:
    find_duplicates(synthetic.ws, max_distance=10, max_dhash_distance=12, workers=0)
    recall = _recall_per_transform(synthetic, "near-duplicate")
    # Measured: every transform but hflip 1.0; precision 0.95 (1.0 without the centre hashes).
    assert min(recall[t] for t in ("resize", "jpeg-reencode", "color-shift", "crop")) >= 0.9
    assert _near_precision(synthetic) >= 0.9


def test_mirrored_copies_need_flips(synthetic: Synthetic) -> None:
    find_duplicates(synthetic.ws, flips=True, workers=0)
    assert _recall_per_transform(synthetic, "near-duplicate")["hflip"] >= 0.9  # measured 1.0
    assert _near_precision(synthetic) >= 0.9  # measured 1.0
    with synthetic.ws.session() as s:
        details = s.scalars(select(Finding.detail).where(Finding.kind == "near-duplicate"))
        assert any(d["flipped"] for d in details)


def test_statistics_check_keeps_lookalikes_apart(synthetic: Synthetic) -> None:
    find_duplicates(synthetic.ws, tolerance=None, workers=0)
    unchecked = _near_precision(synthetic)
    find_duplicates(synthetic.ws, workers=0)
    assert unchecked < 0.9 < _near_precision(synthetic)  # measured 0.74 and 1.0


# ---------------------------------------------------------------- in the catalog


def _photo(seed: int) -> PILImage.Image:
    return rgb((160, 120), seed)


@pytest.fixture
def small_catalog(workspace: Workspace, tmp_path: Path) -> dict[str, int]:
    """a, a2 (same bytes), b, b_small (b resized), c, d: name -> image id."""
    folder = tmp_path / "photos" / "n01530575"
    folder.mkdir(parents=True)
    files = {
        "a": encode(_photo(1), "JPEG", quality=90),
        "b": encode(_photo(2), "JPEG", quality=90),
        "b_small": encode(_photo(2).resize((120, 90), PILImage.BICUBIC), "JPEG", quality=85),
        "c": encode(_photo(3), "PNG"),
        "d": encode(_photo(4), "PNG"),
    }
    files["a2"] = files["a"]
    for name, data in files.items():
        (folder / f"{name}.jpg").write_bytes(data)
    ingest(workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    with workspace.session() as s:
        rows = s.execute(select(Image.source_key, Image.id)).all()
        return {Path(key).stem: image_id for key, image_id in rows}


def _findings(ws: Workspace, kind: str) -> dict[int, tuple[float | None, dict]]:
    with ws.session() as s:
        rows = s.execute(
            select(Finding.image_id, Finding.score, Finding.detail).where(Finding.kind == kind)
        )
        return {image_id: (score, detail) for image_id, score, detail in rows}


def test_findings_name_clusters_and_nearest_images(
    workspace: Workspace, small_catalog: dict[str, int]
) -> None:
    ids = small_catalog
    report = find_duplicates(workspace, workers=0)
    exact = _findings(workspace, "exact-duplicate")
    assert set(exact) == {ids["a"], ids["a2"]}
    assert exact[ids["a"]][0] == 1.0
    sha = exact[ids["a"]][1]["sha256"]
    assert exact[ids["a"]][1] == {"cluster": sha[:16], "size": 2, "sha256": sha}
    near = _findings(workspace, "near-duplicate")
    assert set(near) == {ids["b"], ids["b_small"]}
    score, detail = near[ids["b"]]
    assert detail["nearest_image_id"] == ids["b_small"] and detail["size"] == 2
    assert detail["cluster"] == near[ids["b_small"]][1]["cluster"] != exact[ids["a"]][1]["cluster"]
    assert score == pytest.approx(1 - detail["distance"] / 9)
    assert detail["flipped"] is False and detail["inset"] is False
    assert (report.near_pairs, report.near_clusters, report.exact_pairs) == (1, 1, 1)
    assert report.leak_pairs == report.leak_images == 0


def test_split_leaks_follow_split_assignments(
    workspace: Workspace, small_catalog: dict[str, int]
) -> None:
    ids = small_catalog
    splits = {"a": "train", "a2": "val", "b": "train", "b_small": "test", "c": "train"}
    with workspace.session() as s:
        s.add_all(SplitAssignment(image_id=ids[n], split=split) for n, split in splits.items())
    report = find_duplicates(workspace, workers=0)
    leaks = _findings(workspace, "split-leak")
    assert set(leaks) == {ids["a"], ids["a2"], ids["b"], ids["b_small"]}
    assert leaks[ids["a2"]][1] == {
        "cluster": leaks[ids["a"]][1]["cluster"], "other_image_id": ids["a"],
        "splits": ["val", "train"], "distance": 0,
    }  # fmt: skip
    assert leaks[ids["b_small"]][1]["splits"] == ["test", "train"]
    assert (report.leak_pairs, report.leak_images) == (2, 4)


def test_split_leaks_fall_back_to_source_splits(
    workspace: Workspace, small_catalog: dict[str, int]
) -> None:
    ids = small_catalog
    with workspace.session() as s:
        s.execute(update(Image).values(source_split="train"))
        s.execute(update(Image).where(Image.id == ids["b_small"]).values(source_split="val"))
    find_duplicates(workspace, workers=0)
    assert set(_findings(workspace, "split-leak")) == {ids["b"], ids["b_small"]}


def test_a_second_run_replaces_its_findings(
    workspace: Workspace, small_catalog: dict[str, int]
) -> None:
    first = find_duplicates(workspace, workers=0)
    with workspace.session() as s:
        before = sorted(s.execute(select(Finding.kind, Finding.image_id, Finding.detail)).all())
    second = find_duplicates(workspace, workers=0)
    with workspace.session() as s:
        after = sorted(s.execute(select(Finding.kind, Finding.image_id, Finding.detail)).all())
    assert before == after and len(after) == 4
    assert first.measured == 5 and second.measured == 0


def _smooth(size: tuple[int, int], seed: int) -> PILImage.Image:
    """A photo-like picture: random colours on a coarse grid, smoothly interpolated."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[1] // 24 + 2, size[0] // 24 + 2, 3), dtype=np.uint8)
    return PILImage.fromarray(coarse).resize(size, PILImage.BICUBIC)


def test_slightly_cropped_copies_match_by_their_centres(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "photos" / "n01530575"
    folder.mkdir(parents=True)
    # Pictures whose pHash and dHash both move by more than 8 bits when 5% of each side
    # is cut off (measured 12-16 and 14), while the centre hashes move by 2-4.
    seeds = (3, 6, 16)
    for seed in seeds:
        img = _smooth((200, 150), seed)
        (folder / f"{seed}.jpg").write_bytes(encode(img, "JPEG", quality=90))
        crop = img.crop((10, 8, 190, 142))  # 5% of each side
        (folder / f"{seed}-crop.jpg").write_bytes(encode(crop, "JPEG", quality=90))
    ingest(workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    with workspace.session() as s:
        ids = {Path(key).stem: i for key, i in s.execute(select(Image.source_key, Image.id))}

    assert find_duplicates(workspace, insets=False, workers=0).near_clusters == 0
    report = find_duplicates(workspace, workers=0)
    near = _findings(workspace, "near-duplicate")
    assert report.near_clusters == len(seeds) and len(near) == 2 * len(seeds)
    for seed in seeds:
        score, detail = near[ids[f"{seed}-crop"]]
        assert detail["nearest_image_id"] == ids[str(seed)]
        assert detail["inset"] is True and detail["flipped"] is False
        assert detail["distance"] <= 8 and score == pytest.approx(1 - detail["distance"] / 9)


def test_embeddings_link_contents_the_hashes_miss(
    workspace: Workspace, small_catalog: dict[str, int]
) -> None:
    ids = small_catalog
    keys = content_keys(workspace)
    with workspace.session() as s:
        sha = dict(s.execute(select(Image.id, Image.sha256)).all())
    vectors = np.eye(len(keys), 8, dtype=np.float32)
    vectors[keys.index(sha[ids["d"]])] = vectors[keys.index(sha[ids["c"]])]
    report = find_duplicates(workspace, embeddings=vectors, workers=0)
    near = _findings(workspace, "near-duplicate")
    assert near[ids["c"]][1]["nearest_image_id"] == ids["d"] and report.near_clusters == 2
    with pytest.raises(ValueError, match="content_keys"):
        find_duplicates(workspace, embeddings=vectors[:2], workers=0)


# ---------------------------------------------------------------- crowded hashes


def _crowd(n: int, seed: int, max_flips: int = 2) -> np.ndarray:
    """``n`` hashes each within ``max_flips`` bits of one template: look-alikes, no copies."""
    rng = np.random.default_rng(seed)
    template = rng.integers(-(2**63), 2**63 - 1, dtype=np.int64, endpoint=True)
    bits = [rng.choice(64, rng.integers(0, max_flips + 1), replace=False) for _ in range(n)]
    masks = [int(sum(1 << int(b) for b in flips)) for flips in bits]
    return np.array([template ^ np.uint64(m).view(np.int64) for m in masks], dtype=np.int64)


def test_search_flags_crowded_hashes_and_keeps_links_bounded() -> None:
    crowd = _crowd(3000, seed=1)  # every hash has ~all 3000 others within 8 bits
    others = _hashes_with_neighbours(400, seed=2)  # sparse, with planted near copies
    hashes = np.concatenate([crowd, others])
    result = search(hashes, radius=8)
    assert result.crowded[:3000].all() and not result.crowded[3000:].any()
    assert (result.neighbours[:3000] >= 1000).all()
    # The unbounded search lists every pair of the crowd (~4.5M): the bounded one lists none
    # of them, and links the sparse part into the same clusters as every pair does.
    assert (result.pairs[:, :2] >= 3000).all()
    sparse = pairs_within(others, radius=8)
    np.testing.assert_array_equal(
        cluster(len(others), result.pairs[:, :2] - 3000), cluster(len(others), sparse)
    )
    assert len(pairs_within(crowd[:1000], radius=8)) == 1000 * 999 // 2


def test_search_keeps_k_nearest_of_a_dense_group_that_is_not_crowded() -> None:
    group = _crowd(300, seed=3)  # 300 look-alikes: under the crowd limit
    limits = SearchLimits(k=4)
    result = search(group, radius=8, limits=limits)
    assert not result.crowded.any()
    everything = pairs_within(group, radius=8)
    assert len(everything) == 300 * 299 // 2
    # At most k links per hash kept by each end, plus identical copies: O(k N), connected.
    assert len(result.pairs) <= 2 * limits.k * len(group)
    assert len(np.unique(cluster(len(group), result.pairs))) == 1
    d = popcount64(group[result.pairs[:, 0]] ^ group[result.pairs[:, 1]])
    np.testing.assert_array_equal(result.pairs[:, 2], d)


def test_search_limits_refuse_nonsense() -> None:
    # User errors (the CLI's --links-per-image, --crowd-limit, --max-distance pass them on).
    with pytest.raises(SearchError, match="k must be"):
        SearchLimits(k=0)
    with pytest.raises(SearchError, match="crowd_limit"):
        SearchLimits(crowd_limit=0)
    with pytest.raises(SearchError, match="radius"):
        search(np.zeros(3, dtype=np.int64), radius=65)
    assert issubclass(SearchError, UserError)


@pytest.fixture
def crowded_catalog(workspace: Workspace, tmp_path: Path) -> dict[str, int]:
    """60 small, almost flat grey pictures (distinct bytes), and a photo with a resized copy."""
    folder = tmp_path / "photos" / "n01530575"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(60):
        flat = np.full((12, 12), 200, dtype=np.uint8)
        flat[rng.integers(0, 12), rng.integers(0, 12)] = rng.integers(190, 210)
        PILImage.fromarray(flat, "L").save(folder / f"flat{k:02d}.png")
    (folder / "photo.jpg").write_bytes(encode(_photo(5), "JPEG", quality=90))
    small = _photo(5).resize((120, 90), PILImage.BICUBIC)
    (folder / "photo_small.jpg").write_bytes(encode(small, "JPEG", quality=85))
    ingest(workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    with workspace.session() as s:
        rows = s.execute(select(Image.source_key, Image.id)).all()
        return {Path(key).stem: image_id for key, image_id in rows}


def test_crowded_pictures_are_flagged_instead_of_one_giant_cluster(
    workspace: Workspace, crowded_catalog: dict[str, int]
) -> None:
    ids = crowded_catalog
    flat = {v for k, v in ids.items() if k.startswith("flat")}
    # Without a crowd limit the flat pictures are one 60-image "duplicate" cluster.
    find_duplicates(workspace, workers=0, limits=SearchLimits(crowd_limit=None))
    clusters = {d["cluster"] for i, (_, d) in _findings(workspace, "near-duplicate").items()
                if i in flat}  # fmt: skip
    assert len(clusters) == 1
    report = find_duplicates(workspace, workers=0, limits=SearchLimits(crowd_limit=20))
    crowded = _findings(workspace, "crowded-hash")
    assert set(crowded) == flat
    assert report.crowded_images == 60 and report.crowd_limit == 20
    assert all(d["neighbours"] >= 20 and d["radius"] == 8 for _, d in crowded.values())
    assert not any("chain" in d for _, d in crowded.values())  # crowded by density
    near = _findings(workspace, "near-duplicate")
    assert set(near) == {ids["photo"], ids["photo_small"]}  # the real copy is still found
    score, detail = near[ids["photo"]]
    assert score == pytest.approx(1 - detail["distance"] / 9)


def test_a_long_chain_of_lookalikes_is_crowded_without_faking_neighbour_counts() -> None:
    # Handwritten digits (sklearn's) chained 1595 of 1797 through dHash links, each with a
    # median of 7 neighbours: the chain is flagged, the counts stay what was estimated.
    from synsetlab.curate.duplicates import _crowded_clusters

    links = np.array([[k, k + 1, 5, 0, 0] for k in range(9)], dtype=np.int64)  # 0-1-...-9
    crowded = np.zeros(12, dtype=bool)
    left, chain = _crowded_clusters(links, crowded, limit=5)
    assert len(left) == 0 and crowded[:10].all() and not crowded[10:].any()
    np.testing.assert_array_equal(chain, [10] * 10 + [0, 0])
    kept, chain = _crowded_clusters(links, np.zeros(12, dtype=bool), limit=10)
    assert len(kept) == 9 and not chain.any()
