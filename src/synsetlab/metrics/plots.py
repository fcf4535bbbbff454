"""Figures of an evaluation, written as PNG files: confusion matrix, reliability diagram and
training curves.

Built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than through ``pyplot``: no
global figure registry, no backend switching, safe in a server thread. Each figure is written
to a temporary name beside its target and then renamed over it, so a reader never sees a
half-written PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from synsetlab.atomic import atomic_file
from synsetlab.metrics.classification import ReliabilityBins

__all__ = ["plot_confusion_matrix", "plot_reliability_diagram", "plot_training_curves"]

#: Longest class name shown on a confusion matrix axis before it is cut with an ellipsis.
NAME_CHARS = 28
#: Up to this many classes, each cell of the confusion matrix shows its value.
ANNOTATED_CLASSES = 12
_BAR = "#4c72b0"
_GAP = "#c44e52"  # miscalibration: the gap between accuracy and confidence
_SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
_DPI = 120


# Confusion matrix --------------------------------------------------------------------------------


def plot_confusion_matrix(
    matrix: np.ndarray,
    classes: Sequence[str],
    path: Path | str,
    *,
    normalize: bool = True,
    max_classes: int = 50,
) -> Path:
    """Draw a confusion matrix as a heat map and write it to ``path`` (PNG); return the path.

    Args:
        matrix: ``(C, C)`` counts, row = true class, column = predicted class (as
            :func:`~synsetlab.metrics.confusion_matrix` returns).
        classes: the ``C`` class names shown on the axes, in class-index order.
        path: the PNG to write; its folder must exist.
        normalize: show each row as fractions of the true class's images (recall on the
            diagonal) rather than counts.
        max_classes: with more classes, only the ``max_classes`` most confused ones are drawn
            (most images wrongly in or out of them), in class-index order; the title says so.
    """
    m = _square_counts(matrix)
    c = m.shape[0]
    if len(classes) != c:
        raise ValueError(f"matrix is {c}x{c} but {len(classes)} class names were given")
    if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
        raise ValueError(f"max_classes must be a positive integer, got {max_classes!r}")
    shown = np.arange(c) if c <= max_classes else _most_confused(m, max_classes)
    n = len(shown)
    totals = m.sum(axis=1)
    cells = m[np.ix_(shown, shown)].astype(np.float64)
    if normalize:
        # Fractions of all the true class's images, including those predicted as classes left out.
        rows = totals[shown][:, None]
        cells = np.divide(cells, rows, out=np.full_like(cells, np.nan), where=rows > 0)

    side = min(16.0, max(5.5, 2.8 + 0.24 * n))
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(cells), cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None,
        interpolation="nearest", aspect="equal",
    )  # fmt: skip
    colourbar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    colourbar.set_label("fraction of the true class's images" if normalize else "images")
    if normalize:
        colourbar.formatter = PercentFormatter(xmax=1.0)
    names = [_short(classes[i]) for i in shown]
    fontsize = 9 if n <= 20 else 7 if n <= 35 else 6
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, names, fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= ANNOTATED_CLASSES:
        _annotate_cells(ax, cells, normalize=normalize)

    images = int(totals.sum())
    accuracy = f"top-1 accuracy {np.trace(m) / images:.1%}" if images else "no images"
    # Short enough for the narrowest figure: the colour bar's label says what a cell holds.
    ax.set_title(f"{images:,} images  ·  {accuracy}", fontsize=9, color="#555555", loc="left")
    title = "Confusion matrix"
    if n < c:
        title += f": the {n} most confused of {c:,} classes"
    fig.suptitle(title, fontsize=12, x=0.01, ha="left", fontweight="bold")
    return _save(fig, path)


def _square_counts(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"matrix must be a non-empty square (C, C) array, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.number) or m.dtype == np.bool_:
        raise ValueError(f"matrix must hold counts, got dtype {m.dtype}")
    if (m < 0).any():
        i, j = np.argwhere(m < 0)[0]
        raise ValueError(f"matrix must hold non-negative counts, got matrix[{i}, {j}] = {m[i, j]}")
    return m


def _most_confused(m: np.ndarray, keep: int) -> np.ndarray:
    """The ``keep`` classes with most images wrongly in or out of them, in index order."""
    wrong = m.astype(np.float64)
    np.fill_diagonal(wrong, 0)
    confused = wrong.sum(axis=0) + wrong.sum(axis=1)
    return np.sort(np.argsort(-confused, kind="stable")[:keep])


def _annotate_cells(ax: Axes, cells: np.ndarray, *, normalize: bool) -> None:
    top = np.nanmax(cells) if np.isfinite(cells).any() else 0.0
    for (i, j), value in np.ndenumerate(cells):
        if np.isnan(value) or value == 0:
            continue
        text = f"{value:.0%}" if normalize else f"{value:,.0f}"
        dark = value > 0.6 * (1.0 if normalize else top)
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "#333333")  # fmt: skip


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


# Reliability diagram -----------------------------------------------------------------------------


def plot_reliability_diagram(bins: ReliabilityBins, path: Path | str) -> Path:
    """Draw accuracy against confidence per bin, with images per bin below; return the path.

    Bars show each bin's accuracy, the red band its gap to the bin's mean confidence (above the
    bar: over-confident), the dashed diagonal perfect calibration; the ECE is in the title.

    Args:
        bins: from :func:`~synsetlab.metrics.reliability_bins`.
        path: the PNG to write; its folder must exist.
    """
    edges, count = bins.edges, bins.count
    left, width = edges[:-1], np.diff(edges)
    full = count > 0
    fig = Figure(figsize=(6.4, 7.0), layout="constrained")
    ax, below = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.bar(left[full], bins.accuracy[full], width[full], align="edge", color=_BAR,
           edgecolor="white", label="accuracy")  # fmt: skip
    ax.bar(
        left[full], bins.confidence[full] - bins.accuracy[full], width[full],
        bottom=bins.accuracy[full], align="edge", color=_GAP, alpha=0.35, edgecolor=_GAP,
        hatch="//", lw=0.6, label="gap to mean confidence",
    )  # fmt: skip
    ax.plot([0, 1], [0, 1], ls="--", color="#555555", lw=1.2, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    below.bar(left, count, width, align="edge", color="#8c8c8c", edgecolor="white")
    below.set_ylabel("images")
    below.set_xlabel("confidence (top-1 probability)")
    below.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    below.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    for a in (ax, below):
        _style(a, grid_axis="y")
    n = bins.n_images
    overall_conf = float(np.nansum(bins.confidence * count) / n) if n else math.nan
    overall_acc = float(np.nansum(bins.accuracy * count) / n) if n else math.nan
    ax.set_title(
        f"{n:,} images  ·  {len(count)} bins  ·  mean confidence {overall_conf:.1%}  ·  "
        f"accuracy {overall_acc:.1%}",
        fontsize=9, color="#555555", loc="left",
    )  # fmt: skip
    ece = f"ECE {bins.ece:.2%}" if n else "no images"
    fig.suptitle(f"Reliability diagram: {ece}", fontsize=12, x=0.01, ha="left", fontweight="bold")
    return _save(fig, path)


# Training curves ---------------------------------------------------------------------------------


def plot_training_curves(records: Sequence[Mapping[str, float | None]], path: Path | str) -> Path:
    """Draw losses (left) and error rates (right) per epoch; return the path.

    Args:
        records: one mapping per epoch, e.g. ``{"epoch": 1, "train_loss": 2.3, "val_loss":
            2.1, "val_top1_error": 0.71, "val_top5_error": 0.42}``. Every key ending in
            ``_loss`` goes to the left panel, every key ending in ``_error`` (fractions) to the
            right one. Keys may be missing, None or NaN in any record; ``epoch`` defaults to
            the record's position, from 1.
        path: the PNG to write; its folder must exist.
    """
    if not records:
        raise ValueError("records is empty: no epochs to plot")
    epochs = [_epoch(r, i) for i, r in enumerate(records)]
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_loss, ax_error = fig.subplots(1, 2, sharex=True)
    for ax, suffix, label in ((ax_loss, "_loss", "loss"), (ax_error, "_error", "error")):
        keys = _keys(records, suffix)
        for key in keys:
            xs, ys = _series(records, epochs, key)
            ax.plot(
                xs, ys, label=_pretty(key), color=_colour(key), ls="--" if "top5" in key else "-",
                marker="o" if len(xs) <= 30 else None, ms=3.5, lw=1.6,
            )  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if keys:
            ax.legend(frameon=False, fontsize=9)
        else:
            ax.text(0.5, 0.5, f"no {label} recorded", transform=ax.transAxes, ha="center",
                    va="center", color="#888888")  # fmt: skip
        _style(ax, grid_axis="both")
    ax_error.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax_loss.set_title("loss", fontsize=10, loc="left")
    ax_error.set_title("error rate", fontsize=10, loc="left")
    if max(epochs) - min(epochs) < 2:
        # Else the integer locator, finding no two whole epochs in view, ticks in fractions.
        ax_loss.set_xlim(min(epochs) - 1, max(epochs) + 1)
    _mark_best(ax_error, records, epochs, "val_top1_error")
    fig.suptitle(
        f"Training curves: {len(records)} epoch{'s' if len(records) != 1 else ''}", fontsize=12,
        x=0.01, ha="left", fontweight="bold",
    )  # fmt: skip
    return _save(fig, path)


def _epoch(record: Mapping[str, float | None], i: int) -> float:
    if not isinstance(record, Mapping):
        raise ValueError(
            f"records[{i}] must be a mapping of metric names to values, got {record!r}"
        )
    epoch = record.get("epoch")
    if epoch is None:
        return float(i + 1)
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        raise ValueError(f"records[{i}]['epoch'] must be a number, got {epoch!r}")
    return float(epoch)


def _keys(records: Sequence[Mapping[str, float | None]], suffix: str) -> list[str]:
    """Keys ending in ``suffix``, in order of first appearance, train before val."""
    seen = dict.fromkeys(k for r in records for k in r if k.endswith(suffix))
    order = {split: i for i, split in enumerate(_SPLIT_COLOURS)}
    return sorted(seen, key=lambda k: order.get(k.split("_", 1)[0], len(order)))


def _series(
    records: Sequence[Mapping[str, float | None]], epochs: list[float], key: str
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, (record, epoch) in enumerate(zip(records, epochs, strict=True)):
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"records[{i}][{key!r}] must be a number, got {value!r}")
        if math.isfinite(value):
            xs.append(epoch)
            ys.append(float(value))
    return xs, ys


def _mark_best(
    ax: Axes, records: Sequence[Mapping[str, float | None]], epochs: list[float], key: str
) -> None:
    xs, ys = _series(records, epochs, key)
    if not ys:
        return
    best = int(np.argmin(ys))
    ax.scatter([xs[best]], [ys[best]], s=60, facecolor="none", edgecolor="#333333", zorder=3)
    ax.annotate(
        f"best {ys[best]:.2%} (epoch {xs[best]:g})", (xs[best], ys[best]),
        xytext=(0, -16), textcoords="offset points", ha="center", va="top", fontsize=8,
        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.5},
    )  # fmt: skip


def _pretty(key: str) -> str:
    """``val_top1_error`` -> ``val top-1 error``."""
    words = key.split("_")
    return " ".join(f"top-{w[3:]}" if w.startswith("top") and w[3:].isdigit() else w for w in words)


def _colour(key: str) -> str | None:
    return _SPLIT_COLOURS.get(key.split("_", 1)[0])


# Shared ------------------------------------------------------------------------------------------


def _style(ax: Axes, *, grid_axis: str) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, color="#e5e5e5", lw=0.8)
    ax.set_axisbelow(True)


def _save(fig: Figure, path: Path | str) -> Path:
    """Write ``fig`` as PNG beside ``path`` under a temporary name, then rename it into place."""
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=_DPI)
    return path
