"""The Ladder (Blum & Hardt, "The Ladder: A Reliable Leaderboard for Machine Learning
Competitions", ICML 2015), parameter-free variant, applied to each team's public scores.

Adaptive overfitting of a public board comes from reading small score changes: a team that
submits many slight variants and keeps what scores best learns the public labels. The Ladder
releases a new score only when a submission beats the released one by more than the noise of
the difference, ``s / sqrt(n)`` with ``s`` the sample standard deviation of the per-image
loss difference to the last accepted submission, and rounds it to a multiple of ``1 / n``.
Otherwise the previous released score stands.

Written here because no maintained library implements it; it is a dozen lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ladder_scores(losses: Sequence[np.ndarray]) -> list[tuple[float, int]]:
    """The score the Ladder releases after each submission, in submission order.

    Args:
        losses: one ``(n,)`` 0/1 loss vector per submission (1 = the image counts as an
            error), all over the same ``n`` public images, in the order submitted.

    Returns:
        After each submission, the released error (non-increasing, a multiple of ``1 / n``)
        and the index of the submission it comes from.
    """
    released: list[tuple[float, int]] = []
    best: np.ndarray | None = None
    score, source = float("inf"), -1
    for i, loss in enumerate(losses):
        loss = np.asarray(loss, dtype=np.float64)
        n = loss.size
        if n == 0:
            raise ValueError("the Ladder needs at least one public image")
        if best is not None and best.size != n:
            raise ValueError(f"loss vectors differ in length: {best.size} and {n}")
        # The first submission has nothing to differ from: its score is released as is.
        noise = 0.0 if best is None or n < 2 else float(np.std(loss - best, ddof=1)) / np.sqrt(n)
        if loss.mean() < score - noise:
            score, source = round(loss.mean() * n) / n, i
            best = loss
        released.append((score, source))
    return released


def pack_losses(correct: np.ndarray) -> bytes:
    """Per-image correctness ``(n,)`` bool, stored compactly (1 bit an image)."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes()


def unpack_losses(data: bytes, n: int) -> np.ndarray:
    """The ``(n,)`` 0/1 loss vector (1 = error) of correctness stored by :func:`pack_losses`."""
    correct = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n).astype(bool)
    return (~correct).astype(np.float64)
