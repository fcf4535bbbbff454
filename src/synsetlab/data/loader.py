"""Sampling, batching and device-side normalisation of a :class:`VersionDataset`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from synsetlab.parallel import LOADER_PRELOAD, worker_context


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, seed)`` pairs: an epoch's order and every sample's augmentation seed
    are functions of ``(seed, epoch)`` alone, and iteration can start mid-epoch.

    Shuffles like ``DistributedSampler`` (``num_replicas`` ranks each take every
    ``num_replicas``-th index of one permutation, padded by wrapping to equal lengths), or
    draws ``len(weights)`` indices with replacement in proportion to ``weights`` (class
    balancing). ``set_epoch(e)`` chooses the epoch; ``set_position(p)`` skips the first ``p``
    samples of this rank's share of it: what exact resumption needs.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        weights: Sequence[float] | torch.Tensor | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.position = 0

    @property
    def per_rank(self) -> int:
        """Samples each rank sees per epoch."""
        return -(-self.size // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.position = 0

    def set_position(self, position: int) -> None:
        if not 0 <= position <= self.per_rank:
            raise ValueError(f"position {position} is outside the epoch (0..{self.per_rank})")
        self.position = position

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's ``(indices, seeds)`` for the whole current epoch."""
        generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, 0))
        if self.weights is not None:
            indices = torch.multinomial(self.weights, self.size, True, generator=generator)
        elif self.shuffle:
            indices = torch.randperm(self.size, generator=generator)
        else:
            indices = torch.arange(self.size)
        total = self.per_rank * self.num_replicas
        indices = torch.cat([indices, indices[: total - self.size]])  # as DistributedSampler
        seeds = np.random.default_rng([self.seed, self.epoch, 1]).integers(0, 2**62, total)
        mine = slice(self.rank, total, self.num_replicas)
        return indices.numpy()[mine], seeds[mine]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices, seeds = self.order()
        for i in range(self.position, len(indices)):
            yield int(indices[i]), int(seeds[i])

    def __len__(self) -> int:
        return self.per_rank - self.position


def mix_seed(*values: int) -> int:
    """A 63-bit seed from several integers (numpy's SeedSequence hashing): independent
    streams for (seed, epoch), (seed, step) and the like."""
    return int(np.random.SeedSequence(list(values)).generate_state(1, np.uint64)[0] >> 1)


def create_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    sampler: Sampler | None = None,
    workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A ``DataLoader`` of uint8 image batches ``(B, 3, H, W)`` and labels ``(B,)``, or of
    what ``collate_fn`` makes of a list of samples (``None``: torch's default stacking).

    Without ``sampler``, images come in dataset order (evaluation). ``persistent`` keeps the
    worker processes between epochs (starting them costs seconds); the sampler still runs in
    this process, so its epoch and position are read afresh at each ``iter()``.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        collate_fn=collate_fn,
        persistent_workers=persistent and workers > 0,
        multiprocessing_context=worker_context(LOADER_PRELOAD) if workers > 0 else None,
    )


class DeviceNormalize:
    """uint8 batches -> normalised float batches, on the device (``mean``/``std`` on 0-1)."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        device: torch.device | str = "cpu",
        channels_last: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1) * 255
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float()
        x = x.sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=self.memory_format)
