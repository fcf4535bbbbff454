"""A small synthetic dataset, generated once per test session, with every fault planted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from synsetlab.synthetic import (
    SyntheticConfig,
    SyntheticReport,
    SyntheticTruth,
    generate,
    load_truth,
)

#: 80 clean images; rates chosen so that each transform and defect occurs twice.
SMALL_CONFIG = SyntheticConfig(
    per_class=8,
    image_size=(64, 48),
    size_jitter=0.1,
    seed=7,
    png_fraction=0.3,
    lying_extension_rate=0.05,
    exact_duplicate_rate=0.05,
    near_duplicate_rate=0.125,
    corrupt_rate=0.1,
    wrong_label_rate=0.1,
)


@dataclass(frozen=True)
class Generated:
    out_dir: Path
    config: SyntheticConfig
    report: SyntheticReport
    truth: SyntheticTruth


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    out_dir = tmp_path_factory.mktemp("synthetic") / "shapes"
    report = generate(out_dir, SMALL_CONFIG)
    return Generated(out_dir, SMALL_CONFIG, report, load_truth(out_dir))
