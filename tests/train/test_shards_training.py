"""Training from a webdataset export instead of the blob store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from synsetlab.export import export_version
from synsetlab.manifest import Manifest
from synsetlab.train import TrainConfig, TrainingError, load_checkpoint, resolve_config, train
from tests.tiny_version import SMALL, TinyVersion


@pytest.fixture(scope="module")
def shards(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "export"
    export_version(tiny.manifest, tiny.blobs, out, "webdataset", shard_size=10, short_side=32)
    return out


def _config(shards: Path, **extra: object) -> TrainConfig:
    values = {**SMALL, "epochs": 2, "batch_size": 12, "shards": str(shards), "shuffle_buffer": 8}
    return resolve_config("tiny-cpu", {**values, **extra})


def test_a_run_reads_its_training_split_from_shards(
    tiny: TinyVersion, shards: Path, tmp_path: Path
) -> None:
    result = train(tiny.manifest, tiny.blobs, _config(shards), tmp_path / "run",
                   version_id=tiny.version_id)  # fmt: skip
    assert (result.epochs_done, result.global_step) == (2, 2 * (48 // 12))
    assert result.history[-1]["val_top1_error"] is not None  # val still from the blob store
    # Resuming from an epoch's end works.
    last = tmp_path / "run" / "last.pt"
    more = train(tiny.manifest, tiny.blobs, _config(shards, epochs=3), tmp_path / "run",
                 version_id=tiny.version_id, resume=last, force=True)  # fmt: skip
    assert more.epochs_done == 3


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_from_shards_resumes_mid_epoch_exactly(
    tiny: TinyVersion, shards: Path, tmp_path: Path, workers: int
) -> None:
    # Micro-batches of 6 (two a step), persistent loader workers, augmentation and mixup.
    busy = {"workers": workers, "optim.accum_steps": 2, "mixup": 0.2, "drop_rate": 0.1}
    straight = train(tiny.manifest, tiny.blobs, _config(shards, **busy), tmp_path / "a",
                     version_id=tiny.version_id)  # fmt: skip
    steps = straight.global_step
    stop_at = straight.history[0]["step"] + 1  # one step into the second epoch
    first = train(tiny.manifest, tiny.blobs, _config(shards, **busy, max_steps=stop_at),
                  tmp_path / "b", version_id=tiny.version_id)  # fmt: skip
    assert first.stopped_early and load_checkpoint(tmp_path / "b" / "last.pt")["epoch_step"] > 0
    rest = train(tiny.manifest, tiny.blobs, _config(shards, **busy), tmp_path / "b",
                 version_id=tiny.version_id, resume=tmp_path / "b" / "last.pt")  # fmt: skip
    assert rest.global_step == steps
    a = load_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_mid_epoch_stream_resume_needs_the_same_workers(
    tiny: TinyVersion, shards: Path, tmp_path: Path
) -> None:
    train(tiny.manifest, tiny.blobs, _config(shards, max_steps=2, workers=2), tmp_path / "mid",
          version_id=tiny.version_id)  # fmt: skip
    assert load_checkpoint(tmp_path / "mid" / "last.pt")["epoch_step"] == 2
    with pytest.raises(TrainingError, match=r"read by 2 loader workers.*resume with --workers 2"):
        train(tiny.manifest, tiny.blobs, _config(shards, workers=0), tmp_path / "mid",
              version_id=tiny.version_id, resume=tmp_path / "mid" / "last.pt")  # fmt: skip


def test_shards_of_another_version_or_with_sampler_balance_are_refused(
    tiny: TinyVersion, shards: Path, tmp_path: Path
) -> None:
    other = Manifest(classes=tiny.manifest.classes,
                     entries=tuple(dataclasses.replace(e, image_id=e.image_id + 1000)
                                   for e in tiny.manifest.entries))  # fmt: skip
    with pytest.raises(TrainingError, match=r"is an export of version .*: export this version"):
        train(other, tiny.blobs, _config(shards), tmp_path / "a", version_id="f" * 64)
    with pytest.raises(TrainingError, match="balance=sampler needs the blob store"):
        train(tiny.manifest, tiny.blobs, _config(shards, balance="sampler"), tmp_path / "b",
              version_id=tiny.version_id)  # fmt: skip
