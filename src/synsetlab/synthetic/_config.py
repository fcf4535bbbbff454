"""The class table and the typed, validated configuration of the synthetic generator."""

from __future__ import annotations

import math
from dataclasses import dataclass

from synsetlab.errors import UserError

#: The classes: WordNet 3.0 noun synsets of plane figures, wnid -> name.
SHAPE_CLASSES: dict[str, str] = {
    "n13873502": "circle",
    "n13879320": "triangle",
    "n13881644": "star",
    "n13882201": "pentagon",
    "n13882276": "hexagon",
    "n13882563": "octagon",
    "n13883346": "rectangle",
    "n13896217": "crescent",
    "n13865904": "heart",
    "n13876371": "spiral",
}


class SyntheticConfigError(UserError, ValueError):
    """A generator option (or the config a ``truth.json`` records) that cannot be accepted;
    the message names the field and the values it takes."""


#: Smallest accepted width or height, in pixels: below it the figures stop being recognisable.
MIN_IMAGE_SIDE = 16


@dataclass(frozen=True)
class SyntheticConfig:
    """What :func:`~synsetlab.synthetic.generate` writes.

    Planted counts are taken over the ``per_class * len(classes)`` clean images and rounded
    half up: ``count = floor(rate * n_clean + 0.5)`` (see :func:`planted_count`).
    """

    #: Wnids of the classes, a subset of :data:`SHAPE_CLASSES`, in the order given.
    classes: tuple[str, ...] = tuple(SHAPE_CLASSES)
    #: Clean images per class before faults are planted (wrong labels move some between folders).
    per_class: int = 30
    #: Nominal (width, height) of an image, in pixels.
    image_size: tuple[int, int] = (96, 96)
    #: Each image's width and height are scaled independently by a factor drawn uniformly from
    #: [1 - size_jitter, 1 + size_jitter]: sizes and aspect ratios vary as in ImageNet. 0 = fixed.
    size_jitter: float = 0.15
    #: Seed of every random choice; the same config gives byte-identical files.
    seed: int = 0
    #: Share of clean images encoded as PNG; the rest are JPEG.
    png_fraction: float = 0.25
    #: Share of clean images whose PNG bytes are saved under a ``.jpg`` name (valid images with a
    #: lying extension); taken from the PNG share, so at most ``png_fraction``.
    lying_extension_rate: float = 0.01
    #: Extra files that are byte-identical copies of a clean image, per clean image.
    exact_duplicate_rate: float = 0.03
    #: Extra files that are transformed copies (resized, re-encoded, cropped, colour-shifted or
    #: mirrored) of a clean image, per clean image.
    near_duplicate_rate: float = 0.03
    #: Extra undecodable files (truncated JPEG, zero bytes, random bytes, text), per clean image.
    corrupt_rate: float = 0.02
    #: Share of clean images filed under a wrong class folder.
    wrong_label_rate: float = 0.05

    def __post_init__(self) -> None:
        # Accept lists from JSON or callers; the frozen dataclass keeps tuples.
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "image_size", tuple(self.image_size))
        validate_config(self)

    @property
    def n_clean(self) -> int:
        """Number of clean images: ``per_class * len(classes)``."""
        return self.per_class * len(self.classes)


def planted_count(rate: float, n_clean: int) -> int:
    """How many items a rate plants among ``n_clean`` clean images: ``rate * n_clean``, half up."""
    return math.floor(rate * n_clean + 0.5)


def _check_rate(name: str, value: float, *, upper_inclusive: bool = False) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = is_number and (0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0)
    if not in_range:  # also rejects NaN, which fails every comparison
        interval = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise SyntheticConfigError(f"{name} must be in {interval}, got {value!r}")


def validate_config(config: SyntheticConfig) -> None:
    """Raise :class:`SyntheticConfigError` naming the first bad field of ``config``."""
    if not config.classes:
        raise SyntheticConfigError("classes is empty; give at least one wnid of SHAPE_CLASSES")
    unknown = [wnid for wnid in config.classes if wnid not in SHAPE_CLASSES]
    if unknown:
        known = ", ".join(f"{wnid} ({name})" for wnid, name in SHAPE_CLASSES.items())
        raise SyntheticConfigError(
            f"unknown wnid(s) {', '.join(unknown)} in classes; known: {known}"
        )
    if len(set(config.classes)) != len(config.classes):
        raise SyntheticConfigError(f"classes has repeated wnids: {', '.join(config.classes)}")
    if isinstance(config.per_class, bool) or not isinstance(config.per_class, int):
        raise SyntheticConfigError(f"per_class must be an integer, got {config.per_class!r}")
    if config.per_class < 1:
        raise SyntheticConfigError(f"per_class must be at least 1, got {config.per_class}")
    if len(config.image_size) != 2 or any(
        not isinstance(side, int) or side < MIN_IMAGE_SIDE for side in config.image_size
    ):
        raise SyntheticConfigError(
            f"image_size must be (width, height) with integer sides >= {MIN_IMAGE_SIDE} px, "
            f"got {config.image_size!r}"
        )
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise SyntheticConfigError(f"seed must be a non-negative integer, got {config.seed!r}")
    if not 0.0 <= config.size_jitter < 0.5:
        raise SyntheticConfigError(f"size_jitter must be in [0, 0.5), got {config.size_jitter!r}")
    _check_rate("png_fraction", config.png_fraction, upper_inclusive=True)
    for name in ("exact_duplicate_rate", "near_duplicate_rate", "corrupt_rate", "wrong_label_rate"):
        _check_rate(name, getattr(config, name))
    _check_rate("lying_extension_rate", config.lying_extension_rate)
    if config.lying_extension_rate > config.png_fraction:
        raise SyntheticConfigError(
            f"lying_extension_rate ({config.lying_extension_rate}) cannot exceed png_fraction "
            f"({config.png_fraction}): lying-extension images are PNGs named .jpg"
        )
    if len(config.classes) == 1 and planted_count(config.wrong_label_rate, config.n_clean) > 0:
        raise SyntheticConfigError(
            "wrong_label_rate > 0 needs at least two classes to file images under a wrong one; "
            "add classes or set wrong_label_rate=0"
        )


@dataclass(frozen=True)
class SceneConfig:
    """What :func:`~synsetlab.synthetic.generate_scenes` writes: images of several figures each,
    with their boxes, and box faults planted in the annotation.

    Fault counts are taken over all objects of all images and rounded half up (see
    :func:`planted_count`); an object gets at most one fault.
    """

    #: Wnids of the classes, a subset of :data:`SHAPE_CLASSES`, in the order given.
    classes: tuple[str, ...] = tuple(SHAPE_CLASSES)
    #: Images per class; an image's class is that of its largest object.
    per_class: int = 30
    #: (width, height) of every image, in pixels.
    image_size: tuple[int, int] = (160, 160)
    #: Objects per image, drawn uniformly from 1..max_objects (fewer when they do not fit).
    max_objects: int = 4
    #: Smallest and largest object size (about its box's longer side) as a share of the
    #: image's shorter side; drawn log-uniformly, so small objects are as common as large ones.
    scale_range: tuple[float, float] = (0.1, 0.7)
    #: Largest IoU allowed between two objects' true boxes: overlap, but no object hidden.
    max_iou: float = 0.4
    #: Seed of every random choice; the same config gives byte-identical files.
    seed: int = 0
    #: Share of objects whose annotated box is loose: grown by a factor in ``loose_factor``.
    loose_box_rate: float = 0.05
    #: Range of the factor by which a loose box's width and height grow (clipped to the image).
    loose_factor: tuple[float, float] = (1.3, 1.8)
    #: Share of objects left without a box in the annotation.
    missing_box_rate: float = 0.05
    #: Share of objects whose box names another class of ``classes``.
    wrong_class_rate: float = 0.05

    def __post_init__(self) -> None:
        for name in ("classes", "image_size", "scale_range", "loose_factor"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        validate_scene_config(self)

    @property
    def n_images(self) -> int:
        """Number of images: ``per_class * len(classes)``."""
        return self.per_class * len(self.classes)


def validate_scene_config(config: SceneConfig) -> None:
    """Raise :class:`SyntheticConfigError` naming the first bad field of ``config``."""
    # The fields shared with SyntheticConfig are checked by the same code.
    SyntheticConfig(
        classes=config.classes,
        per_class=config.per_class,
        image_size=config.image_size,
        seed=config.seed,
        wrong_label_rate=0.0,
    )
    if isinstance(config.max_objects, bool) or not isinstance(config.max_objects, int):
        raise SyntheticConfigError(f"max_objects must be an integer, got {config.max_objects!r}")
    if config.max_objects < 1:
        raise SyntheticConfigError(f"max_objects must be at least 1, got {config.max_objects}")
    scales = config.scale_range
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scales)
    if len(scales) != 2 or not numbers or not 0.05 <= scales[0] <= scales[1] <= 1.0:
        raise SyntheticConfigError(
            f"scale_range must be (low, high) with 0.05 <= low <= high <= 1, got {scales!r}"
        )
    if not 0.0 <= config.max_iou <= 1.0:
        raise SyntheticConfigError(f"max_iou must be in [0, 1], got {config.max_iou!r}")
    factor = config.loose_factor
    if len(factor) != 2 or not 1.0 < factor[0] <= factor[1]:
        raise SyntheticConfigError(
            f"loose_factor must be (low, high) with 1 < low <= high, got {factor!r}"
        )
    for name in ("loose_box_rate", "missing_box_rate", "wrong_class_rate"):
        _check_rate(name, getattr(config, name))
    total = config.loose_box_rate + config.missing_box_rate + config.wrong_class_rate
    if total >= 1.0:
        raise SyntheticConfigError(
            f"loose_box_rate + missing_box_rate + wrong_class_rate must be below 1 (an object "
            f"gets at most one fault), got {total:g}"
        )
    if len(config.classes) == 1 and config.wrong_class_rate > 0:
        raise SyntheticConfigError(
            "wrong_class_rate > 0 needs at least two classes to name a wrong one; "
            "add classes or set wrong_class_rate=0"
        )
