"""Object detectors on a version's boxes: torchvision's Faster R-CNNs (RoI Align, or RoI
pooling as Fast R-CNN), their backbones from synsetlab classifiers, trained with the
classifiers' machinery (:mod:`synsetlab.train`), and their detections of a split.

``synsetlab train-detector`` trains (:func:`train_detector`); :func:`load_detector` and
:func:`predict_split` give :class:`ImageDetections` for evaluation and submissions.
"""

from synsetlab.detect.config import DetectorConfig, DetectorError
from synsetlab.detect.data import DetectionDataset, to_edges, to_pixels
from synsetlab.detect.models import DETECTORS, create_detector
from synsetlab.detect.predict import LoadedDetector, load_detector, predict_split, require_detector
from synsetlab.detect.records import ImageDetections
from synsetlab.detect.resolve import detector_recipe_names, resolve_detector_config
from synsetlab.detect.run import DetectorResult, train_detector

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
