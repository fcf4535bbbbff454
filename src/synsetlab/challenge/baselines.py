"""The chance baseline of a challenge: what guessing the most frequent classes scores.

A trained model's baseline is composed above this package and the training package, in
:func:`synsetlab.baselines.baseline_from_checkpoint`: neither imports the other.
"""

from __future__ import annotations

from collections import Counter

from synsetlab.challenge.errors import ChallengeError
from synsetlab.manifest import Manifest
from synsetlab.submission_files import kaggle_csv


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
