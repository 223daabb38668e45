"""AlexNet-style, Inception-v3-style and a small plain CNN, written with MONAI blocks.

These replace torchvision's models (which do not run with this torch) for the comparison
of five 2D classifiers of Ni et al., Gland Surg 2024 (ultrasound, lymph-node metastasis).
Grey-scale input (1 channel) by default; every width is an argument.

AlexNet-style (Krizhevsky et al., NIPS 2012; torchvision layout)::

    conv 11x11 /4, 64 -> ReLU -> max-pool 3 /2
    conv 5x5, 192     -> ReLU -> max-pool 3 /2
    conv 3x3, 384 -> ReLU -> conv 3x3, 256 -> ReLU -> conv 3x3, 256 -> ReLU -> max-pool 3 /2
    adaptive average pool 6x6 -> dropout -> FC 4096 -> ReLU -> dropout -> FC 4096 -> ReLU -> FC

  Inputs of at least 64 x 64 pixels. ``batch_norm=True`` adds BN after every conv.

Inception-v3-style (Szegedy et al., CVPR 2016), a reduced v3 with "same" padding so it
accepts inputs from 32 x 32 pixels::

    stem   conv 3x3 /2, 32 -> conv 3x3, 32 -> conv 3x3, 64 -> max-pool 3 /2
           -> conv 1x1, 80 -> conv 3x3, 192 -> max-pool 3 /2
    2 x Inception-A   (1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1)
    Reduction-B       (3x3 /2 | 1x1 -> 3x3 -> 3x3 /2 | max-pool /2)
    2 x Inception-C   factorised 7x7: (1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7
                      | avg-pool -> 1x1)
    global average pool -> dropout -> FC

  Every conv is conv -> BN -> ReLU. Widths scale with ``width`` (1.0 = v3's widths up to
  the 768-channel Inception-C stage). Omitted from v3: the Inception-E blocks and the
  auxiliary classifier.

Plain CNN (``cnn``): ``len(channels)`` blocks of conv 3x3 /2 -> BN -> ReLU, global
average pool, FC: a fast baseline for small studies and tests.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from monai.networks.layers.factories import Pool
from torch import nn

from thyromics.deep.nets._blocks import conv_block

__all__ = ["AlexNet", "InceptionV3Style", "PlainCNN"]


class AlexNet(nn.Module):
    """AlexNet-style classifier (layer table in the module docstring)."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2,
                 channels: Sequence[int] = (64, 192, 384, 256, 256), fc_features: int = 4096,
                 dropout: float = 0.5, batch_norm: bool = False) -> None:
        super().__init__()
        norm = "batch" if batch_norm else None
        c = [int(v) for v in channels]
        maxpool = Pool[Pool.MAX, spatial_dims]
        self.features = nn.Sequential(OrderedDict([
            ("conv1", conv_block(spatial_dims, in_channels, c[0], 11, strides=4, norm=norm, padding=2)),
            ("pool1", maxpool(kernel_size=3, stride=2)),
            ("conv2", conv_block(spatial_dims, c[0], c[1], 5, norm=norm)),
            ("pool2", maxpool(kernel_size=3, stride=2)),
            ("conv3", conv_block(spatial_dims, c[1], c[2], 3, norm=norm)),
            ("conv4", conv_block(spatial_dims, c[2], c[3], 3, norm=norm)),
            ("conv5", conv_block(spatial_dims, c[3], c[4], 3, norm=norm)),
            ("pool5", maxpool(kernel_size=3, stride=2, ceil_mode=True)),
        ]))
        self.avgpool = Pool[Pool.ADAPTIVEAVG, spatial_dims](6)
        flat = c[4] * 6 ** spatial_dims
        self.classifier = nn.Sequential(OrderedDict([
            ("drop1", nn.Dropout(dropout)), ("fc1", nn.Linear(flat, fc_features)), ("relu1", nn.ReLU()),
            ("drop2", nn.Dropout(dropout)), ("fc2", nn.Linear(fc_features, fc_features)), ("relu2", nn.ReLU()),
            ("out", nn.Linear(fc_features, out_channels)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class _InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int, w: float) -> None:
        super().__init__()
        s = lambda n: max(4, int(round(n * w)))  # noqa: E731
        self.b1 = conv_block(2, cin, s(64), 1)
        self.b5 = nn.Sequential(conv_block(2, cin, s(48), 1), conv_block(2, s(48), s(64), 5))
        self.b3 = nn.Sequential(conv_block(2, cin, s(64), 1), conv_block(2, s(64), s(96), 3),
                                conv_block(2, s(96), s(96), 3))
        self.bp = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv_block(2, cin, pool_features, 1))
        self.out_channels = s(64) + s(64) + s(96) + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), self.bp(x)], 1)


class _ReductionB(nn.Module):
    def __init__(self, cin: int, w: float) -> None:
        super().__init__()
        s = lambda n: max(4, int(round(n * w)))  # noqa: E731
        self.b3 = conv_block(2, cin, s(384), 3, strides=2)
        self.b3d = nn.Sequential(conv_block(2, cin, s(64), 1), conv_block(2, s(64), s(96), 3),
                                 conv_block(2, s(96), s(96), 3, strides=2))
        self.bp = nn.MaxPool2d(3, stride=2, padding=1)
        self.out_channels = s(384) + s(96) + cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b3d(x), self.bp(x)], 1)


class _InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int, w: float) -> None:
        super().__init__()
        s = lambda n: max(4, int(round(n * w)))  # noqa: E731
        c7, o = s(c7), s(192)
        k17, k71 = (1, 7), (7, 1)
        self.b1 = conv_block(2, cin, o, 1)
        self.b7 = nn.Sequential(conv_block(2, cin, c7, 1), conv_block(2, c7, c7, k17, padding=(0, 3)),
                                conv_block(2, c7, o, k71, padding=(3, 0)))
        self.b77 = nn.Sequential(conv_block(2, cin, c7, 1), conv_block(2, c7, c7, k71, padding=(3, 0)),
                                 conv_block(2, c7, c7, k17, padding=(0, 3)),
                                 conv_block(2, c7, c7, k71, padding=(3, 0)),
                                 conv_block(2, c7, o, k17, padding=(0, 3)))
        self.bp = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv_block(2, cin, o, 1))
        self.out_channels = 4 * o

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b7(x), self.b77(x), self.bp(x)], 1)


class InceptionV3Style(nn.Module):
    """Reduced Inception-v3 for 2D images (layer table in the module docstring).

    Parameters
    ----------
    width : float
        Multiplier of every branch width (1.0 = Inception v3's).
    dropout : float
        Dropout before the fully connected layer (v3: 0.5).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2,
                 width: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError("the Inception-v3-style network is 2D only")
        s = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.stem = nn.Sequential(OrderedDict([
            ("conv1", conv_block(2, in_channels, s(32), 3, strides=2)),
            ("conv2", conv_block(2, s(32), s(32), 3)),
            ("conv3", conv_block(2, s(32), s(64), 3)),
            ("pool1", nn.MaxPool2d(3, stride=2, padding=1)),
            ("conv4", conv_block(2, s(64), s(80), 1)),
            ("conv5", conv_block(2, s(80), s(192), 3)),
            ("pool2", nn.MaxPool2d(3, stride=2, padding=1)),
        ]))
        a1 = _InceptionA(s(192), s(32), width)
        a2 = _InceptionA(a1.out_channels, s(64), width)
        rb = _ReductionB(a2.out_channels, width)
        c1 = _InceptionC(rb.out_channels, 128, width)
        c2 = _InceptionC(c1.out_channels, 160, width)
        self.blocks = nn.Sequential(OrderedDict([("mixed_a1", a1), ("mixed_a2", a2), ("reduction_b", rb),
                                                 ("mixed_c1", c1), ("mixed_c2", c2)]))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c2.out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x))).flatten(1)
        return self.fc(self.dropout(x))


class PlainCNN(nn.Module):
    """Small plain CNN: strided conv blocks, global average pool, FC."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2,
                 channels: Sequence[int] = (16, 32, 64), dropout: float = 0.0) -> None:
        super().__init__()
        layers, cin = OrderedDict(), in_channels
        for i, c in enumerate(channels):
            layers[f"conv{i + 1}"] = conv_block(spatial_dims, cin, int(c), 3, strides=2)
            cin = int(c)
        self.features = nn.Sequential(layers)
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.features(x)).flatten(1)))
