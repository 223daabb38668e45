"""The SE-ResNet of the chest-CT study of non-iodine-avid lung metastases of DTC, in 2D or 3D.

The study (Frontiers 2024) predicts from chest-CT patches whether a lung metastasis takes
up radioiodine. Architecture (the study's defaults; input ``1 x 32 x 48 x 48``)::

    stem      conv 3x3x3, 1 -> 64, BN, ReLU                       64 x 32 x 48 x 48
    stage k   (k = 1..4, channels 64, 128, 256, 512)
              conv 3x3x3 -> BN -> ReLU -> conv 3x3x3 -> BN -> SE(r = 4)
              + shortcut (identity, or 1x1x1 conv + BN when channels change)
              -> ReLU -> max-pool 2 (ceil mode)                   512 x 2 x 3 x 3 after stage 4
    head      global average pool -> dropout -> fully connected 512 -> classes

The SE block is MONAI's ``ChannelSELayer``: global average pool, ``C -> C/4``, ReLU,
``C/4 -> C``, sigmoid, channel-wise rescaling (Hu et al., CVPR 2018). The study writes
"2 x 2 maximum pool" and "directly added to the original input"; the residual is added
before pooling so the shapes match.
"""

from __future__ import annotations

from typing import Sequence

import torch
from monai.networks.blocks.squeeze_and_excitation import ChannelSELayer
from monai.networks.layers.factories import Pool
from torch import nn

from thyromics.deep.nets._blocks import conv_block

__all__ = ["SEResNet", "SEResidualStage"]


class SEResidualStage(nn.Module):
    """Two 3x3(x3) convolutions, an SE block, a residual addition and a max-pool."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, reduction: int = 4, pool: bool = True) -> None:
        super().__init__()
        self.conv1 = conv_block(spatial_dims, cin, cout, 3)
        self.conv2 = conv_block(spatial_dims, cout, cout, 3, act=None)
        self.se = ChannelSELayer(spatial_dims, cout, r=reduction)
        self.shortcut: nn.Module = (nn.Identity() if cin == cout
                                    else conv_block(spatial_dims, cin, cout, 1, act=None))
        self.act = nn.ReLU(inplace=False)
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, ceil_mode=True) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.conv2(self.conv1(x)))
        return self.pool(self.act(y + self.shortcut(x)))


class SEResNet(nn.Module):
    """SE-ResNet classifier (see the module docstring for the layer table).

    Parameters
    ----------
    spatial_dims : int
        3 for CT patches (as in the lung-metastasis study), 2 also works.
    in_channels : int
    out_channels : int
        Number of classes (logits).
    stem_channels : int
        Channels of the input convolution (64).
    channels : sequence of int
        Channels of the residual stages (64, 128, 256, 512).
    reduction : int
        SE squeeze ratio (4).
    dropout : float
        Dropout before the fully connected layer.
    """

    def __init__(self, spatial_dims: int = 3, in_channels: int = 1, out_channels: int = 2,
                 stem_channels: int = 64, channels: Sequence[int] = (64, 128, 256, 512),
                 reduction: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.stem = conv_block(spatial_dims, in_channels, stem_channels, 3)
        stages, cin = [], stem_channels
        for c in channels:
            stages.append(SEResidualStage(spatial_dims, cin, int(c), reduction))
            cin = int(c)
        self.layers = nn.Sequential(*stages)
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.layers(self.stem(x))).flatten(1)
        return self.fc(self.dropout(x))
