"""SyntheticConfig validation and the documented rounding of planted counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from synsetlab.errors import UserError
from synsetlab.synthetic import (
    SHAPE_CLASSES,
    SyntheticConfig,
    SyntheticConfigError,
    load_truth,
    planted_count,
)

CIRCLE, TRIANGLE = "n13873502", "n13879320"


def test_shape_classes_are_ten_distinct_noun_wnids() -> None:
    assert len(SHAPE_CLASSES) == 10
    assert len(set(SHAPE_CLASSES.values())) == 10
    assert all(wnid.startswith("n") and len(wnid) == 9 for wnid in SHAPE_CLASSES)
    assert SHAPE_CLASSES[CIRCLE] == "circle"


def test_defaults_are_valid_and_cover_all_classes() -> None:
    config = SyntheticConfig()
    assert config.classes == tuple(SHAPE_CLASSES)
    assert config.n_clean == 300


def test_lists_are_normalised_to_tuples() -> None:
    config = SyntheticConfig(classes=[CIRCLE], image_size=[32, 40], wrong_label_rate=0)  # type: ignore[arg-type]
    assert config.classes == (CIRCLE,)
    assert config.image_size == (32, 40)


@pytest.mark.parametrize(
    ("rate", "n_clean", "expected"),
    [
        (0.03, 300, 9),
        (0.025, 100, 3),
        (0.02, 100, 2),
        (0.0, 100, 0),
        (0.004, 100, 0),
        (0.005, 100, 1),
    ],
)
def test_planted_count_rounds_half_up(rate: float, n_clean: int, expected: int) -> None:
    assert planted_count(rate, n_clean) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exact_duplicate_rate": -0.1}, "exact_duplicate_rate"),
        ({"near_duplicate_rate": 1.0}, "near_duplicate_rate"),
        ({"corrupt_rate": math.nan}, "corrupt_rate"),
        ({"wrong_label_rate": 1.5}, "wrong_label_rate"),
        ({"png_fraction": 1.01}, "png_fraction"),
        ({"lying_extension_rate": 0.3, "png_fraction": 0.2}, "cannot exceed png_fraction"),
        ({"per_class": 0}, "per_class must be at least 1"),
        ({"per_class": 2.5}, "per_class must be an integer"),
        ({"classes": ()}, "classes is empty"),
        ({"classes": (CIRCLE, "n99999999")}, "unknown wnid"),
        ({"classes": (CIRCLE, CIRCLE)}, "repeated"),
        ({"image_size": (8, 96)}, "image_size"),
        ({"image_size": (96,)}, "image_size"),
        ({"size_jitter": 0.5}, "size_jitter"),
        ({"seed": -1}, "seed"),
        ({"classes": (CIRCLE,), "wrong_label_rate": 0.1}, "at least two classes"),
    ],
)
def test_bad_config_is_a_user_error_naming_the_field(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SyntheticConfigError, match=message) as raised:
        SyntheticConfig(**overrides)  # type: ignore[arg-type]
    # The CLI prints a UserError as one line; ValueError stays a base for older callers.
    assert isinstance(raised.value, UserError)
    assert isinstance(raised.value, ValueError)


def test_unknown_wnid_error_lists_the_known_classes() -> None:
    with pytest.raises(SyntheticConfigError, match=r"n13873502 \(circle\)"):
        SyntheticConfig(classes=("n99999999",))


def test_truth_of_another_format_version_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "truth.json").write_text(json.dumps({"format_version": 0, "files": []}))
    with pytest.raises(SyntheticConfigError, match=r"format_version 0.*Regenerate"):
        load_truth(tmp_path)


def test_png_fraction_of_one_is_allowed() -> None:
    assert SyntheticConfig(png_fraction=1.0).png_fraction == 1.0


def test_single_class_without_wrong_labels_is_allowed() -> None:
    assert SyntheticConfig(classes=(TRIANGLE,), wrong_label_rate=0.0).n_clean == 30
