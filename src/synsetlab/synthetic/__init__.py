"""A synthetic ImageNet-style dataset of plane figures, with planted faults and their truth.

Ten classes, each a real WordNet 3.0 noun synset (:data:`SHAPE_CLASSES`). Every image shows one
figure with varied colour, size, position, rotation and line width on a flat, gradient, striped
or textured background, with distractor clutter and pixel noise. On top of the clean images,
:func:`generate` plants the faults that curation must find: exact and near duplicates, corrupt
files, wrong labels and lying extensions, and records each one in ``truth.json``.

Directory contract of a generated dataset::

    out_dir/
      images/<given_wnid>/img_000123.jpg   folder = given (possibly wrong) label
      manifest.csv                         path,wnid  (path relative to out_dir; sorted)
      truth.json                           config, counts, one record per file

With ``kind="scenes"`` (:func:`generate_scenes`) each image holds one to several figures at
many scales, overlapping, with their true boxes, written in Kaggle's ImageNet Object
Localization layout with loose, missing and wrong-class boxes planted in the annotation and
recorded in ``truth.json`` (see ``_scenes``).

Example::

    report = generate(Path("shapes"), SyntheticConfig(per_class=40, seed=0))
    truth = load_truth(Path("shapes"))
    wrong = [f.path for f in truth.files if f.wrong_label]
"""

from synsetlab.synthetic._config import (
    SHAPE_CLASSES,
    SceneConfig,
    SyntheticConfig,
    SyntheticConfigError,
    planted_count,
)
from synsetlab.synthetic._faults import CORRUPT_DEFECTS, NEAR_DUPLICATE_TRANSFORMS
from synsetlab.synthetic._generate import SyntheticReport, generate
from synsetlab.synthetic._scene_truth import (
    BOX_FAULTS,
    ObjectTruth,
    SceneImageTruth,
    SceneTruth,
    load_scene_truth,
)
from synsetlab.synthetic._scenes import SceneReport, generate_scenes, render_scene
from synsetlab.synthetic._truth import KINDS, FileTruth, Kind, SyntheticTruth, load_truth

__all__ = [
    "BOX_FAULTS",
    "CORRUPT_DEFECTS",
    "KINDS",
    "NEAR_DUPLICATE_TRANSFORMS",
    "SHAPE_CLASSES",
    "FileTruth",
    "Kind",
    "ObjectTruth",
    "SceneConfig",
    "SceneImageTruth",
    "SceneReport",
    "SceneTruth",
    "SyntheticConfig",
    "SyntheticConfigError",
    "SyntheticReport",
    "SyntheticTruth",
    "generate",
    "generate_scenes",
    "load_scene_truth",
    "load_truth",
    "planted_count",
    "render_scene",
]
