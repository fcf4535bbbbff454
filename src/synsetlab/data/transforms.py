"""Image transforms for training and evaluation, from torchvision.

Both end in a ``(3, H, W)`` uint8 tensor: batches cross to the device as bytes (4x less than
floats) and are normalised there by :class:`synsetlab.data.loader.DeviceNormalize`. Random
erasing, mixup and cutmix work on whole batches and live in the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from torchvision.transforms import v2

#: ImageNet's channel statistics, on the 0-1 scale (torchvision's and timm's defaults).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TransformConfig(BaseModel):
    """Sizes and augmentations of the input pipeline. Pixels unless said otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Side of the square crop the model sees in training.
    image_size: int = Field(default=224, ge=8)
    #: Side of the evaluation crop (``None``: ``image_size``). timm's A3 trains at 160 px
    #: and evaluates at 224.
    eval_image_size: int | None = Field(default=None, ge=8)
    #: Evaluation: resize the short side to ``eval_size / crop_pct``, then centre-crop
    #: (224 / 0.875 = 256: the classic Resize(256) + CenterCrop(224)).
    crop_pct: float = Field(default=0.875, gt=0, le=1)
    #: RandomResizedCrop's range of crop area, as a fraction of the picture.
    min_scale: float = Field(default=0.08, gt=0, le=1)
    max_scale: float = Field(default=1.0, gt=0, le=1)
    #: Probability of a horizontal mirror.
    hflip: float = Field(default=0.5, ge=0, le=1)
    #: Automatic augmentation policy applied after the crop.
    auto_augment: Literal["none", "trivialaugment", "randaugment"] = "none"
    #: Colour-invariance augmentations, for data whose classes do not depend on colour
    #: (synthetic shapes, drawings): shuffle R, G and B; invert with this probability;
    #: make grey with this probability.
    channel_permutation: bool = False
    invert: float = Field(default=0.0, ge=0, le=1)
    grayscale: float = Field(default=0.0, ge=0, le=1)
    randaugment_ops: int = Field(default=2, ge=1)
    randaugment_magnitude: int = Field(default=9, ge=0, le=30)
    #: Channel mean and std on the 0-1 scale, applied on the device.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def eval_size(self) -> int:
        """Side of the evaluation crop."""
        return self.eval_image_size or self.image_size

    @property
    def eval_resize(self) -> int:
        """Short side before the evaluation centre crop."""
        return round(self.eval_size / self.crop_pct)

    def decode_size(self, train: bool) -> int:
        """Smallest side worth decoding: JPEGs at least twice this are decoded at 1/2-1/8.

        Evaluation needs ``eval_resize``; a training crop of ``min_scale`` of the area is
        then upsampled to ``image_size``, which a picture of ``eval_resize`` already covers
        for the usual scales, as FFCV's and timm's low-resolution decoders assume.
        """
        return self.eval_resize if not train else max(self.eval_resize, self.image_size)


class RandomResizedCropFlip:
    """``v2.RandomResizedCrop`` (bilinear, antialiased) then ``v2.RandomHorizontalFlip(hflip)``
    in one step: PIL image or ``(3, H, W)`` uint8 tensor -> ``(3, size, size)`` uint8 tensor.

    The same random draws and pixels as those two transforms (the crop is cut before it is
    resized), without v2's dispatch on every call: ~50 us an image, a tenth of all the work
    of a raw shard sample (``bench/loader.py``).
    """

    def __init__(self, size: int, *, scale: tuple[float, float], hflip: float) -> None:
        self.crop = v2.RandomResizedCrop(size, scale=scale, antialias=True)
        self.hflip = hflip

    def __call__(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        if isinstance(image, Image.Image):
            image = v2.functional.pil_to_tensor(image)
        box = self.crop.make_params([image])
        image = v2.functional.resized_crop(image, **box, size=list(self.crop.size), antialias=True)
        # One draw, as RandomHorizontalFlip(p) makes even at p=1; none where it was left out.
        if self.hflip > 0 and torch.rand(1) < self.hflip:
            image = v2.functional.horizontal_flip(image)
        return image

    def __repr__(self) -> str:
        return f"{type(self).__name__}(crop={self.crop}, hflip={self.hflip})"


def create_transform(config: TransformConfig, *, train: bool) -> v2.Compose:
    """PIL image or ``(3, H, W)`` uint8 tensor -> ``(3, S, S)`` uint8 tensor (``S``:
    ``image_size`` or ``eval_size``).

    Training: RandomResizedCrop (bilinear, antialiased) + horizontal flip + the configured
    automatic augmentation. Evaluation: resize the short side to ``eval_resize`` and crop the
    centre ``eval_size`` square.
    """
    size = config.image_size
    if not train:
        return v2.Compose(
            [
                v2.PILToTensor(),
                v2.Resize(config.eval_resize, antialias=True),
                v2.CenterCrop(config.eval_size),
            ]
        )
    steps: list[Callable[[Any], Any]] = [
        RandomResizedCropFlip(size, scale=(config.min_scale, config.max_scale), hflip=config.hflip)
    ]
    if config.auto_augment == "trivialaugment":
        steps.append(v2.TrivialAugmentWide())
    elif config.auto_augment == "randaugment":
        steps.append(
            v2.RandAugment(num_ops=config.randaugment_ops, magnitude=config.randaugment_magnitude)
        )
    if config.channel_permutation:
        steps.append(v2.RandomChannelPermutation())
    if config.invert > 0:
        steps.append(v2.RandomInvert(config.invert))
    if config.grayscale > 0:
        steps.append(v2.RandomGrayscale(config.grayscale))
    steps.append(v2.ToDtype(torch.uint8))
    return v2.Compose(steps)
