"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM: the loop finishes its step, saves a
checkpoint it can resume from, and raises :class:`TrainingInterrupted`. A second Ctrl-C stops
at once, as Python's default does, without saving.

Under torchrun the signal reaches the processes at different moments, or only some of them (a
scheduler's SIGTERM to one rank): a process that stopped alone would leave the others waiting
in the next step's collectives for ever. So the processes agree whether to stop
(:func:`stop_flags` summed over them, read by :func:`adopt_stop`), with each step's loss in
the training loop and at each epoch's boundaries (:func:`agree_to_stop`), and all stop after
the same step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import torch

from synsetlab.train.distributed import World, all_reduce_sum

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by a signal after saving ``checkpoint``, which ``--resume`` continues.

    A ``KeyboardInterrupt``: code that catches ``Exception`` lets it through, as it would
    Ctrl-C itself.
    """

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(f"{signal.Signals(signum).name}: stopped after saving {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process the signal ended: 130 for SIGINT, 143 SIGTERM."""
        return 128 + self.signum


@dataclass
class StopRequest:
    """The signal that asked the run to stop (``None``: none yet)."""

    signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded :class:`StopRequest` instead of
    ending the process; the previous handlers come back after it. Outside the main thread
    (where Python cannot install handlers) nothing changes and the request stays unset."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def record(signum: int, frame: FrameType | None) -> None:
        request.signum = signum
        # The next one stops at once: a user who presses Ctrl-C twice does not want to wait.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, record)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            # None: a handler installed from C, which Python cannot put back.
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def stop_flags(stop: StopRequest) -> list[float]:
    """``stop`` as numbers that add up over processes: per signal of :data:`STOP_SIGNALS`,
    1 if this process received it, else 0."""
    return [float(stop.signum == s) for s in STOP_SIGNALS]


def adopt_stop(stop: StopRequest, totals: Sequence[float]) -> bool:
    """Whether any process received a stop signal, from the sums of every process's
    :func:`stop_flags`; then ``stop`` holds a signal in every process (its own first), as if
    each had received it."""
    received = [s for s, total in zip(STOP_SIGNALS, totals, strict=True) if total > 0]
    if received and stop.signum is None:
        stop.signum = received[0]
    return bool(received)


def agree_to_stop(stop: StopRequest, world: World, device: torch.device) -> bool:
    """Whether any training process received a stop signal (see :func:`adopt_stop`). A
    collective under torchrun: every process asks at the same point of the run; a process
    alone answers for itself."""
    flags = torch.tensor(stop_flags(stop), device=device)
    return adopt_stop(stop, all_reduce_sum(flags, world).tolist())
