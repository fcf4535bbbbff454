"""The evaluation figures: each is a readable PNG, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synsetlab.metrics import confusion_matrix, reliability_bins
from synsetlab.metrics.plots import (
    plot_confusion_matrix,
    plot_reliability_diagram,
    plot_training_curves,
)

NAMES = ["Chihuahua", "Japanese spaniel", "Shih-Tzu", "car", "tench"]


def assert_png(path: Path, *, min_size: tuple[int, int] = (500, 400)) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width >= min_size[0] and height >= min_size[1]
    assert width <= 2400 and height <= 2400
    assert not list(path.parent.glob(".*.tmp")), "temporary file left behind"


def noisy_predictions(classes: int, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    wrong = rng.random(n) < 0.3
    # Mistakes go mostly to the next class, so a few classes stand out as confused.
    predictions = np.where(wrong, (labels + 1) % classes, labels)
    return predictions, labels


def test_confusion_matrix_png_of_a_few_classes(tmp_path: Path) -> None:
    predictions, labels = noisy_predictions(5, 400, seed=0)
    matrix = confusion_matrix(predictions, labels, num_classes=5)
    out = plot_confusion_matrix(matrix, NAMES, tmp_path / "confusion.png")
    assert out == tmp_path / "confusion.png"
    assert_png(out)


def test_confusion_matrix_png_of_counts(tmp_path: Path) -> None:
    predictions, labels = noisy_predictions(5, 400, seed=1)
    matrix = confusion_matrix(predictions, labels, num_classes=5)
    assert_png(plot_confusion_matrix(matrix, NAMES, tmp_path / "counts.png", normalize=False))


def test_confusion_matrix_png_of_many_classes_shows_the_most_confused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 300, 20_000)
    predictions = labels.copy()
    confused = rng.choice(300, 40, replace=False)
    for c in confused:  # 40 classes often taken for another one
        mask = labels == c
        predictions[mask & (rng.random(len(labels)) < 0.5)] = (c + 7) % 300
    matrix = confusion_matrix(predictions, labels, num_classes=300)
    names = [f"class number {i} with a rather long descriptive name" for i in range(300)]
    out = plot_confusion_matrix(matrix, names, tmp_path / "many.png", max_classes=50)
    assert_png(out)


def test_confusion_matrix_png_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "confusion.png"
    path.write_bytes(b"old")
    matrix = np.array([[3, 1], [0, 4]])
    assert_png(plot_confusion_matrix(matrix, ["a", "b"], path))


@pytest.mark.parametrize(
    ("matrix", "names", "kwargs", "message"),
    [
        (np.zeros((2, 3)), ["a", "b"], {}, r"square \(C, C\) array, got shape \(2, 3\)"),
        (np.eye(2), ["a"], {}, "2x2 but 1 class names"),
        (np.eye(2), ["a", "b"], {"max_classes": 0}, "max_classes must be a positive integer"),
        (-np.eye(2), ["a", "b"], {}, "non-negative counts"),
    ],
)
def test_confusion_matrix_png_refuses_bad_input(
    tmp_path: Path, matrix: np.ndarray, names: list[str], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_confusion_matrix(matrix, names, tmp_path / "x.png", **kwargs)
    assert not list(tmp_path.iterdir())


def test_reliability_diagram_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (5000, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Labels drawn from a flattened version of probs: the model is over-confident.
    flat = probs**0.5 / (probs**0.5).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in flat])
    bins = reliability_bins(probs, labels)
    assert bins.ece > 0.05
    assert_png(plot_reliability_diagram(bins, tmp_path / "reliability.png"))


def test_training_curves_png(tmp_path: Path) -> None:
    records: list[dict[str, float | None]] = []
    for epoch in range(1, 21):
        records.append(
            {
                "epoch": epoch,
                "train_loss": 2.3 * 0.88**epoch + 0.1,
                "val_loss": 2.3 * 0.9**epoch + 0.35 + 0.004 * max(0, epoch - 14) ** 2,
                "val_top1_error": 0.85 * 0.9**epoch + 0.2 + 0.002 * max(0, epoch - 15) ** 2,
                "val_top5_error": 0.6 * 0.85**epoch + 0.05,
            }
        )
    records[4].pop("val_loss")  # a key missing from one epoch
    records[6]["val_top5_error"] = None
    assert_png(plot_training_curves(records, tmp_path / "curves.png"))


def test_training_curves_png_with_one_epoch_and_no_error(tmp_path: Path) -> None:
    assert_png(plot_training_curves([{"train_loss": 1.5}], tmp_path / "one.png"))


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "records is empty"),
        ([{"epoch": "one", "train_loss": 1.0}], r"records\[0\]\['epoch'\] must be a number"),
        ([{"train_loss": 1.0}, {"train_loss": "low"}], r"records\[1\]\['train_loss'\]"),
        ([[("train_loss", 1.0)]], r"records\[0\] must be a mapping"),
    ],
)
def test_training_curves_refuse_bad_records(
    tmp_path: Path, records: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_training_curves(records, tmp_path / "x.png")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken.png"
    target.mkdir()  # a folder in the way: the rename fails
    with pytest.raises(OSError):
        plot_training_curves([{"train_loss": 1.0}], target)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]
