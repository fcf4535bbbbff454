"""Quality findings: the rules over arrays, and end to end on real files in a real catalog."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from sqlalchemy import select

from synsetlab.catalog.models import Finding
from synsetlab.catalog.models import Image as ImageRow
from synsetlab.curate.decisions import exclude
from synsetlab.curate.quality import (
    QUALITY_KINDS,
    SCORE_CAP,
    QualityThresholds,
    assess_quality,
    find_quality_issues,
    quality_flags,
)
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace

BRAMBLING, GOLDFINCH = "n01530575", "n01531178"


def photo_like(size: tuple[int, int], seed: int) -> Image.Image:
    """Colour noise with a natural photo's 1/f amplitude spectrum (sharp, textured, colourful)."""
    w, h = size
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.rfftfreq(w)[None, :], np.fft.fftfreq(h)[:, None])
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=(3, *f.shape)) + 1j * rng.normal(size=(3, *f.shape))) / f
    x = np.fft.irfft2(spectrum, s=(h, w), axes=(1, 2)).transpose(1, 2, 0)
    x = 0.6 * x + 0.4 * x.mean(axis=2, keepdims=True)  # correlated channels, as in photos
    x = (x - x.mean()) / x.std() * 50 + 120
    return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def make_dataset(root: Path) -> dict[str, set[str]]:
    """Class folders with one picture per quality problem and clean controls.

    Returns source key -> the finding kinds it must get (empty for controls).
    """
    files: dict[str, tuple[bytes, set[str]]] = {}
    for seed in range(7):
        folder = BRAMBLING if seed < 4 else GOLDFINCH
        files[f"{folder}/sharp{seed}.jpg"] = (
            encode(photo_like((320, 240), seed), quality=90),
            set(),
        )
    blurred = photo_like((320, 240), 0).filter(ImageFilter.GaussianBlur(3))
    files.update({
        f"{BRAMBLING}/blurred.jpg": (encode(blurred, quality=90), {"blurry"}),
        f"{BRAMBLING}/tiny.jpg": (encode(photo_like((20, 20), 10), quality=90), {"too-small"}),
        f"{BRAMBLING}/small-ok.jpg": (encode(photo_like((96, 72), 11), quality=90), set()),
        f"{BRAMBLING}/wide.jpg": (encode(photo_like((512, 96), 12), quality=90),
                                  {"extreme-aspect"}),
        f"{BRAMBLING}/wide-ok.jpg": (encode(photo_like((480, 160), 13), quality=90), set()),
        # Flat: also grey, "blurry" and few bits per pixel, but only near-constant is said.
        f"{BRAMBLING}/flat.jpg": (encode(Image.new("RGB", (400, 300), (90, 90, 90))),
                                  {"near-constant"}),
        f"{GOLDFINCH}/grey.jpg": (encode(photo_like((320, 240), 14).convert("L"), quality=90),
                                  {"greyscale"}),
        f"{GOLDFINCH}/crushed.jpg": (encode(photo_like((800, 600), 15), quality=1),
                                     {"tiny-file"}),
        f"{GOLDFINCH}/lossless.png": (encode(photo_like((160, 120), 16), "PNG"), set()),
    })  # fmt: skip
    for key, (data, _) in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {key: kinds for key, (_, kinds) in files.items()}


def findings_by_key(ws: Workspace) -> dict[str, dict[str, Finding]]:
    out: dict[str, dict[str, Finding]] = {}
    with ws.session() as s:
        rows = s.execute(
            select(ImageRow.source_key, Finding)
            .join(ImageRow, Finding.image_id == ImageRow.id)
            .where(Finding.kind.in_(QUALITY_KINDS))
        )
        for key, finding in rows:
            s.expunge(finding)
            out.setdefault(key, {})[finding.kind] = finding
    return out


def test_each_problem_is_found_and_controls_are_not(workspace: Workspace, tmp_path: Path) -> None:
    expected = make_dataset(tmp_path / "photos")
    ingest(workspace, open_imagefolder(tmp_path / "photos"), workers=0)

    report = find_quality_issues(workspace, workers=0)

    found = findings_by_key(workspace)
    assert {k: set(v) for k, v in found.items()} == {k: v for k, v in expected.items() if v}
    assert report.images == report.measured == len(expected)
    assert report.unmeasured == 0
    assert report.counts == {kind: 1 for kind in QUALITY_KINDS}
    assert report.flagged == 6
    # The dataset is large and sharp, so the absolute limits apply.
    t = QualityThresholds()
    assert report.thresholds["too-small"] == t.min_side
    assert report.thresholds["blurry"] == t.min_laplacian_var

    tiny = found[f"{BRAMBLING}/tiny.jpg"]["too-small"]
    assert tiny.wnid == BRAMBLING
    assert tiny.detail["value"] == 20 and tiny.detail["threshold"] == 64
    assert tiny.detail["median_short_side"] == 240
    assert tiny.score == pytest.approx(math.log2(64 / 20))
    wide = found[f"{BRAMBLING}/wide.jpg"]["extreme-aspect"]
    assert wide.detail["value"] == pytest.approx(512 / 96)
    assert wide.score == pytest.approx(math.log2(512 / 96 / 4))
    flat = found[f"{BRAMBLING}/flat.jpg"]["near-constant"]
    assert flat.detail["value"] < 1 and flat.score > 2
    blurry = found[f"{BRAMBLING}/blurred.jpg"]["blurry"]
    assert blurry.detail["value"] < 40 < 100 * blurry.detail["value"]
    assert blurry.detail["median_laplacian_var"] > 400
    grey = found[f"{GOLDFINCH}/grey.jpg"]["greyscale"]
    assert grey.wnid == GOLDFINCH and grey.detail["colour_share"] > 0.9
    assert grey.score == SCORE_CAP  # colourfulness 0: as far past as a score goes
    crushed = found[f"{GOLDFINCH}/crushed.jpg"]["tiny-file"]
    assert crushed.detail["value"] < 0.2 and crushed.detail["threshold"] == 0.25


def test_rerun_replaces_findings_and_skips_excluded_images(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    make_dataset(tmp_path / "photos")
    ingest(ws, open_imagefolder(tmp_path / "photos"), workers=0)
    find_quality_issues(ws, workers=0)
    with ws.session() as s:
        tiny = s.scalar(select(ImageRow.id).where(ImageRow.source_key.endswith("/tiny.jpg")))
        exclude(s, [tiny], reason="test")

    report = find_quality_issues(ws, workers=0)

    assert report.measured == 0  # signals are measured once per content
    assert report.counts["too-small"] == 0 and report.counts["blurry"] == 1
    assert "too-small" not in {k for v in findings_by_key(ws).values() for k in v}


def test_stricter_thresholds_flag_more(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    make_dataset(tmp_path / "photos")
    ingest(sqlite_workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    strict = QualityThresholds(min_side=100, max_aspect=2.5)
    report = find_quality_issues(sqlite_workspace, strict, workers=0)
    found = findings_by_key(sqlite_workspace)
    assert {k for k, v in found.items() if "too-small" in v} == {
        f"{BRAMBLING}/tiny.jpg", f"{BRAMBLING}/small-ok.jpg", f"{BRAMBLING}/wide.jpg"
    }  # fmt: skip
    assert report.counts["extreme-aspect"] == 2  # wide (5.3) and wide-ok (3.0)


# The rules over arrays -----------------------------------------------------------------------


def stats(n: int, **columns: object) -> dict[str, np.ndarray]:
    """n sharp, colourful, well-compressed 500x375 JPEGs, with ``columns`` overriding."""
    base: dict[str, object] = {
        "width": 500, "height": 375, "size_bytes": 60_000, "lossy": True,
        "std": 60.0, "laplacian_var": 900.0, "colourfulness": 50.0,
    }  # fmt: skip
    base.update(columns)
    return {k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in base.items()}


def test_clean_images_are_not_flagged() -> None:
    flags = quality_flags(stats(5))
    assert set(flags) == set(QUALITY_KINDS)
    assert not any(f.any() for f in flags.values())


def test_a_dataset_of_small_pictures_is_not_flagged_wholesale() -> None:
    cifar = stats(4, width=32, height=32, size_bytes=2_000)
    assert not quality_flags(cifar)["too-small"].any()
    mixed = stats(4, width=[32, 500, 500, 500], height=[32, 375, 375, 375])
    assert quality_flags(mixed)["too-small"].tolist() == [True, False, False, False]


def test_blur_is_relative_to_a_soft_dataset() -> None:
    soft = stats(5, laplacian_var=[30.0, 25.0, 35.0, 28.0, 2.0])
    result = assess_quality(soft)["blurry"]
    assert result.flags.tolist() == [False, False, False, False, True]
    assert result.threshold == pytest.approx(0.1 * 28.0)
    assert result.context["median_laplacian_var"] == 28.0


def test_greyscale_is_flagged_only_in_a_mostly_colour_dataset() -> None:
    mostly_colour = stats(3, colourfulness=[0.0, 40.0, 60.0])
    assert quality_flags(mostly_colour)["greyscale"].tolist() == [True, False, False]
    half = stats(4, colourfulness=[0.0, 1.0, 40.0, 60.0])
    assert not quality_flags(half)["greyscale"].any()


def test_near_constant_images_get_that_finding_only() -> None:
    flat = stats(3, std=[0.3, 60.0, 60.0], laplacian_var=[0.0, 900.0, 900.0],
                 colourfulness=[0.0, 50.0, 50.0], size_bytes=[500, 60_000, 60_000])  # fmt: skip
    flags = quality_flags(flat)
    assert {k for k, f in flags.items() if f[0]} == {"near-constant"}
    assert assess_quality(flat)["near-constant"].scores[0] == pytest.approx(math.log2(5 / 0.3))


def test_tiny_file_judges_lossy_formats_only() -> None:
    crushed = stats(2, size_bytes=2_000, lossy=[True, False])  # 0.085 bits per pixel
    result = assess_quality(crushed)["tiny-file"]
    assert result.flags.tolist() == [True, False]
    assert result.values[0] == pytest.approx(8 * 2_000 / (500 * 375))


def test_unmeasured_images_get_size_rules_only() -> None:
    nan = float("nan")
    s = stats(2, width=[20, 500], height=[20, 375], std=nan, laplacian_var=nan, colourfulness=nan)
    flags = quality_flags(s)
    assert {k for k, f in flags.items() if f.any()} == {"too-small"}


def test_zero_limits_turn_rules_off_and_scores_are_capped() -> None:
    bad = stats(2, width=[10, 500], std=[0.0, 60.0], colourfulness=[0.0, 50.0])
    assert assess_quality(bad)["near-constant"].scores[0] == SCORE_CAP
    off = QualityThresholds(min_side=0, min_std=0, min_laplacian_var=0, min_colourfulness=0,
                            min_bits_per_pixel=0, max_aspect=math.inf)  # fmt: skip
    assert not any(f.any() for f in quality_flags(bad, off).values())


def test_bad_stats_are_refused() -> None:
    incomplete = stats(2)
    del incomplete["colourfulness"]
    with pytest.raises(ValueError, match="colourfulness"):
        quality_flags(incomplete)
    ragged = stats(2)
    ragged["std"] = np.zeros(3)
    with pytest.raises(ValueError, match="one length"):
        quality_flags(ragged)
    with pytest.raises(ValueError):
        QualityThresholds(colour_majority=1.5)
