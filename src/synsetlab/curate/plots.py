"""Figures of curation reports, written as PNG files (matplotlib's Agg renderer, no display).

Figures are built on :class:`matplotlib.figure.Figure` directly rather than through ``pyplot``:
no global figure registry, no backend switching, safe in a server thread.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from synsetlab.atomic import atomic_file
from synsetlab.curate.balance import BalanceReport

#: Up to this many classes every class gets a named bar; beyond it, a sorted profile.
LABELLED_CLASSES = 40
#: Longest class name shown before it is cut with an ellipsis.
NAME_CHARS = 36
_BAR = "#4c72b0"
_SMALL = "#c44e52"  # classes under min_count
_LARGE = "#dd8452"  # classes over max_count
_DPI = 120


def histogram_png(report: BalanceReport, path: Path | str, *, log: bool = False) -> Path:
    """Write a bar chart of images per class, largest first, to ``path`` (PNG); return the path.

    Up to :data:`LABELLED_CLASSES` classes, one named horizontal bar each with its count; more,
    a sorted profile (class rank against count) without names, the largest and smallest named
    in a corner. Classes under ``report.min_count`` / over ``report.max_count`` are coloured
    and the limits drawn. ``log=True`` puts counts on a log scale (long-tailed datasets).
    """
    path = Path(path)
    if report.classes <= LABELLED_CLASSES:
        fig = _named_bars(report, log=log)
    else:
        fig = _profile(report, log=log)
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=_DPI)
    return path


def _summary(report: BalanceReport) -> str:
    if not report.classes:
        return "no labelled images"
    parts = [
        f"{report.images:,} images in {report.classes:,} classes",
        f"max/min {report.imbalance_ratio:.3g}",
        f"normalised entropy {report.normalised_entropy:.3f}",
        f"effective classes {report.effective_classes:,.1f}",
    ]
    return "  ·  ".join(parts)


def _labels(report: BalanceReport) -> list[str]:
    """Class names, with the wnid added where two classes share a name (ImageNet's two cranes)."""
    seen = Counter(report.names.values())
    out = []
    for wnid in report.counts:
        name = report.names[wnid]
        if len(name) > NAME_CHARS:
            name = name[: NAME_CHARS - 1] + "…"
        out.append(f"{name} ({wnid})" if seen[report.names[wnid]] > 1 else name)
    return out


def _colours(report: BalanceReport) -> list[str]:
    small, large = set(report.small), set(report.large)
    return [_SMALL if w in small else _LARGE if w in large else _BAR for w in report.counts]


def _limit_lines(ax: Axes, report: BalanceReport, *, vertical: bool) -> None:
    line = ax.axvline if vertical else ax.axhline
    if report.min_count is not None:
        line(report.min_count, color=_SMALL, ls="--", lw=1.2, label=f"min {report.min_count:,}")
    if report.max_count is not None:
        line(report.max_count, color=_LARGE, ls="--", lw=1.2, label=f"max {report.max_count:,}")
    if report.min_count is not None or report.max_count is not None:
        # Outside the axes: inside, it would sit on bars or on the profile's corner note.
        ax.figure.legend(loc="outside upper right", ncols=2, frameon=False, fontsize=9)


def _named_bars(report: BalanceReport, *, log: bool) -> Figure:
    k = report.classes
    fig = Figure(figsize=(8.5, 1.6 + 0.3 * max(k, 3)), layout="constrained")
    ax = fig.add_subplot()
    if k == 0:
        ax.set_axis_off()  # the summary line says "no labelled images"
        _style(ax, fig, report, grid_axis="x")
        return fig
    y = np.arange(k)
    counts = list(report.counts.values())
    bars = ax.barh(y, counts, color=_colours(report), height=0.7)
    ax.bar_label(
        bars, labels=[f"{n:,}" for n in counts], padding=3, fontsize=8,
        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.5},
    )  # fmt: skip
    ax.set_yticks(y, _labels(report), fontsize=9)
    ax.set_ylim(k - 0.5, -0.5)  # largest on top
    if log:
        ax.set_xscale("log")
    ax.margins(x=0.08)  # room for the count labels
    ax.set_xlabel("images" + (" (log scale)" if log else ""))
    _count_ticks(ax.xaxis, log=log)
    _limit_lines(ax, report, vertical=True)
    _style(ax, fig, report, grid_axis="x")
    return fig


def _profile(report: BalanceReport, *, log: bool) -> Figure:
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.add_subplot()
    counts = np.array(list(report.counts.values()), dtype=np.float64)
    k = counts.size
    edges = np.arange(k + 1)
    colours = np.array(_colours(report))
    for colour in (_BAR, _SMALL, _LARGE):  # one filled staircase per colour keeps 20k classes fast
        if (colours == colour).any():
            heights = np.where(colours == colour, counts, 0.0)
            ax.stairs(heights, edges, fill=True, color=colour, lw=0)
    ax.stairs(counts, edges, color="#2a4470", lw=0.8)
    ax.set_xlim(0, k)
    ax.set_xlabel(f"classes, sorted by size (rank 1 to {k:,})")
    ax.set_ylabel("images" + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(0.8, counts.min() * 0.5))
    _count_ticks(ax.yaxis, log=log)
    labels = _labels(report)
    first, last = labels[0], labels[-1]
    ax.text(
        0.99, 0.97,
        f"largest: {first} ({counts[0]:,.0f})\nsmallest: {last} ({counts[-1]:,.0f})\n"
        f"median: {np.median(counts):,.0f}",
        transform=ax.transAxes, ha="right", va="top", fontsize=9,
        bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": "#cccccc"},
    )  # fmt: skip
    _limit_lines(ax, report, vertical=False)
    _style(ax, fig, report, grid_axis="y")
    return fig


def _count_ticks(axis: Axis, *, log: bool) -> None:
    """Whole numbers with thousands separators (1,000 rather than 10^3 or 1000.0)."""
    if not log:
        axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _style(ax: Axes, fig: Figure, report: BalanceReport, *, grid_axis: str) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, color="#e5e5e5", lw=0.8)
    ax.set_axisbelow(True)
    ax.set_title(_summary(report), fontsize=9, color="#555555", loc="left")
    fig.suptitle("Images per class", fontsize=12, x=0.01, ha="left", fontweight="bold")
