"""Training input: a version's split as a torch ``Dataset``, its transforms and its loader.

- :class:`VersionDataset` reads a split of a frozen version from the blob store, decoding
  JPEGs at reduced size where the transform allows (Pillow ``draft``).
- :func:`create_transform` builds torchvision transforms: RandomResizedCrop + flip (+
  TrivialAugment / RandAugment) for training, resize + centre crop for evaluation. They end in
  uint8 tensors; :class:`DeviceNormalize` turns batches into floats on the device.
- :class:`ResumableSampler` orders an epoch from (seed, epoch) alone and can start mid-epoch,
  so a resumed run sees exactly the samples and augmentations an uninterrupted one would.
"""

from synsetlab.data.dataset import DataError, VersionDataset, decode_image, decode_tensor
from synsetlab.data.loader import DeviceNormalize, ResumableSampler, create_loader
from synsetlab.data.shards import ShardDataset, num_samples, shard_dataset
from synsetlab.data.transforms import TransformConfig, create_transform

__all__ = [
    "DataError",
    "DeviceNormalize",
    "ResumableSampler",
    "ShardDataset",
    "TransformConfig",
    "VersionDataset",
    "create_loader",
    "create_transform",
    "decode_image",
    "decode_tensor",
    "num_samples",
    "shard_dataset",
]
