"""Few labels: self-supervised pretraining on every train image, then 10% of the labels,
against training from scratch on the same 10%.

On the synthetic shapes (faults off: this measures learning, not curation), per seed:

1. a workspace with a frozen version (generate, ingest, split, freeze), as the quickstart;
2. SimCLR (or MoCo) on all train images, labels unused (``synsetlab.train.ssl.pretrain``);
3. a labelled subset: ``--label-fraction`` of the train images of each class, and val;
4. on it, val top-1 accuracy of: training from scratch (``synsetlab.train.train``, the
   tiny-cpu recipe), fine-tuning the SSL backbone with the same recipe
   (``pretrained=last.pt``), and linear probe and k-NN on frozen features of the SSL backbone
   and of a random-init one.

    python bench/ssl_few_labels.py                        # ~10 min on 2 cores
    python bench/ssl_few_labels.py --seeds 0 1 2          # three seeds
    python bench/ssl_few_labels.py --per-class 60 --ssl-epochs 10 --ft-epochs 10   # quicker
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from synsetlab.blobs import BlobStore
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.manifest import Manifest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.synthetic import SyntheticConfig, generate
from synsetlab.train import resolve_config, train
from synsetlab.train.ssl import (
    SSLConfig,
    create_backbone,
    knn_accuracy,
    linear_probe,
    pretrain,
    split_features,
)
from synsetlab.versions import LoadedVersion, freeze
from synsetlab.workspace import init_workspace

#: The tiny-cpu recipe's backbone: a half-width resnet10t.
MODEL = "resnet10t"
MODEL_KWARGS = {"channels": [32, 64, 128, 256], "stem_width": 16}
NO_FAULTS = {
    "exact_duplicate_rate": 0.0,
    "near_duplicate_rate": 0.0,
    "corrupt_rate": 0.0,
    "wrong_label_rate": 0.0,
    "lying_extension_rate": 0.0,
}


def build_version(root: Path, *, per_class: int, val_per_class: int, seed: int) -> tuple:
    """A workspace in ``root`` with version v1 of the synthetic shapes; (version, blobs)."""
    ws = init_workspace(root / "ws")
    try:
        synthetic = generate(
            root / "shapes", SyntheticConfig(per_class=per_class, seed=seed, **NO_FAULTS)
        )
        ingest(ws, open_manifest(synthetic.manifest, kind="synthetic"), workers=0)
        assign_splits(ws, SplitPlan(val_per_class=val_per_class, test_per_class=1, seed=seed))
        version: LoadedVersion = freeze(ws, "v1")
        return version, ws.blobs
    finally:
        ws.close()


def few_labels(manifest: Manifest, fraction: float, seed: int) -> Manifest:
    """``fraction`` of each class's train images (at least one), and every val image."""
    rng = random.Random(seed)
    kept = []
    for wnid in manifest.classes:
        train = [e for e in manifest.split("train") if e.wnid == wnid]
        kept += rng.sample(train, max(1, round(fraction * len(train))))
    return Manifest(classes=manifest.classes, entries=(*kept, *manifest.split("val")))


def probes(
    backbone: torch.nn.Module, manifest: Manifest, blobs: BlobStore, image_size: int
) -> tuple[float, float]:
    """(linear-probe, k-NN) val top-1 accuracy of frozen features, fitted on ``manifest``'s
    train images."""
    train_x, train_y = split_features(backbone, manifest, blobs, "train", image_size=image_size)
    val_x, val_y = split_features(backbone, manifest, blobs, "val", image_size=image_size)
    return (
        linear_probe(train_x, train_y, val_x, val_y),
        knn_accuracy(train_x, train_y, val_x, val_y, k=min(20, len(train_x))),
    )


def supervised(
    manifest: Manifest, blobs: BlobStore, out: Path, args: argparse.Namespace, seed: int,
    pretrained: Path | None,
) -> float:  # fmt: skip
    """Val top-1 accuracy after the last epoch of the tiny-cpu recipe on ``manifest``."""
    config = resolve_config(
        "tiny-cpu",
        {
            "model_kwargs": MODEL_KWARGS, "epochs": args.ft_epochs, "batch_size": args.ft_batch,
            "seed": seed, "data.image_size": args.image_size, "eval_every": args.ft_epochs,
            "pretrained": None if pretrained is None else str(pretrained), "device": "cpu",
        },
    )  # fmt: skip
    result = train(manifest, blobs, config, out, version_id="few-labels")
    return 1.0 - result.history[-1]["val_top1_error"]


def run_seed(args: argparse.Namespace, seed: int, root: Path) -> dict[str, float]:
    started = time.perf_counter()
    version, blobs = build_version(
        root, per_class=args.per_class, val_per_class=args.val_per_class, seed=seed
    )
    ssl_config = SSLConfig(
        method=args.method, model=MODEL, model_kwargs=MODEL_KWARGS, splits=("train",),
        image_size=args.image_size, epochs=args.ssl_epochs, batch_size=args.ssl_batch,
        lr=args.ssl_lr, temperature=args.temperature, min_scale=args.min_scale,
        color_jitter=args.color_jitter, blur=args.blur, knn_every=args.ssl_epochs, seed=seed,
        device="cpu",
    )  # fmt: skip
    ssl_started = time.perf_counter()
    ssl = pretrain(version.manifest, blobs, ssl_config, root / "ssl", version_id=version.id)
    ssl_seconds = time.perf_counter() - ssl_started
    labelled = few_labels(version.manifest, args.label_fraction, seed)
    backbone = create_backbone(ssl_config)
    random_probe, random_knn = probes(backbone, labelled, blobs, args.image_size)
    backbone.load_state_dict(torch.load(ssl.checkpoint, weights_only=True)["state_dict"])
    ssl_probe, ssl_knn = probes(backbone, labelled, blobs, args.image_size)
    row = {
        "train images": len(version.manifest.split("train")),
        "labelled": len(labelled.split("train")),
        "val": len(labelled.split("val")),
        "ssl loss": ssl.history[-1]["train_loss"],
        "ssl s": ssl_seconds,
        "scratch": supervised(labelled, blobs, root / "scratch", args, seed, None),
        "ssl+finetune": supervised(labelled, blobs, root / "ft", args, seed, ssl.checkpoint),
        "ssl probe": ssl_probe,
        "ssl knn": ssl_knn,
        "random probe": random_probe,
        "random knn": random_knn,
        "all s": time.perf_counter() - started,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--per-class", type=int, default=100, help="images per class (10)")
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--label-fraction", type=float, default=0.1)
    parser.add_argument("--method", default="simclr", choices=["simclr", "moco"])
    parser.add_argument("--image-size", type=int, default=32, help="pixels")
    parser.add_argument("--ssl-epochs", type=int, default=100)
    parser.add_argument("--ssl-batch", type=int, default=128)
    parser.add_argument("--ssl-lr", type=float, default=2e-3)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--min-scale", type=float, default=0.4, help="of the crop's area")
    parser.add_argument("--color-jitter", type=float, default=1.0, help="strength s")
    parser.add_argument("--blur", type=float, default=0.0, help="probability")
    parser.add_argument("--ft-epochs", type=int, default=30)
    parser.add_argument("--ft-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} threads; {vars(args)}")
    columns = ["scratch", "ssl+finetune", "ssl probe", "ssl knn", "random probe", "random knn"]
    print(f"{'seed':>4} {'train':>5} {'lab':>4} {'val':>4} {'loss':>5} "
          + " ".join(f"{c:>12}" for c in columns) + f" {'ssl s':>6} {'all s':>6}")  # fmt: skip
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            row = run_seed(args, seed, Path(tmp))
        rows.append(row)
        print(f"{seed:>4} {row['train images']:>5} {row['labelled']:>4} {row['val']:>4} "
              f"{row['ssl loss']:>5.2f} " + " ".join(f"{row[c]:>12.3f}" for c in columns)
              + f" {row['ssl s']:>6.0f} {row['all s']:>6.0f}", flush=True)  # fmt: skip
    if len(rows) > 1:
        means = [statistics.mean(r[c] for r in rows) for c in columns]
        spreads = [statistics.stdev(r[c] for r in rows) for c in columns]
        print(f"{'mean':>27} " + " ".join(f"{m:>12.3f}" for m in means))
        print(f"{'stdev':>27} " + " ".join(f"{s:>12.3f}" for s in spreads))
    print("val top-1 accuracy; scratch and ssl+finetune: the tiny-cpu recipe on the labelled "
          "images alone, from random or SSL weights; probes: logistic regression and weighted "
          "k-NN (k=20) on frozen features")  # fmt: skip


if __name__ == "__main__":
    main()
