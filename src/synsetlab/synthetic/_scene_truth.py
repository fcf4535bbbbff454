"""The ground truth of a synthetic scene dataset: typed records and its ``truth.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from synsetlab.synthetic._config import SceneConfig, SyntheticConfigError
from synsetlab.synthetic._truth import TRUTH_NAME

BoxFault = Literal["loose", "missing", "wrong-class"]
#: Planted box faults, in the order they are counted and reported.
BOX_FAULTS: tuple[str, ...] = ("loose", "missing", "wrong-class")
#: The value of ``truth.json``'s "kind" for scenes (figure datasets have none).
SCENES_KIND = "scenes"
#: Bumped when the layout of a scene ``truth.json`` changes incompatibly.
SCENE_TRUTH_FORMAT_VERSION = 1

#: (xmin, ymin, xmax, ymax): the first and last pixel of each side, 0-based and inclusive (as
#: ILSVRC's boxes): a box of the whole image of width W and height H is (0, 0, W - 1, H - 1).
BoxCorners = tuple[int, int, int, int]


@dataclass(frozen=True)
class ObjectTruth:
    """One figure of a scene, its true box and what the annotation file says about it."""

    wnid: str
    #: The tight box of the drawn figure (stroke included), clipped to the image.
    box: BoxCorners
    #: Nominal size: the figure's diameter as a share of the image's shorter side.
    scale: float
    #: The fault planted on this object's annotation, if any.
    fault: BoxFault | None = None
    #: The box the annotation file gives; ``None`` when the box is missing.
    annotated_box: BoxCorners | None = None
    #: The class the annotation file gives; ``None`` when the box is missing.
    annotated_wnid: str | None = None


@dataclass(frozen=True)
class SceneImageTruth:
    """One scene image."""

    #: Relative to the dataset folder, with "/" separators.
    path: str
    #: The image's label: the class of its largest object (by true box area).
    wnid: str
    #: Hex sha256 of the file's bytes.
    sha256: str
    #: (width, height) in pixels.
    size: tuple[int, int]
    #: By true box area, largest first, the order they were painted in (later ones on top).
    objects: tuple[ObjectTruth, ...]


@dataclass(frozen=True)
class SceneTruth:
    """All of a scene dataset's ``truth.json``."""

    config: SceneConfig
    #: One record per image, sorted by path.
    images: tuple[SceneImageTruth, ...]
    #: "images", "objects", "boxes" (annotated) and one count per fault of :data:`BOX_FAULTS`.
    counts: dict[str, int]

    def by_path(self) -> dict[str, SceneImageTruth]:
        """The records keyed by their relative path."""
        return {record.path: record for record in self.images}


def count_scenes(images: tuple[SceneImageTruth, ...]) -> dict[str, int]:
    """Images, objects, annotated boxes and planted faults."""
    objects = [obj for image in images for obj in image.objects]
    counts = {
        "images": len(images),
        "objects": len(objects),
        "boxes": sum(obj.annotated_box is not None for obj in objects),
    }
    for fault in BOX_FAULTS:
        counts[fault] = sum(obj.fault == fault for obj in objects)
    return counts


def write_scene_truth(out_dir: Path, truth: SceneTruth) -> Path:
    """``truth.json`` with the config, the counts and one object per image."""
    document = {
        "kind": SCENES_KIND,
        "format_version": SCENE_TRUTH_FORMAT_VERSION,
        "config": asdict(truth.config),
        "counts": truth.counts,
        "images": [asdict(record) for record in truth.images],
    }
    path = out_dir / TRUTH_NAME
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def load_scene_truth(out_dir: Path) -> SceneTruth:
    """Read ``out_dir/truth.json``, written by :func:`~synsetlab.synthetic.generate_scenes`.

    Raises FileNotFoundError when it is absent, :class:`SyntheticConfigError` when it is not
    a scene dataset's truth, or was written in another format version.
    """
    path = Path(out_dir) / TRUTH_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no {TRUTH_NAME} in {out_dir}; it is written by "
            "`synsetlab synthetic generate OUT --kind scenes`"
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("kind") != SCENES_KIND:
        raise SyntheticConfigError(
            f"{path} is not the truth of a scene dataset; read it with load_truth, or generate "
            "scenes with `synsetlab synthetic generate OUT --kind scenes`"
        )
    version = document.get("format_version")
    if version != SCENE_TRUTH_FORMAT_VERSION:
        raise SyntheticConfigError(
            f"{path} has format_version {version!r}; this synsetlab reads "
            f"{SCENE_TRUTH_FORMAT_VERSION}. Regenerate the dataset with this version."
        )
    images = tuple(_image_truth(item) for item in document["images"])
    return SceneTruth(
        config=SceneConfig(**document["config"]), images=images, counts=document["counts"]
    )


def _corners(values: list[int] | None) -> BoxCorners | None:
    return None if values is None else (values[0], values[1], values[2], values[3])


def _image_truth(item: dict[str, Any]) -> SceneImageTruth:
    objects = tuple(
        ObjectTruth(
            **{
                **obj,
                "box": _corners(obj["box"]),
                "annotated_box": _corners(obj.get("annotated_box")),
            }
        )
        for obj in item["objects"]
    )
    return SceneImageTruth(**{**item, "size": tuple(item["size"]), "objects": objects})
