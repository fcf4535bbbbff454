"""Near-duplicate search against imagededup's PHash, on smooth-noise JPEGs with planted copies.

Baseline: imagededup ``PHash().find_duplicates(image_dir=..., max_distance_threshold=R)``
with its defaults (hashes on all cores, brute-force Cython search), run as its two halves,
``encode_images`` then ``find_duplicates(encoding_map=...)``, so that each is timed. Its
search runs on at most ``--baseline-search-max`` files; for more, its time is estimated as
``t(M) x (N / M)^2`` (a pairwise loop; measured growth is steeper, so this flatters it), and
its recall and precision come from its hashes with our exact search, which returns the same
pairs as its own (checked on the searched files).
Ours: ``measure.measure`` on every file on all cores (``map_chunks``), then
``near_duplicate_pairs`` (pHash only, imagededup's rule) or ``near_duplicate_links`` (the
default rule of ``find_duplicates``: pHash or dHash, whole frames and each picture's centre
against the others' whole frames, statistics check), then ``cluster``. faiss
``IndexBinaryMultiHash`` (the same search in a library) is timed for reference.
Target: ours >= 5x faster at 100k with equal or better recall; time growing <= N log N.

``--crowded N [N ...]`` is the case real collections make: N small greyscale pictures (32 px)
that are slight variations (shift, gain, noise) of 20 templates, look-alikes but not copies,
so most hashes have hundreds to thousands of others within the radius. It times the search
alone (hashes are computed from the arrays by the pHash rule of ``measure``) and reports
each method's peak RSS, each run in a fresh process: ours with its default
``SearchLimits`` (crowded hashes flagged, 16 links kept a hash); every pair
(``pairs_within``: the same search listing every pair within the radius, what the search
returned before the limits) up to ``--baseline-search-max`` pictures; and imagededup's
``find_duplicates(encoding_map=...)`` up to 5000 (both grow as N^2).

``--recall-only`` skips the timing and measures the linking rule on the synthetic figure
dataset instead (``synsetlab.synthetic``, 1000 clean images and 20 copies per transform per
seed, 3 seeds): recall per transform and precision, with and without the centre hashes.

    python bench/duplicates.py                        # 2000 and 10000 images
    python bench/duplicates.py --sizes 20000 100000
    python bench/duplicates.py --recall-only
    python bench/duplicates.py --crowded 20000 70000 1000000
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

#: Share of the files that are planted copies of another file.
COPY_RATE = 0.05
COPY_KINDS = ("resize", "jpeg-reencode", "crop")
SIDE = (128, 256)  # smallest and largest width or height, pixels
#: Our searches take seconds at most: timed as the fastest of this many runs.
SEARCH_REPEAT = 3
T = TypeVar("T")


def _render(seed: int, index: int) -> Image.Image:
    """A photo-like picture: random colours on a coarse grid, smoothly interpolated."""
    rng = np.random.default_rng([seed, index])
    w, h = (int(v) for v in rng.integers(SIDE[0], SIDE[1] + 1, 2))
    coarse = rng.integers(0, 256, (h // 24 + 2, w // 24 + 2, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((w, h), Image.BICUBIC)


def _copy(img: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """A planted near duplicate of ``img`` and the JPEG quality to save it at."""
    w, h = img.size
    if kind == "resize":
        scale = rng.uniform(0.6, 0.8) if rng.random() < 0.5 else rng.uniform(1.2, 1.5)
        return img.resize((round(w * scale), round(h * scale)), Image.BICUBIC), 90
    if kind == "jpeg-reencode":
        return img, int(rng.integers(30, 61))
    left, top, right, bottom = rng.uniform(0.0, 0.04, 4)  # a slight crop
    box = (round(left * w), round(top * h), w - round(right * w), h - round(bottom * h))
    return img.crop(box), 90


def _write_chunk(tasks: list[tuple[Path, int, int, int]]) -> list[int]:
    """Write original ``index`` (and its copy when ``copy >= 0``); returns files written."""
    out = []
    for folder, seed, index, copy in tasks:
        img = _render(seed, index)
        img.save(folder / f"{index:07d}.jpg", "JPEG", quality=90)
        if copy >= 0:
            rng = np.random.default_rng([seed, index, 1])
            dup, quality = _copy(img, COPY_KINDS[copy % len(COPY_KINDS)], rng)
            dup.save(folder / f"{index:07d}-copy.jpg", "JPEG", quality=quality)
        out.append(1 + (copy >= 0))
    return out


def make_images(folder: Path, n: int, workers: int, seed: int = 0) -> set[tuple[str, str]]:
    """Write ``n`` JPEGs into ``folder``, ``COPY_RATE`` of them copies; returns planted pairs."""
    from synsetlab.parallel import map_chunks

    folder.mkdir(parents=True)
    n_copies = round(n * COPY_RATE)
    n_originals = n - n_copies
    rng = np.random.default_rng(seed)
    copied = rng.choice(n_originals, n_copies, replace=False)
    copy_number = np.full(n_originals, -1)
    copy_number[copied] = np.arange(n_copies)
    tasks = [(folder, seed, i, int(copy_number[i])) for i in range(n_originals)]
    for _ in map_chunks(_write_chunk, tasks, workers=workers, chunk=64):
        pass
    return {tuple(sorted((f"{i:07d}.jpg", f"{i:07d}-copy.jpg"))) for i in copied.tolist()}


#: Columns of ``hash_files``' hashes.
HASHES = ("phash", "phash_flip", "dhash", "phash_inset", "dhash_inset")
STATS = ("mean", "std", "colourfulness")


def _hash_chunk(paths: list[Path]) -> list[tuple[float, ...]]:
    from synsetlab.curate.measure import measure

    measured = (measure(path.read_bytes()) for path in paths)
    return [tuple(m[k] for k in HASHES + STATS) for m in measured]


def hash_files(paths: list[Path], workers: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 5)`` int64 :data:`HASHES` and ``(N, 3)`` float :data:`STATS` of each file."""
    from synsetlab.parallel import map_chunks

    rows = []
    chunks = map_chunks(
        _hash_chunk, paths, workers=workers, chunk=64, preload=["synsetlab.curate.measure"]
    )
    for _, results in chunks:
        rows.extend(results)
    hashes = np.array([r[: len(HASHES)] for r in rows], dtype=np.int64).reshape(-1, len(HASHES))
    stats = np.array([r[len(HASHES) :] for r in rows], dtype=np.float64).reshape(-1, len(STATS))
    return hashes, stats


def _score(found: set[tuple[str, str]], planted: set[tuple[str, str]]) -> tuple[float, float]:
    """Recall and precision of found file pairs (each ordered by name) against the planted."""
    hits = len(found & planted)
    return hits / len(planted), hits / len(found) if found else 1.0


def _named_pairs(pairs: np.ndarray, names: list[str]) -> set[tuple[str, str]]:
    return {tuple(sorted((names[i], names[j]))) for i, j in pairs[:, :2].tolist()}


def _to_int64(hex_hash: str) -> int:
    value = int(hex_hash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def run_imagededup(
    folder: Path, radius: int, search_max: int
) -> tuple[float, float, int, set[tuple[str, str]], np.ndarray, list[str]]:
    """Hash seconds; search seconds and pairs over the first ``search_max`` files (by name);
    its hashes of every file, with their names."""
    from imagededup.methods import PHash

    phasher = PHash(verbose=False)
    start = time.perf_counter()
    encodings = phasher.encode_images(image_dir=folder)
    hash_seconds = time.perf_counter() - start
    names = sorted(encodings)
    hashes = np.array([_to_int64(encodings[name]) for name in names], dtype=np.int64)
    subset = {name: encodings[name] for name in names[:search_max]}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "num_enc_workers has no effect"
        result = phasher.find_duplicates(encoding_map=subset, max_distance_threshold=radius)
    search_seconds = time.perf_counter() - start
    pairs = {tuple(sorted((a, b))) for a, dups in result.items() for b in dups}
    return hash_seconds, search_seconds, len(subset), pairs, hashes, names


def _fastest(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Least seconds of ``repeat`` calls, and the result: other load on the machine only adds."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return min(seconds), result


def run_ours(
    hashes: np.ndarray, stats: np.ndarray, radius: int
) -> tuple[float, np.ndarray, float, np.ndarray]:
    """Seconds and pairs of the pHash-only search, then of the default linking rule."""
    from synsetlab.curate.duplicates import cluster, near_duplicate_pairs

    def phash_only() -> np.ndarray:
        pairs = near_duplicate_pairs(hashes[:, 0], max_distance=radius)
        cluster(len(hashes), pairs)
        return pairs

    def default_rule() -> np.ndarray:
        links = default_links(hashes, stats, radius)
        cluster(len(hashes), links)
        return links

    return (*_fastest(phash_only, SEARCH_REPEAT), *_fastest(default_rule, SEARCH_REPEAT))


def default_links(
    hashes: np.ndarray, stats: np.ndarray, radius: int, *, insets: bool = True, flips: bool = False
) -> np.ndarray:
    """``near_duplicate_links`` as ``find_duplicates`` calls it, on :func:`hash_files` arrays."""
    from synsetlab.curate.duplicates import near_duplicate_links

    return near_duplicate_links(
        hashes[:, 0], phash_flip=hashes[:, 1] if flips else None, dhash=hashes[:, 2],
        phash_inset=hashes[:, 3] if insets else None,
        dhash_inset=hashes[:, 4] if insets else None,
        stats=stats, max_distance=radius, max_dhash_distance=radius,
    ).links  # fmt: skip


def run_faiss(hashes: np.ndarray, radius: int) -> float:
    """Seconds for faiss's exact multi-index range search over the same pHashes."""
    import faiss

    codes = np.ascontiguousarray(hashes.astype(">i8").view(np.uint8).reshape(-1, 8))
    start = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(64, 3, 21)  # 3 x 21 bits; radius // 3 flips each
    index.nflip = radius // 3
    index.add(codes)
    index.range_search(codes, radius + 1)  # faiss keeps distances < radius + 1
    return time.perf_counter() - start


def bench_size(root: Path, n: int, radius: int, workers: int, search_max: int) -> dict[str, float]:
    """Run everything on ``n`` images; print its rows; return our seconds."""
    from synsetlab.curate.duplicates import near_duplicate_pairs

    folder = root / f"images{n}"
    planted = make_images(folder, n, workers)
    paths = sorted(folder.iterdir())
    names = [p.name for p in paths]

    start = time.perf_counter()
    hashes, stats = hash_files(paths, workers)
    our_hash = time.perf_counter() - start
    phash_s, pairs, rule_s, links = run_ours(hashes, stats, radius)
    faiss_s = run_faiss(hashes[:, 0], radius)

    their_hash, their_search, searched, their_pairs, their_hashes, their_names = run_imagededup(
        folder, radius, search_max
    )
    # Its brute force returns every pair within the radius: exactly our pairs on its hashes.
    on_subset = near_duplicate_pairs(their_hashes[:searched], max_distance=radius)
    same = _named_pairs(on_subset, their_names) == their_pairs
    note = "" if same else "PAIRS DIFFER from ours on its hashes! "
    if searched < n:
        their_search *= (n / searched) ** 2
        note += f"search est. as t({searched}) x (N/{searched})^2"
    exact = _named_pairs(near_duplicate_pairs(their_hashes, max_distance=radius), their_names)
    their_recall, their_precision = _score(exact, planted)

    rows = [
        ("imagededup PHash", their_hash, their_search, their_recall, their_precision, note),
        ("ours, pHash only", our_hash, phash_s, *_score(_named_pairs(pairs, names), planted), ""),
        ("ours, default rule", our_hash, rule_s, *_score(_named_pairs(links, names), planted), ""),
    ]
    for name, hash_s, search_s, recall, precision, note in rows:
        print(
            f"{n:>7} {name:<20} {hash_s:>8.1f} {search_s:>9.2f} {hash_s + search_s:>8.1f} "
            f"{recall:>7.3f} {precision:>9.3f}  {note}"
        )
    print(f"{n:>7} {'faiss MultiHash':<20} {'':>8} {faiss_s:>9.2f}  (pHash search only)")
    total_ratio = (their_hash + their_search) / (our_hash + rule_s)
    print(
        f"{n:>7} imagededup / ours (default rule): total {total_ratio:.1f}x, "
        f"search {their_search / rule_s:.0f}x; {len(planted)} planted pairs"
    )
    return {"total": our_hash + rule_s, "search": rule_s, "phash": phash_s}


#: ``--recall-only`` rules: name, ``default_links`` options.
RECALL_RULES = (
    ("whole frame only", {"insets": False}),
    ("default", {}),
    ("default, flips", {"flips": True}),
)


def recall_only(root: Path, seeds: list[int], radius: int, workers: int) -> None:
    """Recall per transform and precision of :data:`RECALL_RULES` on synthetic datasets."""
    from synsetlab.curate.duplicates import cluster
    from synsetlab.synthetic import (
        NEAR_DUPLICATE_TRANSFORMS,
        SyntheticConfig,
        generate,
        load_truth,
    )

    config = dict(per_class=100, near_duplicate_rate=0.1, exact_duplicate_rate=0.0,
                  corrupt_rate=0.0)  # fmt: skip
    data = []
    for seed in seeds:
        report = generate(root / f"seed{seed}", SyntheticConfig(seed=seed, **config))
        truth = load_truth(report.out_dir)
        files = [f for f in truth.files if f.kind in ("clean", "near-duplicate")]
        hashes, stats = hash_files([report.out_dir / f.path for f in files], workers)
        row = {f.path: k for k, f in enumerate(files)}
        family = np.array([row[f.original] if f.original else k for k, f in enumerate(files)])
        data.append((files, hashes, stats, family))
    print(f"{'rule':<18} " + " ".join(f"{t:>15}" for t in NEAR_DUPLICATE_TRANSFORMS)
          + f" {'precision':>9} {'false imgs':>10}")  # fmt: skip
    for name, options in RECALL_RULES:
        hits: dict[str, list[bool]] = {t: [] for t in NEAR_DUPLICATE_TRANSFORMS}
        flagged = planted_flagged = 0
        for files, hashes, stats, family in data:
            labels = cluster(len(files), default_links(hashes, stats, radius, **options))
            is_flagged = np.bincount(labels)[labels] >= 2
            planted = np.zeros(len(files), dtype=bool)
            for k, f in enumerate(files):
                if f.original:
                    planted[[k, family[k]]] = True
                    hits[f.transform].append(bool(labels[k] == labels[family[k]]))
            flagged += int(is_flagged.sum())
            planted_flagged += int((is_flagged & planted).sum())
        recall = " ".join(f"{sum(h):>6}/{len(h):<3} {np.mean(h):.2f}" for h in hits.values())
        precision = planted_flagged / flagged if flagged else 1.0
        print(f"{name:<18} {recall} {precision:>9.3f} {flagged - planted_flagged:>10}")
    print(
        f"seeds {', '.join(map(str, seeds))}; {radius} bits (pHash and dHash); recall: copies "
        "in their original's cluster; precision: flagged images that are a copy or its original"
    )


#: Crowded case: templates, and the variations' shift (px), gain and noise (grey levels).
CROWD_TEMPLATES = 20
CROWD_SHIFT, CROWD_GAIN, CROWD_NOISE = 2, 0.1, 6.0
#: Most pictures imagededup searches in the crowded case.
IMAGEDEDUP_CROWDED_MAX = 5000


def crowded_hashes(n: int, seed: int = 0) -> np.ndarray:
    """``(n,)`` int64 pHashes of small grey variations of :data:`CROWD_TEMPLATES` templates:
    one to three dark ellipses on a light flat background (a product shot), shifted by up to
    :data:`CROWD_SHIFT` px, scaled in brightness and given noise."""
    from synsetlab.curate.measure import _DCT8

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    templates = np.empty((CROWD_TEMPLATES, 32, 32))
    for t in range(CROWD_TEMPLATES):
        templates[t] = rng.uniform(200, 250)
        for _ in range(rng.integers(1, 4)):
            (cx, cy), (rx, ry) = rng.uniform(8, 24, 2), rng.uniform(4, 12, 2)
            inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
            templates[t][inside] = rng.uniform(20, 150)
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, 20_000):
        b = min(20_000, n - start)
        img = templates[rng.integers(0, CROWD_TEMPLATES, b)]
        for axis in (1, 2):
            shift = rng.integers(-CROWD_SHIFT, CROWD_SHIFT + 1, b)
            for d in range(-CROWD_SHIFT, CROWD_SHIFT + 1):
                img[shift == d] = np.roll(img[shift == d], d, axis=axis)
        img = img * rng.uniform(1 - CROWD_GAIN, 1 + CROWD_GAIN, (b, 1, 1))
        img += rng.normal(0, CROWD_NOISE, img.shape)
        # measure's pHash rule on a 32 px grey picture: 8 x 8 lowest DCT terms above their median
        low = np.round(np.einsum("ij,bjk,lk->bil", _DCT8, img, _DCT8).reshape(b, 64), 6)
        bits = low > np.sort(low, axis=1)[:, 31:33].mean(axis=1, keepdims=True)
        out[start : start + b] = np.packbits(bits, axis=1).view(">i8").ravel()
    return out


def _in_child(fn: Callable[[], T]) -> tuple[float, float, T]:
    """``fn()`` in a forked process: ``(seconds, peak RSS in GB, result)``."""
    import multiprocessing as mp
    import resource

    def run(queue: mp.Queue) -> None:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, result))

    context = mp.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=run, args=(queue,))
    child.start()
    out = queue.get()
    child.join()
    return out


def bench_crowded(sizes: list[int], radius: int, search_max: int) -> None:
    """Time and peak RSS of the searches on :func:`crowded_hashes`."""
    from synsetlab.curate.hamming_index import pairs_within, search

    print(f"crowded: {CROWD_TEMPLATES} templates, 32 px grey variations; radius {radius} bits")
    print(f"{'images':>8} {'method':<24} {'search s':>9} {'peak GB':>8} {'pairs':>10} "
          f"{'crowded':>8}")  # fmt: skip
    times: dict[int, float] = {}
    for n in sorted(sizes):
        hashes = crowded_hashes(n)

        def ours(hashes: np.ndarray = hashes) -> tuple[int, int]:
            r = search(hashes, radius=radius)
            return len(r.pairs), int(r.crowded.sum())

        def every_pair(hashes: np.ndarray = hashes) -> tuple[int, int]:
            return len(pairs_within(hashes, radius=radius)), 0

        def imagededup(hashes: np.ndarray = hashes) -> tuple[int, int]:
            from imagededup.methods import PHash

            mask = (1 << 64) - 1
            encoding = {str(k): f"{h & mask:016x}" for k, h in enumerate(hashes.tolist())}
            found = PHash(verbose=False).find_duplicates(
                encoding_map=encoding, max_distance_threshold=radius
            )
            return sum(len(v) for v in found.values()) // 2, 0

        methods = [("ours (bounded)", ours)]
        if n <= search_max:
            methods.append(("every pair (pairs_within)", every_pair))
        if n <= IMAGEDEDUP_CROWDED_MAX:  # 88 s at 5k: its result lists grow as N^2
            methods.append(("imagededup PHash", imagededup))
        rows = {}
        for name, fn in methods:
            try:
                seconds, peak, (pairs, crowded) = _in_child(fn)
            except ImportError:
                continue
            rows[name] = seconds
            print(f"{n:>8} {name:<24} {seconds:>9.2f} {peak:>8.2f} {pairs:>10} {crowded:>8}")
        times[n] = rows["ours (bounded)"]
        for name in rows:
            if name != "ours (bounded)":
                print(f"{n:>8} {name} / ours: {rows[name] / times[n]:.1f}x time")
    if len(times) > 1:
        small, large = min(times), max(times)
        nlogn = large * math.log(large) / (small * math.log(small))
        print(f"growth {small} -> {large}: ours {times[large] / times[small]:.2f}x; "
              f"N log N {nlogn:.2f}x, N^2 {(large / small) ** 2:.0f}x")  # fmt: skip
    print("peak GB: the child process's maximum RSS, the hashes and Python included")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--max-distance", type=int, default=8, help="pHash bits (default 8)")
    parser.add_argument(
        "--baseline-search-max", type=int, default=10000,
        help="most files imagededup's N^2 search is run on; beyond, its time is estimated",
    )  # fmt: skip
    parser.add_argument(
        "--recall-only", action="store_true",
        help="no timing: recall per transform and precision on the synthetic figure dataset",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="synthetic datasets of --recall-only")  # fmt: skip
    parser.add_argument("--crowded", type=int, nargs="+", default=None,
                        help="sizes of the crowded case (search only, peak RSS)")  # fmt: skip
    args = parser.parse_args()
    logging.disable(logging.INFO)  # imagededup logs every step at INFO
    cores = os.cpu_count() or 1
    if args.crowded:
        bench_crowded(args.crowded, args.max_distance, args.baseline_search_max)
        return
    if args.recall_only:
        with tempfile.TemporaryDirectory() as tmp:
            recall_only(Path(tmp), args.seeds, args.max_distance, cores)
        return
    print(
        f"{cores} cores; smooth-noise JPEGs {SIDE[0]}-{SIDE[1]} px, {COPY_RATE:.0%} planted "
        f"copies ({', '.join(COPY_KINDS)}); max distance {args.max_distance} bits"
    )
    print(
        f"{'images':>7} {'method':<20} {'hash s':>8} {'search s':>9} {'total s':>8} "
        f"{'recall':>7} {'precision':>9}"
    )
    ours: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            ours[n] = bench_size(Path(tmp), n, args.max_distance, cores, args.baseline_search_max)
    if len(ours) > 1:
        small, large = min(ours), max(ours)
        nlogn = large * math.log(large) / (small * math.log(small))
        growth = {key: ours[large][key] / ours[small][key] for key in ours[small]}
        print(
            f"growth {small} -> {large}: ours total {growth['total']:.2f}x, search "
            f"{growth['search']:.2f}x (pHash only {growth['phash']:.2f}x); "
            f"N log N {nlogn:.2f}x, N {large / small:.2f}x"
        )
    print(
        f"search s includes clustering (ours: fastest of {SEARCH_REPEAT} runs); "
        "recall and precision are over planted file pairs"
    )


if __name__ == "__main__":
    main()
