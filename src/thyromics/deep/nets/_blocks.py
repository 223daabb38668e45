"""Building blocks shared by the hand-assembled networks (MONAI blocks underneath)."""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv
from torch import nn

__all__ = ["conv_block", "ChannelAttention", "SpatialAttention", "CBAM"]


def conv_block(spatial_dims: int, cin: int, cout: int, kernel_size: int | tuple = 3, strides: int = 1,
               norm: str | tuple | None = "batch", act: str | tuple | None = "relu",
               padding: int | tuple | None = None) -> Convolution:
    """MONAI ``Convolution``: conv -> norm -> activation ("same" padding by default)."""
    return Convolution(spatial_dims, cin, cout, strides=strides, kernel_size=kernel_size,
                       norm=norm, act=act, padding=padding, adn_ordering="NDA")


class ChannelAttention(nn.Module):
    """Channel attention of the CRIT/iTED study's CBAM-nnU-Net.

    ``y = x * sigmoid(conv1x1(avgpool(x)))``: a global average pool, one 1x1 convolution
    ``C -> C`` with bias and a sigmoid; no reduction MLP and no max-pool branch (unlike
    the original CBAM of Woo et al., ECCV 2018), as in ``0.1_CBAM.py`` of the study's code,
    github.com/Spr1te123/THCA-ITH.
    """

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        self.fc = Conv[Conv.CONV, spatial_dims](channels, channels, kernel_size=1, bias=True)
        self.spatial_dims = spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, 2 + self.spatial_dims))
        return x * torch.sigmoid(self.fc(x.mean(dim=dims, keepdim=True)))


class SpatialAttention(nn.Module):
    """Spatial attention of THCA-ITH: ``y = x * sigmoid(conv5([mean_c(x), max_c(x)]))``.

    The channel-wise mean and max maps are stacked (2 channels) and convolved by one
    ``kernel_size`` (5) convolution without bias to 1 channel.
    """

    def __init__(self, spatial_dims: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = Conv[Conv.CONV, spatial_dims](2, 1, kernel_size=kernel_size, padding=kernel_size // 2,
                                                  bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(s))


class CBAM(nn.Module):
    """Channel attention then spatial attention (the order of ``0.1_CBAM.py`` in THCA-ITH)."""

    def __init__(self, spatial_dims: int, channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.channel = ChannelAttention(spatial_dims, channels)
        self.spatial = SpatialAttention(spatial_dims, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))
