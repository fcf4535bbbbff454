"""Figures of the datasheet, saved as PNG files.

Drawn on ``matplotlib.figure.Figure`` objects rather than pyplot: no global state and no GUI
backend, so they are safe in servers and worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from synsetlab.atomic import atomic_file
from synsetlab.catalog.crowd import AnnotatorRecord

SPLIT_COLOURS = {"train": "#4C78A8", "val": "#F58518", "test": "#54A24B"}
#: Above this many classes, bars lose their labels and become a sorted profile.
MAX_LABELLED_BARS = 40


def split_sizes_png(
    per_class: Mapping[str, Mapping[str, int]], names: Mapping[str, str], path: Path
) -> Path:
    """Stacked bars of images per class and split, largest class first."""
    order = sorted(per_class, key=lambda w: (-sum(per_class[w].values()), w))
    labelled = len(order) <= MAX_LABELLED_BARS
    fig = Figure(figsize=(max(6.0, min(14.0, 0.35 * len(order) + 2)), 4.2), dpi=110)
    ax = fig.subplots()
    bottom = [0] * len(order)
    x = range(len(order))
    for split, colour in SPLIT_COLOURS.items():
        heights = [per_class[w].get(split, 0) for w in order]
        if any(heights):
            ax.bar(
                x,
                heights,
                bottom=bottom,
                color=colour,
                label=split,
                width=0.85 if labelled else 1.0,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if labelled:
        ax.set_xticks(
            list(x), [names.get(w, w) for w in order], rotation=60, ha="right", fontsize=8
        )
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(order)} classes, largest first")
    ax.set_ylabel("images")
    ax.set_title("Images per class and split", loc="left")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, ncol=3, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    return path


def hierarchy_png(groups: Mapping[str, int], path: Path, *, title: str) -> Path:
    """Horizontal bars: how many classes of the version fall under each branch."""
    items = sorted(groups.items(), key=lambda kv: (kv[1], kv[0]))[-25:]
    fig = Figure(figsize=(7.0, 0.32 * len(items) + 1.4), dpi=110)
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#72B7B2")
    ax.set_xlabel("classes")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    return path


def annotator_quality_png(
    annotators: Sequence[AnnotatorRecord], thresholds: Mapping[str, float], path: Path
) -> Path:
    """Each annotator's accuracy on gold (posterior mean, 95% interval), lowest first; stopped
    annotators in red; a dashed line at each project's threshold."""
    order = sorted(annotators, key=lambda a: (a.gold_accuracy, a.gold_answers))
    fig = Figure(figsize=(7.5, 3.4), dpi=110)
    ax = fig.subplots()
    for state, colour in (("active", "#4C78A8"), ("stopped", "#E45756")):
        mine = [(i, a) for i, a in enumerate(order) if a.state == state]
        if not mine:
            continue
        x = [i for i, _ in mine]
        y = [a.gold_accuracy for _, a in mine]
        below = [a.gold_accuracy - a.lower for _, a in mine]
        above = [a.upper - a.gold_accuracy for _, a in mine]
        ax.errorbar(
            x,
            y,
            yerr=[below, above],
            fmt="o",
            markersize=3 if len(order) > 60 else 4,
            elinewidth=0.8,
            color=colour,
            label=f"{state} ({len(mine)})",
        )
    for value in sorted(set(thresholds.values())):
        ax.axhline(value, color="#59636e", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"stop below {value:g}",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="#59636e",
        )
    ax.set_ylim(0.0, 1.02)
    ax.set_xticks([])
    ax.set_xlabel(f"{len(order)} annotators with gold answers, least accurate first")
    ax.set_ylabel("accuracy on gold")
    ax.set_title("Annotators' accuracy on gold questions (95% interval)", loc="left")
    ax.legend(frameon=False, ncol=2, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    return path
