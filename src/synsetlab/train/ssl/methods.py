"""The methods: a timm backbone with lightly's projection heads and losses."""

from __future__ import annotations

import copy

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead, SimCLRProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from torch import nn

from synsetlab.train.models import create_model
from synsetlab.train.ssl.config import METHOD_NAMES, SSLConfig


def create_backbone(config: SSLConfig) -> nn.Module:
    """The timm model without its classifier: ``(B, 3, S, S) -> (B, D)`` pre-logit features.
    Its state dict is a classifier's minus the head."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return create_model(config.model, num_classes=0, **config.model_kwargs)


def feature_dim(backbone: nn.Module) -> int:
    """``D``, the width of the backbone's pre-logit features."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


class SimCLR(nn.Module):
    """SimCLR: both views through the backbone and an MLP head; NT-Xent over the batch."""

    def __init__(self, backbone: nn.Module, config: SSLConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = SimCLRProjectionHead(
            feature_dim(backbone), config.proj_hidden_dim, config.proj_dim
        )
        self.criterion = NTXentLoss(temperature=config.temperature)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Views ``(B, 3, S, S)`` each -> the scalar loss."""
        z = self.projector(self.backbone(torch.cat([x0, x1])))  # one pass: BN sees both views
        z0, z1 = z.chunk(2)
        return self.criterion(z0, z1)


class MoCo(nn.Module):
    """MoCo v2: queries from the backbone, keys from its momentum copy, InfoNCE against a
    queue of earlier keys (lightly's memory bank)."""

    def __init__(self, backbone: nn.Module, config: SSLConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = MoCoProjectionHead(
            feature_dim(backbone), config.proj_hidden_dim, config.proj_dim
        )
        self.backbone_momentum = copy.deepcopy(backbone)
        self.projector_momentum = copy.deepcopy(self.projector)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projector_momentum)
        self.momentum = config.moco_momentum
        self.criterion = NTXentLoss(
            temperature=config.temperature, memory_bank_size=(config.queue_size, config.proj_dim)
        )

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Views ``(B, 3, S, S)`` each -> the scalar loss; in training, also moves the key
        encoder towards the query encoder and pushes the keys onto the queue."""
        q = self.projector(self.backbone(x0))
        with torch.no_grad():
            if self.training:
                update_momentum(self.backbone, self.backbone_momentum, self.momentum)
                update_momentum(self.projector, self.projector_momentum, self.momentum)
            k = self.projector_momentum(self.backbone_momentum(x1))
        return self.criterion(q, k)


#: Method name -> model class ``(backbone, config) -> module`` whose forward is the loss.
METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "moco": MoCo}
assert tuple(METHODS) == METHOD_NAMES, "SSLConfig validates against METHOD_NAMES"


def create_ssl_model(config: SSLConfig) -> nn.Module:
    """The method's module around a fresh backbone (heads and queue seeded too)."""
    backbone = create_backbone(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return METHODS[config.method](backbone, config)
