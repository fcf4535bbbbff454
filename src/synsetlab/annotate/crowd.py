"""A simulated crowd: workers of their own accuracy and speed who answer verification questions.

Each worker is one of four kinds:

- ``honest``: answers right with their own accuracy, drawn once from Beta(a, b) (mean 0.8 by
  default), lowered by the class's difficulty d in [0, 1]: ``0.5 + (accuracy - 0.5) * (1 - d)``
  (d = 1: a coin flip);
- ``random``: a spammer who answers yes or no at random without looking;
- ``always-yes``: a spammer who answers yes to everything;
- ``adversary``: sees as an honest worker does and answers the opposite.

Spammers answer faster than a person can look (median ``spammer_seconds``); the others take a
log-normal time around ``seconds``, longer on hard classes. Every worker draws from its own
random stream, seeded from the crowd's seed and the worker's position, so that a worker's
answers depend only on the requests that worker got: the same run gives the same answers
whether requests arrive through the library or, interleaved, through an HTTP API.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from synsetlab.annotate.errors import AnnotationError

__all__ = ["Answers", "CrowdConfig", "SimulatedCrowd", "WorkerKind"]

WorkerKind = Literal["honest", "random", "always-yes", "adversary"]

#: Spread (sigma of log seconds) of a person's time per image, and of a spammer's.
_SECONDS_SIGMA = 0.5
_SPAMMER_SIGMA = 0.3


@dataclass(frozen=True)
class CrowdConfig:
    """Who is in a simulated crowd; every number is checked when the crowd is built."""

    #: Workers in the crowd.
    workers: int = 50
    #: Beta(a, b) of an honest worker's accuracy on an easy class (mean a / (a + b) = 0.8).
    accuracy: tuple[float, float] = (8.0, 2.0)
    #: Share of workers who are spammers (answer without looking).
    spammers: float = 0.1
    #: Share of the spammers who always answer yes; the others answer at random.
    always_yes: float = 0.5
    #: Share of workers who invert what they see.
    adversaries: float = 0.0
    #: Median seconds a person takes per image on an easy class (x (1 + difficulty) on harder).
    seconds: float = 3.0
    #: Median seconds a spammer takes per image.
    spammer_seconds: float = 0.3
    #: Seed of the crowd's make-up and of every worker's answers.
    seed: int = 0


@dataclass(frozen=True)
class Answers:
    """A worker's answers to one request, in the order of the request's items."""

    #: ``(n,)`` bool: yes = "the image shows the synset".
    labels: np.ndarray
    #: ``(n,)`` float: seconds taken per answer.
    seconds: np.ndarray


class SimulatedCrowd:
    """Workers built from a :class:`CrowdConfig`; :meth:`answer` serves one request.

    State (each worker's random stream) is why this is a class: a worker's next answers
    depend on what it answered before.
    """

    def __init__(self, config: CrowdConfig | None = None) -> None:
        self.config = config = config or CrowdConfig()
        _check_config(config)
        seeds = np.random.SeedSequence(config.seed)
        make_up, *streams = seeds.spawn(config.workers + 1)
        rng = np.random.default_rng(make_up)
        n_spam = round(config.workers * config.spammers)
        n_yes = round(n_spam * config.always_yes)
        n_adv = round(config.workers * config.adversaries)
        kinds = np.array(
            ["always-yes"] * n_yes
            + ["random"] * (n_spam - n_yes)
            + ["adversary"] * n_adv
            + ["honest"] * (config.workers - n_spam - n_adv)
        )
        kinds = kinds[rng.permutation(config.workers)]
        width = len(str(config.workers - 1))
        ids = [f"w{i:0{width}d}" for i in range(config.workers)]
        accuracy = rng.beta(*config.accuracy, size=config.workers)
        spammer = np.isin(kinds, ["random", "always-yes"])
        #: One row per worker (index ``worker``): ``kind``, ``accuracy`` (on an easy class;
        #: 0.5 for spammers, whose answers ignore the image), ``seconds`` (median per image).
        self.workers = pd.DataFrame(
            {
                "kind": kinds,
                "accuracy": np.where(spammer, 0.5, accuracy),
                "seconds": np.where(spammer, config.spammer_seconds, config.seconds),
            },
            index=pd.Index(ids, name="worker"),
        )
        self._streams = {w: np.random.default_rng(s) for w, s in zip(ids, streams, strict=True)}
        # A plain dict: a DataFrame row lookup per request cost 90% of a simulation's time.
        self._traits = {
            w: (str(kind), float(acc), float(sec))
            for w, kind, acc, sec in self.workers[["kind", "accuracy", "seconds"]].itertuples()
        }

    @property
    def ids(self) -> list[str]:
        """The workers' ids, ``w00`` ... in order."""
        return list(self.workers.index)

    def answer(
        self,
        worker: Hashable,
        truth: np.ndarray,
        *,
        difficulty: np.ndarray | float = 0.0,
    ) -> Answers:
        """``worker``'s answers on items whose candidate label is right where ``truth``.

        ``truth``: ``(n,)`` bool, hidden from the worker's reasoning except through its
        accuracy. ``difficulty``: the class difficulty in [0, 1], one for all or ``(n,)``.
        """
        if worker not in self._streams:
            raise AnnotationError(
                f"unknown worker {worker!r}: this crowd has {self.ids[0]} .. {self.ids[-1]}"
            )
        truth = np.asarray(truth, dtype=bool)
        difficulty = np.broadcast_to(np.asarray(difficulty, dtype=float), truth.shape)
        if difficulty.size and not np.all((difficulty >= 0) & (difficulty <= 1)):
            raise AnnotationError("difficulty must be in [0, 1] (0 = easy, 1 = a coin flip)")
        rng = self._streams[worker]
        kind, accuracy, median = self._traits[worker]
        seen = rng.random(truth.shape) < 0.5 + (accuracy - 0.5) * (1.0 - difficulty)
        sees = np.where(seen, truth, ~truth)
        if kind == "honest":
            labels = sees
        elif kind == "adversary":
            labels = ~sees
        elif kind == "always-yes":
            labels = np.ones(truth.shape, dtype=bool)
        else:
            labels = rng.random(truth.shape) < 0.5
        if kind in ("random", "always-yes"):
            seconds = median * np.exp(_SPAMMER_SIGMA * rng.standard_normal(truth.shape))
        else:
            seconds = (
                median
                * (1.0 + difficulty)
                * np.exp(_SECONDS_SIGMA * rng.standard_normal(truth.shape))
            )
        return Answers(labels=labels, seconds=seconds)


def _check_config(config: CrowdConfig) -> None:
    problems = []
    if config.workers < 1:
        problems.append(f"workers = {config.workers} (need at least 1)")
    if len(config.accuracy) != 2 or min(config.accuracy) <= 0:
        problems.append(f"accuracy = {config.accuracy} (Beta parameters a, b > 0)")
    for name in ("spammers", "always_yes", "adversaries"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            problems.append(f"{name} = {value} (a share in [0, 1])")
    if config.spammers + config.adversaries > 1.0:
        problems.append("spammers + adversaries > 1")
    if not (config.seconds > 0 and config.spammer_seconds > 0):
        problems.append("seconds and spammer_seconds must be > 0")
    if problems:
        raise AnnotationError("crowd config: " + "; ".join(problems))
