"""generate(): the files on disk, the manifest and truth.json agree, and faults are as planted."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from synsetlab.synthetic import (
    CORRUPT_DEFECTS,
    NEAR_DUPLICATE_TRANSFORMS,
    SyntheticConfig,
    generate,
    load_truth,
    planted_count,
)

if TYPE_CHECKING:
    from conftest import Generated

TINY = SyntheticConfig(
    classes=("n13873502", "n13881644", "n13876371"),
    per_class=4,
    image_size=(32, 32),
    exact_duplicate_rate=0.1,
    near_duplicate_rate=0.2,
    corrupt_rate=0.1,
    wrong_label_rate=0.1,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hash_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha256(p) for p in root.rglob("*") if p.is_file()}


def _thumbnail(path: Path, *, mirror: bool = False) -> np.ndarray:
    """32x32 RGB as float, mirrored back if asked: what 'visually close' is measured on."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    if mirror:
        rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(rgb.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)


def test_counts_follow_the_rates(small_dataset: Generated) -> None:
    config, counts = small_dataset.config, small_dataset.report.counts
    n_clean = config.n_clean
    assert counts == {
        "clean": n_clean,
        "exact-duplicate": planted_count(config.exact_duplicate_rate, n_clean),
        "near-duplicate": planted_count(config.near_duplicate_rate, n_clean),
        "corrupt": planted_count(config.corrupt_rate, n_clean),
        "total": 80 + 4 + 10 + 8,
        "png": planted_count(config.png_fraction, n_clean),
        "lying-extension": planted_count(config.lying_extension_rate, n_clean),
        "wrong-label": planted_count(config.wrong_label_rate, n_clean),
    }
    assert small_dataset.truth.counts == counts


def test_every_transform_and_defect_is_planted(small_dataset: Generated) -> None:
    assert small_dataset.report.transforms == dict.fromkeys(NEAR_DUPLICATE_TRANSFORMS, 2)
    assert small_dataset.report.defects == dict.fromkeys(CORRUPT_DEFECTS, 2)


def test_manifest_matches_the_folders(small_dataset: Generated) -> None:
    out_dir = small_dataset.out_dir
    with (out_dir / "manifest.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", "wnid"]
    paths = [path for path, _ in rows[1:]]
    assert paths == sorted(paths)
    on_disk = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert on_disk == sorted([*paths, "manifest.csv", "truth.json"])
    for path, wnid in rows[1:]:
        assert Path(path).parts[:2] == ("images", wnid)
    assert paths == list(small_dataset.report.files)
    assert [record.path for record in small_dataset.truth.files] == paths


def test_every_class_has_a_folder(small_dataset: Generated) -> None:
    folders = {p.name for p in (small_dataset.out_dir / "images").iterdir()}
    assert folders == set(small_dataset.config.classes)


def test_truth_hashes_match_the_bytes(small_dataset: Generated) -> None:
    for record in small_dataset.truth.files:
        assert _sha256(small_dataset.out_dir / record.path) == record.sha256, record.path


def test_images_decode_with_the_recorded_format_and_size(small_dataset: Generated) -> None:
    config = small_dataset.config
    low = [round(side * (1 - config.size_jitter)) for side in config.image_size]
    high = [round(side * (1 + config.size_jitter)) for side in config.image_size]
    for record in small_dataset.truth.files:
        if record.kind == "corrupt":
            continue
        with Image.open(small_dataset.out_dir / record.path) as image:
            image.load()
            assert (image.format, image.size) == (record.format, record.size), record.path
        if record.kind == "clean":
            assert all(
                lo <= side <= hi for lo, side, hi in zip(low, record.size, high, strict=True)
            )


def test_corrupt_files_do_not_decode(small_dataset: Generated) -> None:
    corrupt = [record for record in small_dataset.truth.files if record.kind == "corrupt"]
    assert corrupt
    for record in corrupt:
        path = small_dataset.out_dir / record.path
        assert path.suffix == ".jpg"
        if record.defect == "zero-byte":
            assert path.stat().st_size == 0
            continue
        with pytest.raises(OSError), Image.open(path) as image:
            image.load()


def test_truncated_jpegs_keep_a_jpeg_header(small_dataset: Generated) -> None:
    truncated = [r for r in small_dataset.truth.files if r.defect == "truncated-jpeg"]
    for record in truncated:
        data = (small_dataset.out_dir / record.path).read_bytes()
        assert data[:2] == b"\xff\xd8"
        assert record.true_wnid == record.given_wnid


def test_lying_extensions_are_valid_pngs_named_jpg(small_dataset: Generated) -> None:
    lying = [r for r in small_dataset.truth.files if r.lying_extension]
    assert lying
    for record in lying:
        assert record.path.endswith(".jpg")
        assert record.format == "PNG"
        assert (small_dataset.out_dir / record.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other_pngs = [
        r for r in small_dataset.truth.files if r.format == "PNG" and not r.lying_extension
    ]
    assert all(record.path.endswith(".png") for record in other_pngs)


def test_exact_duplicates_copy_their_original(small_dataset: Generated) -> None:
    by_path = small_dataset.truth.by_path()
    for record in small_dataset.truth.files:
        if record.kind != "exact-duplicate":
            continue
        original = by_path[record.original]
        assert original.kind == "clean"
        assert (small_dataset.out_dir / record.path).read_bytes() == (
            small_dataset.out_dir / original.path
        ).read_bytes()
        assert (record.given_wnid, record.true_wnid) == (original.given_wnid, original.true_wnid)


def test_near_duplicates_differ_in_bytes_but_look_alike(small_dataset: Generated) -> None:
    out_dir, truth = small_dataset.out_dir, small_dataset.truth
    by_path = truth.by_path()
    clean = [record.path for record in truth.files if record.kind == "clean"]
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a, b in rng.integers(0, len(clean), (200, 2)) if a != b]
    unrelated = [
        np.abs(_thumbnail(out_dir / clean[a]) - _thumbnail(out_dir / clean[b])).mean()
        for a, b in pairs
    ]
    threshold = np.percentile(unrelated, 5)
    for record in truth.files:
        if record.kind != "near-duplicate":
            continue
        original = by_path[record.original]
        assert original.kind == "clean"
        assert record.sha256 != original.sha256
        assert record.true_wnid == original.true_wnid
        mirrored = record.transform == "hflip"
        distance = np.abs(
            _thumbnail(out_dir / record.path, mirror=mirrored) - _thumbnail(out_dir / original.path)
        ).mean()
        assert distance < threshold, (record.path, record.transform, distance, threshold)


def test_wrong_labels_differ_from_the_truth(small_dataset: Generated) -> None:
    files = small_dataset.truth.files
    for record in files:
        if record.kind == "corrupt" and record.true_wnid is None:
            continue
        assert record.wrong_label == (record.given_wnid != record.true_wnid), record.path
    wrong_clean = [r for r in files if r.kind == "clean" and r.wrong_label]
    assert len(wrong_clean) == small_dataset.report.counts["wrong-label"] > 0


def test_clean_images_per_true_class(small_dataset: Generated) -> None:
    clean = [r for r in small_dataset.truth.files if r.kind == "clean"]
    per_class = Counter(record.true_wnid for record in clean)
    assert per_class == dict.fromkeys(small_dataset.config.classes, small_dataset.config.per_class)


def test_truth_roundtrips_the_config(small_dataset: Generated) -> None:
    assert small_dataset.truth.config == small_dataset.config


def test_same_config_gives_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", TINY)
    generate(tmp_path / "b", TINY)
    assert _hash_tree(tmp_path / "a") == _hash_tree(tmp_path / "b")


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", TINY)
    generate(tmp_path / "b", replace(TINY, seed=1))
    a = set(_hash_tree(tmp_path / "a" / "images").values())
    b = set(_hash_tree(tmp_path / "b" / "images").values())
    # Zero-byte files and a repeated error page may coincide; pictures must not.
    assert len(a & b) <= 2


def test_a_class_draws_the_same_pictures_whatever_the_other_classes(tmp_path: Path) -> None:
    plain = {
        "png_fraction": 0.0,
        "lying_extension_rate": 0.0,
        "wrong_label_rate": 0.0,
        "exact_duplicate_rate": 0.0,
        "near_duplicate_rate": 0.0,
        "corrupt_rate": 0.0,
    }
    generate(tmp_path / "one", SyntheticConfig(classes=("n13876371",), per_class=3, **plain))
    generate(
        tmp_path / "two", SyntheticConfig(classes=("n13873502", "n13876371"), per_class=3, **plain)
    )
    one = set(_hash_tree(tmp_path / "one" / "images" / "n13876371").values())
    two = set(_hash_tree(tmp_path / "two" / "images" / "n13876371").values())
    assert one == two


def test_non_empty_out_dir_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate(tmp_path, TINY)


def test_overwrite_removes_only_what_generate_wrote(tmp_path: Path) -> None:
    generate(tmp_path, TINY)
    stale = tmp_path / "images" / "n13873502" / "stale.jpg"
    stale.write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    report = generate(tmp_path, TINY, overwrite=True)
    assert not stale.exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert load_truth(tmp_path).counts == report.counts


def test_existing_empty_dir_is_fine(tmp_path: Path) -> None:
    assert generate(tmp_path, TINY).counts["clean"] == TINY.n_clean


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "shapes"
    target.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"):
        generate(target, TINY, overwrite=True)


def test_load_truth_without_a_dataset_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="synsetlab synthetic generate"):
        load_truth(tmp_path)
