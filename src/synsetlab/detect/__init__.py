"""Object detectors on a version's boxes: torchvision's Faster R-CNNs (RoI Align, or RoI
pooling as Fast R-CNN), their backbones from synsetlab classifiers, trained with the
classifiers' machinery (:mod:`synsetlab.train`), and their detections of a split.

``synsetlab train-detector`` trains (:func:`train_detector`); :func:`load_detector` and
:func:`predict_split` give :class:`ImageDetections` for evaluation and submissions.

The names below are imported on first use (PEP 562), so that importing a module without
torch, such as :mod:`synsetlab.detect.evaluate` (DET and COCO mAP over arrays) or
:mod:`synsetlab.detect.submit`, does not load torch and torchvision.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synsetlab.detect.config import DetectorConfig, DetectorError
    from synsetlab.detect.data import DetectionDataset, to_edges, to_pixels
    from synsetlab.detect.models import DETECTORS, create_detector
    from synsetlab.detect.predict import (
        LoadedDetector,
        load_detector,
        predict_split,
        require_detector,
    )
    from synsetlab.detect.records import ImageDetections
    from synsetlab.detect.resolve import detector_recipe_names, resolve_detector_config
    from synsetlab.detect.run import DetectorResult, train_detector

#: Each public name and the module that defines it.
_EXPORTS = {
    "DETECTORS": "synsetlab.detect.models",
    "DetectionDataset": "synsetlab.detect.data",
    "DetectorConfig": "synsetlab.detect.config",
    "DetectorError": "synsetlab.detect.config",
    "DetectorResult": "synsetlab.detect.run",
    "ImageDetections": "synsetlab.detect.records",
    "LoadedDetector": "synsetlab.detect.predict",
    "create_detector": "synsetlab.detect.models",
    "detector_recipe_names": "synsetlab.detect.resolve",
    "load_detector": "synsetlab.detect.predict",
    "predict_split": "synsetlab.detect.predict",
    "require_detector": "synsetlab.detect.predict",
    "resolve_detector_config": "synsetlab.detect.resolve",
    "to_edges": "synsetlab.detect.data",
    "to_pixels": "synsetlab.detect.data",
    "train_detector": "synsetlab.detect.run",
}

__all__ = [
    "DETECTORS",
    "DetectionDataset",
    "DetectorConfig",
    "DetectorError",
    "DetectorResult",
    "ImageDetections",
    "LoadedDetector",
    "create_detector",
    "detector_recipe_names",
    "load_detector",
    "predict_split",
    "require_detector",
    "resolve_detector_config",
    "to_edges",
    "to_pixels",
    "train_detector",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
