"""The classes are learnable from the pictures, but not trivially.

Raw pixel templates fail on these images (random pose, colour and background make a nearest
centroid on 16x16 grey thumbnails score about chance, as on photos), so the check uses a crude
pose-invariant shape descriptor: the figure's saliency against the border colour, binned in polar
coordinates around its centre of mass, with the magnitude of an FFT over angle. A nearest
centroid on that must beat chance clearly without solving the task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from synsetlab.synthetic import SyntheticConfig, generate, load_truth

NO_FAULTS = {
    "exact_duplicate_rate": 0.0,
    "near_duplicate_rate": 0.0,
    "corrupt_rate": 0.0,
    "wrong_label_rate": 0.0,
}


def _saliency(path: Path, side: int = 32) -> np.ndarray:
    """(side, side) distance of each pixel's colour from the median border colour, max 1."""
    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    distance = np.linalg.norm(pixels - np.median(border, axis=0), axis=-1)
    return distance / (distance.max() + 1e-3)


def _polar_descriptor(saliency: np.ndarray, radii: int = 8, angles: int = 16) -> np.ndarray:
    side = saliency.shape[0]
    ys, xs = np.mgrid[:side, :side]
    weight = saliency.sum() + 1e-6
    cy, cx = (saliency * ys).sum() / weight, (saliency * xs).sum() / weight
    radius = np.minimum((np.hypot(ys - cy, xs - cx) / (side / 2) * radii).astype(int), radii - 1)
    angle = ((np.arctan2(ys - cy, xs - cx) + np.pi) / (2 * np.pi) * angles).astype(int) % angles
    histogram = np.zeros((radii, angles))
    np.add.at(histogram, (radius, angle), saliency)
    histogram /= histogram.sum()
    # |FFT| over the angle axis makes the descriptor invariant to the figure's rotation.
    return np.abs(np.fft.fft(histogram, axis=1))[:, : angles // 2 + 1].ravel()


def test_nearest_centroid_beats_chance_but_is_not_perfect(tmp_path: Path) -> None:
    config = SyntheticConfig(per_class=30, seed=2, **NO_FAULTS)
    generate(tmp_path, config)
    truth = load_truth(tmp_path)
    features = np.stack([_polar_descriptor(_saliency(tmp_path / f.path)) for f in truth.files])
    labels = np.array([config.classes.index(f.true_wnid) for f in truth.files])
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[::2], order[1::2]
    features = (features - features[train].mean(0)) / (features[train].std(0) + 1e-6)
    centroids = np.stack([features[train][labels[train] == c].mean(0) for c in range(10)])
    distances = ((features[test][:, None] - centroids[None]) ** 2).sum(-1)
    accuracy = float((distances.argmin(1) == labels[test]).mean())
    chance = 1 / len(config.classes)
    print(f"nearest-centroid accuracy {accuracy:.3f} (chance {chance:.3f})")
    assert 2 * chance < accuracy < 0.9, accuracy
