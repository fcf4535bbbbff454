"""Time to accuracy: seconds of training until the validation top-1 error first reaches a
target, for a recipe on a frozen version (the quickstart's v1 by default).

The version is read straight from a blob store (no catalog needed): ``--blobs`` is the
workspace's ``blobs`` folder and ``--version`` the version id (``synsetlab version list``).

    synsetlab quickstart qs --force && python bench/time_to_accuracy.py --workspace qs
    python bench/time_to_accuracy.py --blobs qs/blobs --version dad1217f... \
        --recipe resnet18-sgd --set data.image_size=64 --epochs 30 --target 0.5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest
from synsetlab.train import resolve_config, train


class Clock:
    """Records the wall time of each epoch's end."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.records: list[dict[str, Any]] = []

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, images: int, loss: float, lr: float) -> None:
        pass

    def epoch_end(self, record: dict[str, Any]) -> None:
        self.records.append({**record, "seconds": time.perf_counter() - self.start})
        error = record.get("val_top1_error")
        print(
            f"epoch {record['epoch']:>3}  {self.records[-1]['seconds']:7.1f} s  "
            f"train loss {record['train_loss']:.3f}  val top-1 error "
            f"{'n/a' if error is None else f'{error:.3f}'}  {record['images_per_s']:.0f} img/s",
            flush=True,
        )


def _version(args: argparse.Namespace) -> tuple[BlobStore, str]:
    if args.blobs:
        return BlobStore(str(Path(args.blobs).resolve())), args.version
    from synsetlab.versions import load_version
    from synsetlab.workspace import open_workspace

    ws = open_workspace(Path(args.workspace))
    version = load_version(ws, args.version or "v1")
    return ws.blobs, version.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default="quickstart-workspace")
    parser.add_argument("--blobs", help="a blob store folder (instead of --workspace)")
    parser.add_argument("--version", help="version id (with --blobs) or name (default v1)")
    parser.add_argument("--recipe", default="tiny-cpu")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--set", action="append", default=[], dest="assignments")
    parser.add_argument("--target", type=float, default=0.5, help="val top-1 error to reach")
    args = parser.parse_args()
    blobs, version_id = _version(args)
    manifest = Manifest.from_bytes(blobs.get(version_id))
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    config = resolve_config(args.recipe, overrides, args.assignments)
    device = "cuda" if torch.cuda.is_available() and config.device == "auto" else config.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(
        f"{config.model} ({args.recipe}) on {version_id[:12]}: "
        f"{manifest.splits.get('train', 0)} train / {manifest.splits.get('val', 0)} val images, "
        f"{len(manifest.classes)} classes, {config.epochs} epochs, batch {config.batch_size}, "
        f"{config.data.image_size} px, on {name} ({torch.get_num_threads()} CPU threads)"
    )
    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        train(manifest, blobs, config, Path(out) / "run", version_id=version_id, reporter=clock)
    reached = [r for r in clock.records if (r.get("val_top1_error") or 1.0) <= args.target]
    best = min(r.get("val_top1_error") or 1.0 for r in clock.records)
    if reached:
        first = reached[0]
        print(
            f"reached val top-1 error {args.target} at epoch {first['epoch']} after "
            f"{first['seconds']:.1f} s (best {best:.3f}, "
            f"chance {1 - 1 / len(manifest.classes):.3f})"
        )
    else:
        print(
            f"did not reach val top-1 error {args.target} (best {best:.3f}) "
            f"in {config.epochs} epochs"
        )


if __name__ == "__main__":
    main()
