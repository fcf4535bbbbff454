"""The figure of a detector evaluation: each class's ILSVRC DET AP beside its COCO AP.

Drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas, as
:mod:`synsetlab.metrics.plots` draws a classifier's, and written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from synsetlab.atomic import atomic_file

if TYPE_CHECKING:
    from synsetlab.detect.evaluate import DetectorEvaluation

__all__ = ["plot_class_ap"]

#: At most this many classes are drawn (the worst by DET AP); the title says so.
MAX_CLASSES = 40
_DET = "#4c72b0"
_COCO = "#dd8452"
_DPI = 120


def plot_class_ap(evaluation: DetectorEvaluation, names: Sequence[str], path: Path | str) -> Path:
    """Horizontal bars of DET AP and COCO AP@[.5:.95] of each class with objects, worst DET
    AP at the top, the two means as dashed lines; write ``path`` (PNG) and return it.

    Args:
        evaluation: from :func:`~synsetlab.detect.evaluate.evaluate_detections`.
        names: a display name per class of ``evaluation.classes``.
    """
    rows = [(c, n) for c, n in zip(evaluation.classes, names, strict=True) if c.objects > 0]
    rows.sort(key=lambda r: (r[0].det_ap, r[0].coco_ap, r[0].wnid))
    shown = rows[:MAX_CLASSES]
    n = len(shown)
    fig = Figure(figsize=(7.5, 1.6 + 0.32 * max(n, 1)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)
    det = [r[0].det_ap for r in shown]
    coco = [r[0].coco_ap for r in shown]
    ax.barh(y - 0.2, det, height=0.4, color=_DET, label="ILSVRC DET AP")
    ax.barh(y + 0.2, coco, height=0.4, color=_COCO, label="COCO AP@[.5:.95]")
    ax.axvline(evaluation.det_map, color=_DET, linestyle="--", linewidth=1)
    ax.axvline(evaluation.coco.map, color=_COCO, linestyle="--", linewidth=1)
    ax.set_yticks(y, [name for _, name in shown], fontsize=8)
    ax.invert_yaxis()  # worst at the top
    ax.set_xlim(0, 1)
    ax.set_xlabel("average precision (dashed: the means)")
    more = "" if len(rows) <= MAX_CLASSES else f", the {MAX_CLASSES} worst of {len(rows)}"
    ax.set_title(
        f"AP per class (DET mAP {evaluation.det_map:.3f}, COCO mAP {evaluation.coco.map:.3f}"
        f"{more})",
        fontsize=10,
    )
    # Below the axes: inside, it would cover the best classes' bars (drawn at the bottom).
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=_DPI)
    return path
