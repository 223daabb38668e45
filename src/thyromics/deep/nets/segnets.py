"""Segmentation networks: an attention U-Net with CBAM blocks and an SE V-Net.

CBAM U-Net (after the CRIT/iTED study's CBAM-nnU-Net, 2D or 3D)::

    encoder stage i (channels c_i; stride 2 in the first conv of stages i > 0)
        conv 3 -> norm -> act
        conv 3 -> norm -> channel attention -> spatial attention -> act   (THCA-ITH's order)
    decoder stage i: transposed conv /2 -> [attention gate on the skip] -> concat
        -> the same two-conv CBAM stage
    output: conv 1x1 -> ``out_channels`` logits

  Channel and spatial attention are those of the study's code (``0.1_CBAM.py`` of
  github.com/Spr1te123/THCA-ITH; see ``_blocks.ChannelAttention`` and
  ``_blocks.SpatialAttention``). The optional attention gates on the skip connections are
  MONAI's ``AttentionBlock`` (Oktay et al., MIDL 2018), which make it an attention U-Net.
  Inputs must be divisible by ``2 ** (len(channels) - 1)``.

SE V-Net (as in the chest-CT deep-learning study of non-iodine-avid lung metastases of DTC,
Frontiers 2024; Milletari et al., 3DV 2016, with SE blocks)::

    input block: conv k -> norm -> PReLU, + 1x1 projection of the input
    down stage i: conv 2 /2 (c_{i-1} -> c_i) -> n_i x (conv k -> norm -> PReLU) -> SE, + residual
    up stage i: transposed conv 2 /2 -> concat skip -> n_i x (conv k -> norm -> PReLU) -> SE, + residual
    output: conv 1x1 -> ``out_channels`` logits

  ``k`` = 5 as in V-Net (3 is faster); SE is MONAI's ``ChannelSELayer`` (reduction 4).
  Inputs must be divisible by ``2 ** (len(channels) - 1)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from monai.networks.blocks.squeeze_and_excitation import ChannelSELayer
from monai.networks.layers.factories import Act, Conv, Norm
from monai.networks.nets.attentionunet import AttentionBlock
from torch import nn

from thyromics.deep.nets._blocks import CBAM, conv_block

__all__ = ["CBAMUNet", "SEVNet"]


class _CBAMStage(nn.Module):
    def __init__(self, spatial_dims: int, cin: int, cout: int, stride: int, norm: str, dropout: float) -> None:
        super().__init__()
        self.conv1 = conv_block(spatial_dims, cin, cout, 3, strides=stride, norm=norm, act="leakyrelu")
        self.conv2 = nn.Sequential(Conv[Conv.CONV, spatial_dims](cout, cout, 3, padding=1),
                                   nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
                                   Norm[norm, spatial_dims](cout))
        self.cbam = CBAM(spatial_dims, cout)
        self.act = Act["leakyrelu"]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.cbam(self.conv2(self.conv1(x))))


class CBAMUNet(nn.Module):
    """Attention U-Net whose every stage ends in a CBAM block (see module docstring).

    Parameters
    ----------
    spatial_dims : int
    in_channels, out_channels : int
    channels : sequence of int
        Channels per resolution level, top to bottom.
    attention_gates : bool
        Gate the skip connections with MONAI ``AttentionBlock``.
    norm : str
        ``"instance"`` (nnU-Net's default) or ``"batch"``.
    dropout : float
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1,
                 channels: Sequence[int] = (32, 64, 128, 256, 512), attention_gates: bool = True,
                 norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        if len(ch) < 2:
            raise ValueError(f"channels needs at least 2 levels, got {channels}")
        self.down = nn.ModuleList()
        cin = in_channels
        for i, c in enumerate(ch):
            self.down.append(_CBAMStage(spatial_dims, cin, c, 1 if i == 0 else 2, norm, dropout))
            cin = c
        self.up = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(ch) - 1, 0, -1):
            self.up.append(Conv[Conv.CONVTRANS, spatial_dims](ch[i], ch[i - 1], kernel_size=2, stride=2))
            self.gates.append(AttentionBlock(spatial_dims, f_int=max(ch[i - 1] // 2, 1), f_g=ch[i - 1],
                                             f_l=ch[i - 1]) if attention_gates else nn.Identity())
            self.dec.append(_CBAMStage(spatial_dims, 2 * ch[i - 1], ch[i - 1], 1, norm, dropout))
        self.out = Conv[Conv.CONV, spatial_dims](ch[0], out_channels, kernel_size=1)
        self.attention_gates = attention_gates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for up, gate, dec in zip(self.up, self.gates, self.dec):
            x = up(x)
            skip = skips.pop()
            if self.attention_gates:
                skip = gate(g=x, x=skip)
            x = dec(torch.cat([x, skip], dim=1))
        return self.out(x)


class _VStage(nn.Module):
    def __init__(self, spatial_dims: int, cin: int, cout: int, n_convs: int, k: int, reduction: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[
            _vconv(spatial_dims, cin if j == 0 else cout, cout, k) for j in range(n_convs)])
        self.se = ChannelSELayer(spatial_dims, cout, r=reduction)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.convs(x)) + residual)


def _vconv(spatial_dims: int, cin: int, cout: int, k: int) -> nn.Module:
    return conv_block(spatial_dims, cin, cout, k, norm="batch", act=("prelu", {"num_parameters": cout}))


class SEVNet(nn.Module):
    """V-Net with a squeeze-and-excitation block closing every stage (see module docstring).

    Parameters
    ----------
    spatial_dims : int
        3 for CT (as in the lung-metastasis study); 2 also works.
    in_channels, out_channels : int
    channels : sequence of int
        Channels per level (16, 32, 64, 128, 256 as in V-Net).
    n_convs : sequence of int
        Convolutions per down stage below the input level (1, 2, 3, 3 ... ); the up stages
        mirror them.
    kernel_size : int
        5 (V-Net) or 3.
    reduction : int
        SE squeeze ratio.
    """

    def __init__(self, spatial_dims: int = 3, in_channels: int = 1, out_channels: int = 1,
                 channels: Sequence[int] = (16, 32, 64, 128, 256), n_convs: Sequence[int] | None = None,
                 kernel_size: int = 5, reduction: int = 4) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        levels = len(ch) - 1
        n = list(n_convs) if n_convs is not None else [min(i + 1, 3) for i in range(levels)]
        if len(n) != levels:
            raise ValueError(f"n_convs needs {levels} values for channels {channels}, got {n}")
        conv, convt = Conv[Conv.CONV, spatial_dims], Conv[Conv.CONVTRANS, spatial_dims]
        self.inp = _vconv(spatial_dims, in_channels, ch[0], kernel_size)
        self.inp_proj = conv(in_channels, ch[0], kernel_size=1)
        self.downs = nn.ModuleList([conv(ch[i], ch[i + 1], kernel_size=2, stride=2) for i in range(levels)])
        self.down_stages = nn.ModuleList([_VStage(spatial_dims, ch[i + 1], ch[i + 1], n[i], kernel_size, reduction)
                                          for i in range(levels)])
        self.ups = nn.ModuleList([convt(ch[i + 1], ch[i], kernel_size=2, stride=2)
                                  for i in range(levels - 1, -1, -1)])
        self.up_stages = nn.ModuleList([_VStage(spatial_dims, 2 * ch[i], ch[i], max(n[i] if i < levels else 1, 1),
                                                kernel_size, reduction) for i in range(levels - 1, -1, -1)])
        self.out = conv(ch[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x) + self.inp_proj(x)
        skips = [x]
        for down, stage in zip(self.downs, self.down_stages):
            d = down(x)
            x = stage(d, d)
            skips.append(x)
        skips.pop()
        for up, stage in zip(self.ups, self.up_stages):
            u = up(x)
            x = stage(torch.cat([u, skips.pop()], dim=1), u)
        return self.out(x)
