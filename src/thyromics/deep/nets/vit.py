"""Vision Transformer classifier (Dosovitskiy et al., ICLR 2021) from MONAI and torch blocks.

MONAI's own ``ViT`` needs the ``einops`` package, which this project does not install;
this class keeps MONAI's patch embedding (``PatchEmbeddingBlock``, convolutional
projection, learnable position embedding) and uses torch's pre-norm
``TransformerEncoderLayer`` (GELU MLP)::

    patches of ``patch_size`` -> linear projection to ``hidden_size`` + position embedding
    [CLS] token prepended -> ``num_layers`` x (LN -> multi-head self-attention -> + ,
                                              LN -> MLP ``mlp_dim`` -> +)
    LN -> [CLS] vector -> FC -> classes

Defaults are ViT-B/16 (hidden 768, MLP 3072, 12 layers, 12 heads, patch 16).
"""

from __future__ import annotations

from typing import Sequence

import torch
from monai.networks.blocks.patchembedding import PatchEmbeddingBlock
from torch import nn

__all__ = ["ViTClassifier"]


class ViTClassifier(nn.Module):
    """ViT classifier; ``img_size`` must be divisible by ``patch_size`` on every axis."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2,
                 img_size: Sequence[int] = (224, 224), patch_size: int | Sequence[int] = 16,
                 hidden_size: int = 768, mlp_dim: int = 3072, num_layers: int = 12, num_heads: int = 12,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.patch_embedding = PatchEmbeddingBlock(
            in_channels=in_channels, img_size=img_size, patch_size=patch_size, hidden_size=hidden_size,
            num_heads=num_heads, proj_type="conv", pos_embed_type="learnable", dropout_rate=dropout,
            spatial_dims=spatial_dims)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        layer = nn.TransformerEncoderLayer(hidden_size, num_heads, mlp_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embedding(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])
