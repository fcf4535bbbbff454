"""Image quality findings: pictures too small, elongated, blank, blurry, grey or starved of bits.

The rules are plain functions over arrays (:func:`assess_quality`, :func:`quality_flags`), so
they can be tested and tuned without a catalog; :func:`find_quality_issues` feeds them the
catalog's numbers (image sizes, file sizes and the per-content signals of
:mod:`synsetlab.curate.signals`) and records one finding per image and rule broken.

Two rules are relative to the dataset as well as absolute, so that a dataset which is small or
soft by nature (CIFAR's 32 px pictures, upscaled thumbnails, X-rays) is not flagged wholesale:
an image is *too small* when its short side is under ``min_side`` AND under ``min_side_vs_median``
times the dataset's median short side, *blurry* when its sharpness is under
``min_laplacian_var`` AND under ``blur_vs_median`` times the dataset's median sharpness. Both
are "the smaller of the two limits", which is what a finding's ``detail["threshold"]`` holds.
Images with no variation at all (*near-constant*) get that finding only: sharpness, colour and
compression rate say nothing about a blank picture.

Scores are ``log2(threshold / value)`` for "too low" rules and ``log2(value / threshold)`` for
"too high" ones: 0 at the threshold, 1 when twice past it, capped at :data:`SCORE_CAP`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import BlobSignals, Image
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import QUALITY_KINDS
from synsetlab.curate.signals import update_signals
from synsetlab.settings import QualityThresholds
from synsetlab.workspace import Workspace

#: Largest score recorded: 10 = 1024 times past the threshold (a zero value would be infinite).
SCORE_CAP = 10.0
#: Pillow formats whose files are usually lossy; a low bit rate in a lossless file (PNG, GIF)
#: only means simple content, so ``tiny-file`` is not judged there.
LOSSY_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "JPEG2000", "AVIF", "HEIF"})
#: Keys :func:`assess_quality` needs, each an array with one value per image.
STAT_KEYS = ("width", "height", "size_bytes", "lossy", "std", "laplacian_var", "colourfulness")


@dataclass(frozen=True)
class RuleResult:
    """One rule applied to n images."""

    #: (n,) bool: the images that break the rule.
    flags: np.ndarray
    #: (n,) float: the statistic the rule reads (pixels, ratio, grey levels, bits per pixel...).
    values: np.ndarray
    #: The limit applied, after any dataset-relative lowering (see the module docstring).
    threshold: float
    #: (n,) float: log2 of how far past the threshold, 0 where not flagged.
    scores: np.ndarray
    #: Dataset facts the threshold came from (median short side, colour share...).
    context: dict[str, float] = field(default_factory=dict)


@dataclass
class QualityReport:
    """What one run of :func:`find_quality_issues` found."""

    #: Current (not excluded) images assessed.
    images: int
    #: Contents measured by this run (earlier runs' measurements are reused).
    measured: int
    #: Images without signals (their content could not be read): only size rules applied.
    unmeasured: int
    #: Findings per kind, every kind present.
    counts: dict[str, int]
    #: The threshold each rule applied, after dataset-relative lowering.
    thresholds: dict[str, float]
    #: Images with at least one finding.
    flagged: int


def assess_quality(
    stats: Mapping[str, np.ndarray], thresholds: QualityThresholds | None = None
) -> dict[str, RuleResult]:
    """Apply every rule to per-image statistics; return kind -> :class:`RuleResult`.

    ``stats`` maps each of :data:`STAT_KEYS` to an array of n values: ``width``, ``height``
    (pixels), ``size_bytes`` (file size), ``lossy`` (bool: a lossy format), and the thumbnail
    signals ``std``, ``laplacian_var``, ``colourfulness`` (NaN where not measured: rules that
    need them then never flag that image).
    """
    t = thresholds or QualityThresholds()
    s = _as_arrays(stats)
    short = np.minimum(s["width"], s["height"])
    long = np.maximum(s["width"], s["height"])
    blank = s["std"] < t.min_std
    judged = ~blank  # near-constant images get that finding only
    results = {
        "too-small": _too_small(short, t),
        "extreme-aspect": _above(long / np.maximum(short, 1.0), t.max_aspect),
        "near-constant": _below(s["std"], t.min_std),
        "blurry": _blurry(s["laplacian_var"], judged, t),
        "greyscale": _greyscale(s["colourfulness"], judged, t),
        "tiny-file": _below(
            8.0 * s["size_bytes"] / np.maximum(s["width"] * s["height"], 1.0),
            t.min_bits_per_pixel,
            where=judged & s["lossy"],
        ),
    }
    assert tuple(results) == QUALITY_KINDS
    return results


def quality_flags(
    stats: Mapping[str, np.ndarray], thresholds: QualityThresholds | None = None
) -> dict[str, np.ndarray]:
    """kind -> (n,) bool array of the images breaking that rule (see :func:`assess_quality`)."""
    return {kind: r.flags for kind, r in assess_quality(stats, thresholds).items()}


def _as_arrays(stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [k for k in STAT_KEYS if k not in stats]
    if missing:
        raise ValueError(f"quality stats lack {missing}; give arrays for all of {STAT_KEYS}")
    out = {k: np.asarray(stats[k], dtype=bool if k == "lossy" else np.float64) for k in STAT_KEYS}
    lengths = {k: v.shape for k, v in out.items()}
    if len(set(lengths.values())) != 1 or out["width"].ndim != 1:
        raise ValueError(f"quality stats must be 1-D arrays of one length, got shapes {lengths}")
    return out


def _below(
    values: np.ndarray, limit: float, *, where: np.ndarray | None = None, **context: float
) -> RuleResult:
    """Flag values under ``limit`` (NaN never); score log2(limit / value)."""
    flags = values < limit  # NaN compares False
    if where is not None:
        flags &= where
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = limit / np.maximum(values, limit / 2**SCORE_CAP)
    return RuleResult(flags, values, float(limit), _scores(flags, ratio), dict(context))


def _above(values: np.ndarray, limit: float) -> RuleResult:
    """Flag values over ``limit``; score log2(value / limit)."""
    flags = values > limit
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / limit
    return RuleResult(flags, values, float(limit), _scores(flags, ratio))


def _scores(flags: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flags, np.minimum(np.log2(ratio), SCORE_CAP), 0.0)


def _relative_limit(absolute: float, fraction: float, values: np.ndarray) -> tuple[float, float]:
    """min(absolute, fraction x median of the finite values), and that median (NaN if none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return absolute, float("nan")
    median = float(np.median(finite))
    return min(absolute, fraction * median), median


def _too_small(short: np.ndarray, t: QualityThresholds) -> RuleResult:
    limit, median = _relative_limit(float(t.min_side), t.min_side_vs_median, short)
    return _below(short, limit, median_short_side=median)


def _blurry(sharpness: np.ndarray, judged: np.ndarray, t: QualityThresholds) -> RuleResult:
    limit, median = _relative_limit(t.min_laplacian_var, t.blur_vs_median, sharpness[judged])
    return _below(sharpness, limit, where=judged, median_laplacian_var=median)


def _greyscale(colour: np.ndarray, judged: np.ndarray, t: QualityThresholds) -> RuleResult:
    known = judged & np.isfinite(colour)
    share = float((colour[known] >= t.min_colourfulness).mean()) if known.any() else 0.0
    mostly_colour = share > t.colour_majority
    return _below(colour, t.min_colourfulness, where=judged & mostly_colour, colour_share=share)


# The catalog side --------------------------------------------------------------------------


def find_quality_issues(
    ws: Workspace,
    thresholds: QualityThresholds | None = None,
    *,
    workers: int | None = None,
) -> QualityReport:
    """Measure new contents, assess every current image, and replace earlier quality findings.

    Excluded images are not assessed (their earlier findings are dropped with the rest).
    Each finding names the image, its current class (``wnid``), a score (log2 of how far past
    the threshold) and ``detail``: the ``value``, the ``threshold`` applied, and the dataset
    facts a relative threshold came from. ``workers`` are processes measuring signals.
    ``thresholds`` default to the workspace's settings (``[quality]`` in synsetlab.toml).
    """
    thresholds = thresholds or ws.settings.quality
    measured = update_signals(ws, workers=workers)
    with ws.session() as s:
        ids, wnids, stats = _load_stats(s)
        results = assess_quality(stats, thresholds)
        findings = list(_findings(ids, wnids, results))
        run = RunFacts(thresholds.model_dump(), images=len(ids))
        replace_findings(s, QUALITY_KINDS, findings, run=run)
    flagged = np.zeros(len(ids), dtype=bool)
    for r in results.values():
        flagged |= r.flags
    return QualityReport(
        images=len(ids),
        measured=measured,
        unmeasured=int(np.isnan(stats["std"]).sum()),
        counts={kind: int(r.flags.sum()) for kind, r in results.items()},
        thresholds={kind: r.threshold for kind, r in results.items()},
        flagged=int(flagged.sum()),
    )


def _load_stats(s: Session) -> tuple[list[int], list[str | None], dict[str, np.ndarray]]:
    """Image ids, current classes and :data:`STAT_KEYS` arrays of the current images."""
    current = {c.image_id: c.wnid for c in current_images(s)}
    query = (
        select(
            Image.id,
            Image.width,
            Image.height,
            Image.size_bytes,
            Image.format,
            BlobSignals.std,
            BlobSignals.laplacian_var,
            BlobSignals.colourfulness,
        )
        .outerjoin(BlobSignals, BlobSignals.sha256 == Image.sha256)
        .order_by(Image.id)
    )
    rows = [r for r in s.execute(query) if r[0] in current]
    nan = float("nan")
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    stats = {
        "width": np.array(columns[1], dtype=np.float64),
        "height": np.array(columns[2], dtype=np.float64),
        "size_bytes": np.array(columns[3], dtype=np.float64),
        "lossy": np.array([f in LOSSY_FORMATS for f in columns[4]], dtype=bool),
        "std": np.array([nan if v is None else v for v in columns[5]], dtype=np.float64),
        "laplacian_var": np.array([nan if v is None else v for v in columns[6]], dtype=np.float64),
        "colourfulness": np.array([nan if v is None else v for v in columns[7]], dtype=np.float64),
    }
    ids = [int(i) for i in columns[0]]
    return ids, [current[i] for i in ids], stats


def _findings(
    ids: list[int], wnids: list[str | None], results: dict[str, RuleResult]
) -> list[NewFinding]:
    out = []
    for kind, r in results.items():
        for i in np.flatnonzero(r.flags):
            detail = {"value": float(r.values[i]), "threshold": r.threshold, **r.context}
            out.append(NewFinding(kind, ids[i], wnids[i], float(r.scores[i]), detail))
    return out
