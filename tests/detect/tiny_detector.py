"""The detector configs the tests train: the tiny-det-cpu recipe shrunk to 64 px and a
quarter of its widths (about 0.1 s a step of 4 images on one core)."""

from __future__ import annotations

from typing import Any

from synsetlab.detect import DetectorConfig, resolve_detector_config

#: Overrides of the tiny-det-cpu recipe.
TINY: dict[str, Any] = {
    "backbone_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8},
    "fpn_channels": 16,
    "box_head_size": 32,
    "anchor_sizes": [8, 16, 32, 64, 128],
    "min_size": 64,
    "max_size": 64,
    "model_kwargs": {
        "rpn_pre_nms_top_n_train": 100, "rpn_post_nms_top_n_train": 50,
        "rpn_pre_nms_top_n_test": 50, "rpn_post_nms_top_n_test": 25,
        "box_batch_size_per_image": 32,
    },
    "epochs": 2,
    "batch_size": 4,
    "amp": False,
    "workers": 0,
}  # fmt: skip


def tiny_config(**changes: Any) -> DetectorConfig:
    """The tiny-det-cpu recipe with :data:`TINY` and ``changes`` (dotted keys allowed)."""
    return resolve_detector_config("tiny-det-cpu", {**TINY, **changes})
