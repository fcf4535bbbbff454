"""Class balance: how images spread over classes, and policies that even it out.

:func:`class_balance` counts the current labelled images of each class (after decisions; images
without a label or with conflicting labels are counted apart), reports three well-known
measures, and records ``small-class`` / ``large-class`` findings against optional limits:

- imbalance ratio: largest class / smallest class (1 = even);
- normalised entropy (Pielou's evenness): Shannon entropy / log(classes), 0..1 (1 = even);
- effective number of classes: exp(Shannon entropy), the number of equally large classes with
  the same entropy (Hill number of order 1).

:func:`apply_balance` turns limits into reversible ``exclude`` decisions (reasons
``balance:min`` and ``balance:max``, which ``decisions.undo(s, reason=...)`` takes back).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from synsetlab.catalog.current import CurrentImage, current_images
from synsetlab.curate.decisions import exclude, keep_ranking
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import BALANCE_KINDS, REASON_MAX, REASON_MIN
from synsetlab.curate.signals import update_signals
from synsetlab.errors import UserError
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace


class BalanceError(UserError, ValueError):
    """Class-count limits that cannot be applied (below 1, or a minimum above the maximum)."""


@dataclass
class BalanceReport:
    """Images per class and how evenly they spread."""

    #: wnid -> current labelled images, largest class first (ties by wnid).
    counts: dict[str, int]
    #: wnid -> display name (the taxonomy's usual name; the wnid itself when unknown).
    names: dict[str, str]
    #: Images without a label, or whose labels conflict: in no class.
    unlabelled: int = 0
    conflicts: int = 0
    min_count: int | None = None
    max_count: int | None = None

    @property
    def classes(self) -> int:
        return len(self.counts)

    @property
    def images(self) -> int:
        """Labelled images counted (unlabelled and conflicting ones are not)."""
        return sum(self.counts.values())

    @property
    def imbalance_ratio(self) -> float | None:
        """Largest / smallest class; None without classes."""
        return imbalance_ratio(list(self.counts.values()))

    @property
    def normalised_entropy(self) -> float | None:
        """Shannon entropy / log(classes), 0..1; 1.0 for one class; None without classes."""
        return normalised_entropy(list(self.counts.values()))

    @property
    def effective_classes(self) -> float:
        """exp(Shannon entropy): equally large classes that would have the same entropy."""
        return effective_classes(list(self.counts.values()))

    @property
    def small(self) -> list[str]:
        """Classes under ``min_count``, smallest first."""
        if self.min_count is None:
            return []
        return sorted((w for w, n in self.counts.items() if n < self.min_count), key=self._order)

    @property
    def large(self) -> list[str]:
        """Classes over ``max_count``, largest first."""
        if self.max_count is None:
            return []
        return [w for w, n in self.counts.items() if n > self.max_count]

    def _order(self, wnid: str) -> tuple[int, str]:
        return self.counts[wnid], wnid


@dataclass
class BalancePolicyReport:
    """What :func:`apply_balance` excluded."""

    before: BalanceReport
    after: BalanceReport
    #: wnid -> images newly excluded because the class is under ``min_count`` (all of them).
    removed: dict[str, int] = field(default_factory=dict)
    #: wnid -> images newly excluded to bring the class down to ``max_count``.
    capped: dict[str, int] = field(default_factory=dict)

    @property
    def excluded(self) -> int:
        return sum(self.removed.values()) + sum(self.capped.values())


# Measures over counts ------------------------------------------------------------------------


def _proportions(counts: list[int]) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    return c / c.sum() if c.size else c


def shannon_entropy(counts: list[int]) -> float:
    """Shannon entropy of the class distribution, in nats (empty classes ignored)."""
    p = _proportions(counts)
    return float(-(p * np.log(p)).sum())


def imbalance_ratio(counts: list[int]) -> float | None:
    """Largest / smallest non-empty class; None without any."""
    c = [n for n in counts if n > 0]
    return max(c) / min(c) if c else None


def normalised_entropy(counts: list[int]) -> float | None:
    """Entropy / log(classes) in 0..1 (Pielou's evenness); 1.0 for one class, None for none."""
    k = sum(1 for n in counts if n > 0)
    if k == 0:
        return None
    return 1.0 if k == 1 else shannon_entropy(counts) / math.log(k)


def effective_classes(counts: list[int]) -> float:
    """exp(entropy): the number of equally large classes with the same entropy (0 for none)."""
    return math.exp(shannon_entropy(counts)) if any(n > 0 for n in counts) else 0.0


def summarise_counts(
    counts: Mapping[str, int],
    *,
    names: Mapping[str, str] | None = None,
    unlabelled: int = 0,
    conflicts: int = 0,
    min_count: int | None = None,
    max_count: int | None = None,
) -> BalanceReport:
    """A :class:`BalanceReport` from per-class counts (no catalog needed; zero counts dropped)."""
    _check_limits(min_count, max_count)
    ordered = dict(
        sorted(((w, n) for w, n in counts.items() if n > 0), key=lambda x: (-x[1], x[0]))
    )
    names = names or {}
    return BalanceReport(
        counts=ordered,
        names={w: names.get(w, w) for w in ordered},
        unlabelled=unlabelled,
        conflicts=conflicts,
        min_count=min_count,
        max_count=max_count,
    )


def _check_limits(min_count: int | None, max_count: int | None) -> None:
    for name, value in (("min_count", min_count), ("max_count", max_count)):
        if value is not None and value < 1:
            raise BalanceError(f"{name} must be at least 1, got {value}")
    if min_count is not None and max_count is not None and min_count > max_count:
        raise BalanceError(f"min_count ({min_count}) is larger than max_count ({max_count})")


# The catalog side ----------------------------------------------------------------------------


def class_balance(
    ws: Workspace, *, min_count: int | None = None, max_count: int | None = None
) -> BalanceReport:
    """Count current labelled images per class and replace earlier class-size findings.

    A class under ``min_count`` gets a ``small-class`` finding (score log2(min_count / count)),
    one over ``max_count`` a ``large-class`` finding (score log2(count / max_count)); both carry
    ``wnid`` and no image, and ``detail`` holds the count and the limit. Without limits the run
    records none, clearing earlier ones.
    """
    _check_limits(min_count, max_count)
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        images = current_images(s)
        report = _report(images, taxonomy, min_count, max_count)
        run = RunFacts({"min_count": min_count, "max_count": max_count}, images=len(images))
        replace_findings(s, BALANCE_KINDS, _findings(report), run=run)
    return report


def _report(
    images: list[CurrentImage],
    taxonomy: Taxonomy,
    min_count: int | None,
    max_count: int | None,
) -> BalanceReport:
    counts = Counter(i.wnid for i in images if i.wnid is not None)
    conflicts = sum(1 for i in images if i.conflict)
    return summarise_counts(
        counts,
        # A label outside the taxonomy still deserves a bar, under its wnid.
        names={wnid: taxonomy.name_of(wnid) for wnid in counts},
        unlabelled=len(images) - counts.total() - conflicts,
        conflicts=conflicts,
        min_count=min_count,
        max_count=max_count,
    )


def _findings(report: BalanceReport) -> list[NewFinding]:
    out = []
    low, high = report.min_count, report.max_count
    for wnid in report.small if low is not None else ():
        n = report.counts[wnid]
        detail = {"count": n, "min_count": low}
        out.append(NewFinding("small-class", wnid=wnid, score=math.log2(low / n), detail=detail))
    for wnid in report.large if high is not None else ():
        n = report.counts[wnid]
        detail = {"count": n, "max_count": high}
        out.append(NewFinding("large-class", wnid=wnid, score=math.log2(n / high), detail=detail))
    return out


def apply_balance(
    ws: Workspace,
    *,
    min_count: int | None = None,
    max_count: int | None = None,
    seed: int = 0,
    prefer_quality: bool = True,
    workers: int | None = None,
) -> BalancePolicyReport:
    """Exclude images so that every class has between ``min_count`` and ``max_count`` images.

    A class under ``min_count`` loses all its images (reason ``balance:min``). A class over
    ``max_count`` keeps ``max_count`` images (reason ``balance:max`` for the rest), chosen in
    this order: images with a verified label of that class, then (with ``prefer_quality``) the
    sharpest (variance of the Laplacian) and the largest (pixels), then a shuffle seeded by
    ``seed`` and the class. ``prefer_quality=False`` samples uniformly within verified and within
    unverified images, which keeps the class's mix of pictures (keeping the sharpest shifts it).

    Only current images count, so a second run with the same limits excludes nothing more. To
    loosen a policy, undo it first: ``undo(s, reason="balance:max")``. ``workers`` are
    processes measuring sharpness of new contents when a class must be capped.
    """
    _check_limits(min_count, max_count)
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        before = _report(current_images(s), taxonomy, min_count, max_count)
    if prefer_quality and before.large:
        update_signals(ws, workers=workers)
    removed: dict[str, int] = {}
    capped: dict[str, int] = {}
    with ws.session() as s:
        images = current_images(s)  # again: another writer may have decided in between
        by_class: dict[str, list[int]] = {}
        for i in images:
            if i.wnid is not None:
                by_class.setdefault(i.wnid, []).append(i.image_id)
        if min_count is not None:
            small = {w: ids for w, ids in by_class.items() if len(ids) < min_count}
            exclude(s, [i for ids in small.values() for i in ids], reason=REASON_MIN)
            removed = {w: len(ids) for w, ids in sorted(small.items())}
        if max_count is not None:
            large = {w: ids for w, ids in by_class.items() if len(ids) > max_count}
            rank = keep_ranking(s, prefer_quality=prefer_quality)
            dropped = {
                w: rank.order(ids, wnid=w, seed=seed)[max_count:]
                for w, ids in sorted(large.items())
            }
            exclude(s, [i for ids in dropped.values() for i in ids], reason=REASON_MAX)
            capped = {w: len(ids) for w, ids in dropped.items()}
        after_counts = {w: len(ids) for w, ids in by_class.items()}
        for w, n in (removed | capped).items():
            after_counts[w] -= n
    after = summarise_counts(
        after_counts,
        names=before.names,
        unlabelled=before.unlabelled,
        conflicts=before.conflicts,
        min_count=min_count,
        max_count=max_count,
    )
    return BalancePolicyReport(before=before, after=after, removed=removed, capped=capped)
