"""Self-supervised pretraining on a version's images, labels unused: SimCLR or MoCo v2, and
the k-NN and linear-probe evaluation of the backbone it leaves.

The contrastive losses and projection heads come from ``lightly`` (``NTXentLoss``, with its
memory bank as MoCo's queue; ``SimCLRProjectionHead``, ``MoCoProjectionHead``); the backbone is
any timm model, built without its classifier. Augmentations are torchvision v2 transforms
ending in uint8 tensors, as :mod:`synsetlab.data.transforms`, normalised on the device.

A run folder holds ``config.yaml`` (the resolved :class:`SSLConfig`, version, packages),
``metrics.jsonl`` (one line per epoch: loss, and the k-NN top-1 accuracy on val when the
version has labelled train and val images) and ``last.pt``, a synsetlab checkpoint
(:mod:`synsetlab.train.checkpoint`) whose ``state_dict`` is the backbone without classifier:
what :func:`synsetlab.train.finetune.load_pretrained` loads into a fresh classifier of the same
architecture, so fine-tuning is ``TrainConfig(model=..., pretrained="run/last.pt")``.
Its ``config`` is that fine-tuning starting point (a :class:`TrainConfig`, so tools that read
checkpoints keep working); ``ssl_config`` the pretraining config. Runs are single-process; the
run folder is kept as training keeps its own (:mod:`synsetlab.train.rundir`): a run stopped by
Ctrl-C or SIGTERM saves ``last.pt`` at the step it reached, and ``--resume`` continues it
exactly.

>>> config = SSLConfig(method="simclr", model="resnet10t", image_size=64, epochs=100)
>>> result = pretrain(version.manifest, ws.blobs, config, Path("runs/ssl"), version_id=version.id)
>>> finetune = TrainConfig(model="resnet10t", pretrained=str(result.checkpoint))
"""

from synsetlab.train.ssl.config import METHOD_NAMES, UNLABELLED, SSLConfig, SSLError
from synsetlab.train.ssl.methods import METHODS, MoCo, SimCLR, create_backbone, create_ssl_model
from synsetlab.train.ssl.pretrain import (
    PretrainResult,
    pretrain,
    pretrain_one_epoch,
    resolve_ssl_config,
    train_step,
)
from synsetlab.train.ssl.probes import knn_accuracy, linear_probe, pre_logits, split_features
from synsetlab.train.ssl.views import (
    TwoViews,
    create_ssl_transform,
    hidden_splits,
    ssl_dataset,
    unlabelled_manifest,
)

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "UNLABELLED",
    "MoCo",
    "PretrainResult",
    "SSLConfig",
    "SSLError",
    "SimCLR",
    "TwoViews",
    "create_backbone",
    "create_ssl_model",
    "create_ssl_transform",
    "hidden_splits",
    "knn_accuracy",
    "linear_probe",
    "pre_logits",
    "pretrain",
    "pretrain_one_epoch",
    "resolve_ssl_config",
    "split_features",
    "ssl_dataset",
    "train_step",
    "unlabelled_manifest",
]
