"""Baselines from checkpoints: a trained model's predictions on a challenge's test images,
scored like a submission and shown, marked, on every board."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from synsetlab.catalog import Submission
from synsetlab.challenge.challenges import get_challenge
from synsetlab.challenge.errors import ChallengeError
from synsetlab.challenge.formats import kaggle_csv
from synsetlab.challenge.submissions import add_baseline
from synsetlab.manifest import Manifest
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace


def baseline_from_checkpoint(
    ws: Workspace, slug: str, checkpoint: Path, *, name: str | None = None, **predict: Any
) -> Submission:
    """Predict the challenge's test split with ``checkpoint`` and add it as a baseline.

    ``predict`` goes to :func:`~synsetlab.train.inference.write_submission` (``device``,
    ``workers``, ``tta_flip``). The baseline is named after the checkpoint unless ``name``.
    """
    from synsetlab.train.inference import load_model, write_submission  # torch: load lazily

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


def class_prior_submission(manifest: Manifest, *, split: str = "test") -> bytes:
    """The chance baseline: every image of ``split`` gets the five classes most frequent in
    the version's train split, as a kaggle CSV (``ImageId,PredictionString``)."""
    counts = Counter(e.wnid for e in manifest.split("train"))
    if not counts:
        raise ChallengeError("the version has no train split to take class frequencies from")
    # Most frequent first; equal counts in class order, so the file is deterministic.
    top = sorted(counts, key=lambda w: (-counts[w], manifest.class_index[w]))[:5]
    image_ids = {e.sha256 for e in manifest.split(split)}
    return kaggle_csv((image_id, top) for image_id in image_ids).encode()
