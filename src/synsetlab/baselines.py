"""Baselines of a challenge, shown marked on every board: a trained model's predictions on the
challenge's test images, scored like a submission, and the chance baseline.

Composed above :mod:`synsetlab.challenge` (boards, submissions) and :mod:`synsetlab.train`
(models, predictions), which do not import each other.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from synsetlab.catalog import Submission
from synsetlab.challenge.baselines import class_prior_submission
from synsetlab.challenge.challenges import get_challenge
from synsetlab.challenge.submissions import add_baseline
from synsetlab.train.inference import write_submission
from synsetlab.train.weights import load_model
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace


def baseline_from_checkpoint(
    ws: Workspace, slug: str, checkpoint: Path, *, name: str | None = None, **predict: Any
) -> Submission:
    """Predict the challenge's test split with ``checkpoint`` and add it as a baseline.

    ``predict`` goes to :func:`~synsetlab.train.inference.write_submission` (``device``,
    ``workers``, ``tta_flip``). The baseline is named after the checkpoint unless ``name``.
    """
    with ws.session() as s:
        version_id = get_challenge(s, slug).version_id
    version = load_version(ws, version_id)
    loaded = load_model(Path(checkpoint), device=predict.get("device") or "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.csv"
        write_submission(loaded, version.manifest, ws.blobs, out, **predict)
        data = out.read_bytes()
    label = name or f"{loaded.config.model} ({Path(checkpoint).name})"
    return add_baseline(ws, slug, label, data, fmt="kaggle")


__all__ = ["baseline_from_checkpoint", "class_prior_submission"]
