"""Evaluation of a backbone without training it: weighted k-NN and a linear probe."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DeviceNormalize,
    TransformConfig,
    VersionDataset,
    create_loader,
)
from synsetlab.manifest import Manifest
from synsetlab.train.models import pre_logits
from synsetlab.train.ssl.config import SSLError


@torch.no_grad()
def split_features(
    model: nn.Module,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    image_size: int,
    batch_size: int = 128,
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` float32 pre-logit features of a split's images (short side resized to
    ``image_size``, centre crop) and their ``(N,)`` int64 labels (-1 where hidden), in
    manifest order. ``model`` is a timm backbone or classifier on ``device``."""
    data = TransformConfig(image_size=image_size, crop_pct=1.0)
    dataset = VersionDataset.with_transform(manifest, split, blobs, data, train=False)
    device = torch.device(device)
    normalize = DeviceNormalize(data.mean, data.std, device=device)
    was_training = model.training
    model.eval()
    features = [
        pre_logits(model, normalize(images)).float().cpu()
        for images, _ in create_loader(dataset, batch_size=batch_size, workers=workers)
    ]
    model.train(was_training)
    return torch.cat(features).numpy(), dataset.labels.numpy()


def _check_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
) -> None:
    if train_features.ndim != 2 or val_features.shape[1:] != train_features.shape[1:]:
        raise SSLError(
            f"features must be (N, D) with the same D: got {train_features.shape} and "
            f"{val_features.shape}"
        )
    if len(train_labels) != len(train_features) or len(val_labels) != len(val_features):
        raise SSLError("every feature row needs one label")
    if len(train_labels) == 0 or len(val_labels) == 0:
        raise SSLError("k-NN and linear probes need at least one image on each side")
    if (np.asarray(train_labels) < 0).any() or (np.asarray(val_labels) < 0).any():
        raise SSLError("hidden labels (-1) cannot be scored: probe on labelled splits")


def knn_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of a weighted k-NN vote (InstDisc, DINO): each val row ``(M, D)`` takes
    its ``k`` most cosine-similar train rows ``(N, D)``, each voting for its label with weight
    ``exp(similarity / temperature)``. Labels ``(N,)``, ``(M,)``: class indices >= 0."""
    _check_features(train_features, train_labels, val_features, val_labels)
    memory = F.normalize(torch.as_tensor(train_features, dtype=torch.float32), dim=1)
    queries = F.normalize(torch.as_tensor(val_features, dtype=torch.float32), dim=1)
    memory_labels = torch.as_tensor(train_labels, dtype=torch.long)
    targets = torch.as_tensor(val_labels, dtype=torch.long)
    classes = int(max(memory_labels.max(), targets.max())) + 1
    k = min(k, len(memory))
    correct = 0
    for start in range(0, len(queries), 1024):  # (chunk, N) similarities at a time
        similarity, index = (queries[start : start + 1024] @ memory.T).topk(k, dim=1)
        votes = torch.zeros(len(index), classes).scatter_add_(
            1, memory_labels[index], (similarity / temperature).exp()
        )
        correct += int((votes.argmax(1) == targets[start : start + 1024]).sum())
    return correct / len(queries)


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    c: float = 1.0,
    max_iter: int = 2000,
) -> float:
    """Top-1 accuracy on val of a multinomial logistic regression fitted on the standardised
    train features ``(N, D)`` (scikit-learn; ``c``: inverse L2 strength, its ``C``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check_features(train_features, train_labels, val_features, val_labels)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_features, train_labels)
    return float((probe.predict(val_features) == np.asarray(val_labels)).mean())
