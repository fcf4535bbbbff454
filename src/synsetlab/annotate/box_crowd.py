"""A simulated box crowd: annotators who draw with their own noise, miss objects, and verify.

Each honest annotator has an edge jitter (each side of a drawn box moves by a normal amount
of that share of the box's width or height), a miss rate (the chance that, asked to draw, they
see no object left although one is, or answer a coverage question "yes" while an object is
unboxed), and a verification accuracy (the chance that a quality or coverage answer is right).
Spammers draw a random box and answer at random, fast. Some annotators draw by extreme
clicking (the four extreme points: about 7 s a box against about 25 s for two corners and an
adjustment, Papadopoulos et al. 2017, "Extreme clicking for efficient object annotation").
Seconds per action: drawing ~25 s, extreme clicking ~7 s, quality verification ~3 s, coverage
~4 s, lognormal around those medians (Su, Deng and Fei-Fei 2012, "Crowdsourcing annotations
for visual object detection", measured ~25.5 s a box drawn, and ~42 s a box all told with the
quality and coverage steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synsetlab.annotate.errors import AnnotationError

__all__ = ["SECONDS", "BoxCrowdConfig", "SimulatedBoxCrowd"]

#: Median seconds per action (see the module docstring).
SECONDS = {"draw": 25.0, "extreme": 7.0, "quality": 3.0, "coverage": 4.0}
_SIGMA = 0.3
#: IoU at which a box covers a true object (ILSVRC's localization threshold).
COVER_IOU = 0.5


@dataclass(frozen=True)
class BoxCrowdConfig:
    """The make-up of a simulated box crowd."""

    workers: int = 30
    #: Share of workers who draw random boxes and answer at random.
    spammers: float = 0.1
    #: Edge jitter of honest workers, as a share of the box's side: uniform in this range.
    jitter: tuple[float, float] = (0.02, 0.12)
    #: Miss rate of honest workers: uniform in this range.
    miss: tuple[float, float] = (0.0, 0.2)
    #: Verification accuracy of honest workers: Beta(a, b) (mean a / (a + b)).
    accuracy: tuple[float, float] = (9.0, 1.0)
    #: Share of honest workers who draw by extreme clicking.
    extreme: float = 0.3
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`AnnotationError` naming every value out of range."""
        problems = []
        if self.workers < 1:
            problems.append(f"workers = {self.workers} (need at least 1)")
        for name in ("spammers", "extreme"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} = {getattr(self, name)} (a share in [0, 1])")
        for name in ("jitter", "miss"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high <= 1.0:
                problems.append(f"{name} = {getattr(self, name)} (a range within [0, 1])")
        if len(self.accuracy) != 2 or min(self.accuracy) <= 0:
            problems.append(f"accuracy = {self.accuracy} (Beta parameters a, b > 0)")
        if problems:
            raise AnnotationError("box crowd config: " + "; ".join(problems))


class SimulatedBoxCrowd:
    """Workers ``w00`` ... with seeded traits and answer streams (see the module docstring)."""

    def __init__(self, config: BoxCrowdConfig | None = None) -> None:
        self.config = config = config or BoxCrowdConfig()
        config.check()
        rng = np.random.default_rng(config.seed)
        width = max(2, len(str(config.workers - 1)))
        self.ids = [f"w{i:0{width}d}" for i in range(config.workers)]
        n = config.workers
        spammer = rng.random(n) < config.spammers
        self.traits = {
            w: {
                "spammer": bool(spammer[i]),
                "jitter": float(rng.uniform(*config.jitter)),
                "miss": float(rng.uniform(*config.miss)),
                "accuracy": 0.5 if spammer[i] else float(rng.beta(*config.accuracy)),
                "extreme": bool(rng.random() < config.extreme),
            }
            for i, w in enumerate(self.ids)
        }
        streams = np.random.SeedSequence(config.seed).spawn(n)
        self._rng = {w: np.random.default_rng(s) for w, s in zip(self.ids, streams, strict=True)}

    def _seconds(self, worker: str, action: str) -> float:
        median = SECONDS[action] * (0.3 if self.traits[worker]["spammer"] else 1.0)
        return float(median * np.exp(_SIGMA * self._rng[worker].standard_normal()))

    def draw(
        self,
        worker: str,
        truth: Sequence[Sequence[float]],
        boxed: Sequence[Sequence[float]],
        size: tuple[int, int],
    ) -> tuple[tuple[float, float, float, float] | None, str, float]:
        """``worker`` asked to box one object of ``truth`` that ``boxed`` leaves unboxed:
        (box or None for "none left", source ``drawn`` / ``extreme``, seconds)."""
        from synsetlab.annotate.box_geometry import best_iou

        t, rng = self.traits[worker], self._rng[worker]
        source = "extreme" if t["extreme"] else "drawn"
        seconds = self._seconds(worker, "extreme" if t["extreme"] else "draw")
        w, h = size
        if t["spammer"]:
            x = np.sort(rng.integers(0, w, 2))
            y = np.sort(rng.integers(0, h, 2))
            if x[0] == x[1] or y[0] == y[1]:
                return None, source, seconds
            return (float(x[0]), float(y[0]), float(x[1]), float(y[1])), source, seconds
        left = [b for b in truth if best_iou(b, boxed)[0] < COVER_IOU]
        if not left or rng.random() < t["miss"]:
            return None, source, seconds
        x0, y0, x1, y1 = (float(v) for v in left[int(rng.integers(len(left)))])
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        dx = rng.normal(0.0, t["jitter"] * bw, 2)
        dy = rng.normal(0.0, t["jitter"] * bh, 2)
        box = (
            float(np.clip(round(x0 + dx[0]), 0, w - 1)),
            float(np.clip(round(y0 + dy[0]), 0, h - 1)),
            float(np.clip(round(x1 + dx[1]), 0, w - 1)),
            float(np.clip(round(y1 + dy[1]), 0, h - 1)),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            box = (x0, y0, x1, y1)
        return box, source, seconds

    def verify(self, worker: str, right: bool, action: str) -> tuple[bool, float]:
        """``worker``'s yes/no where yes is ``right``, and the seconds it took: ``action``
        ``quality`` or ``coverage`` (a coverage yes while an object is unboxed is also
        given at the worker's miss rate)."""
        t, rng = self.traits[worker], self._rng[worker]
        seconds = self._seconds(worker, action)
        if t["spammer"]:
            return bool(rng.random() < 0.5), seconds
        if action == "coverage" and not right and rng.random() < t["miss"]:
            return True, seconds
        answer = right if rng.random() < t["accuracy"] else not right
        return bool(answer), seconds
