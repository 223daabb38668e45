"""The network registry: every network the deep stage can build, by name.

``build_network("densenet121", spatial_dims=2, in_channels=1, out_channels=2,
img_size=(224, 224))``. Each entry records the task (``classify`` or ``segment``), the
spatial dimensions it supports, the module whose *input* is the penultimate-layer
activation (deep features) and the layer Grad-CAM reads (the last convolutional stage).

========================  =========  ======  ==========================================
name                      task       dims    source
========================  =========  ======  ==========================================
``cnn``                   classify   2, 3    :class:`classic.PlainCNN` (small baseline)
``alexnet``               classify   2, 3    :class:`classic.AlexNet`
``densenet121``           classify   2, 3    ``monai.networks.nets.DenseNet121``
``resnet50``              classify   2, 3    ``monai.networks.nets.ResNet`` (bottleneck 3-4-6-3)
``vit``                   classify   2, 3    :class:`vit.ViTClassifier` (MONAI patch embedding)
``inception_v3``          classify   2       :class:`classic.InceptionV3Style`
``se_resnet``             classify   2, 3    :class:`seresnet.SEResNet` (lung-metastasis study)
``cbam_unet``             segment    2, 3    :class:`segnets.CBAMUNet`
``se_vnet``               segment    2, 3    :class:`segnets.SEVNet`
========================  =========  ======  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Sequence

from torch import nn

from thyromics.errors import InputError, did_you_mean

__all__ = ["NetworkSpec", "NETWORKS", "get_spec", "build_network", "penultimate_module", "cam_layer"]


@dataclass(frozen=True)
class NetworkSpec:
    """One registry entry.

    Attributes
    ----------
    name : str
    task : str
        ``"classify"`` or ``"segment"``.
    dims : tuple of int
        Supported spatial dimensions.
    build : callable
        ``build(spatial_dims, in_channels, out_channels, img_size, **options) -> nn.Module``.
    head : str or None
        Dotted name of the final fully connected layer; its input is the deep feature
        vector.
    cam_layer : str or None
        Dotted name of the Grad-CAM target layer (``None``: Grad-CAM is not defined).
    description : str
    """

    name: str
    task: str
    dims: tuple[int, ...]
    build: Callable[..., nn.Module]
    head: str | None
    cam_layer: str | None
    description: str


def _ours(module: str, cls: str) -> Callable[..., nn.Module]:
    """The builder of ``thyromics.deep.nets.<module>.<cls>(d, cin, cout, **kw)``; the module
    is imported when a network is built, not with the registry."""

    def build(d: int, cin: int, cout: int, img_size: Any, **kw: Any) -> nn.Module:
        return getattr(import_module(f"thyromics.deep.nets.{module}"), cls)(d, cin, cout, **kw)

    return build


def _densenet121(d: int, cin: int, cout: int, img_size: Any, **kw: Any) -> nn.Module:
    from monai.networks.nets import DenseNet121
    return DenseNet121(spatial_dims=d, in_channels=cin, out_channels=cout, pretrained=False, **kw)


def _resnet50(d: int, cin: int, cout: int, img_size: Any, **kw: Any) -> nn.Module:
    from monai.networks.nets import ResNet
    from monai.networks.nets.resnet import get_inplanes
    opts = {"conv1_t_size": 7, "conv1_t_stride": 2} | kw
    return ResNet("bottleneck", [3, 4, 6, 3], get_inplanes(), spatial_dims=d, n_input_channels=cin,
                  num_classes=cout, **opts)


def _vit(d: int, cin: int, cout: int, img_size: Any, **kw: Any) -> nn.Module:
    from thyromics.deep.nets.vit import ViTClassifier
    if img_size is None:
        raise InputError("the ViT needs img_size (the input size, e.g. (224, 224))")
    return ViTClassifier(d, cin, cout, img_size=img_size, **kw)


NETWORKS: dict[str, NetworkSpec] = {s.name: s for s in [
    NetworkSpec("cnn", "classify", (2, 3), _ours("classic", "PlainCNN"), "fc", "features",
                "small plain CNN"),
    NetworkSpec("alexnet", "classify", (2, 3), _ours("classic", "AlexNet"), "classifier.out",
                "features.conv5", "AlexNet-style, MONAI blocks"),
    NetworkSpec("densenet121", "classify", (2, 3), _densenet121, "class_layers.out", "class_layers.relu",
                "MONAI DenseNet121"),
    NetworkSpec("resnet50", "classify", (2, 3), _resnet50, "fc", "layer4", "MONAI ResNet-50"),
    NetworkSpec("vit", "classify", (2, 3), _vit, "head", None,
                "ViT: MONAI patch embedding + torch transformer (no convolution: no Grad-CAM)"),
    NetworkSpec("inception_v3", "classify", (2,), _ours("classic", "InceptionV3Style"), "fc",
                "blocks.mixed_c2", "reduced Inception-v3, MONAI blocks"),
    NetworkSpec("se_resnet", "classify", (2, 3), _ours("seresnet", "SEResNet"), "fc",
                "layers.3.act", "SE-ResNet of the chest-CT lung-metastasis study (Frontiers 2024)"),
    NetworkSpec("cbam_unet", "segment", (2, 3), _ours("segnets", "CBAMUNet"), None, None,
                "attention U-Net with CBAM"),
    NetworkSpec("se_vnet", "segment", (2, 3), _ours("segnets", "SEVNet"), None, None,
                "V-Net with SE blocks"),
]}


def get_spec(name: str, task: str | None = None) -> NetworkSpec:
    """The registry entry of ``name``; unknown names raise with the closest valid ones."""
    valid = sorted(k for k, s in NETWORKS.items() if task is None or s.task == task)
    if name not in valid:
        hint = did_you_mean(name, valid, n=3, cutoff=0.4)
        kind = f" {task}" if task else ""
        raise InputError(f"unknown{kind} network {name!r}.{hint} Valid names: {', '.join(valid)}")
    return NETWORKS[name]


def build_network(name: str, *, spatial_dims: int, in_channels: int = 1, out_channels: int = 2,
                  img_size: Sequence[int] | None = None, task: str | None = None,
                  **options: Any) -> nn.Module:
    """Build a registered network.

    Parameters
    ----------
    name : str
        A key of :data:`NETWORKS`.
    spatial_dims : int
        2 or 3.
    in_channels : int
        Image channels (1 for grey-scale ultrasound and CT).
    out_channels : int
        Classes (classifiers: logits of every class) or segmentation channels.
    img_size : sequence of int, optional
        Input size, numpy order; needed by the ViT only.
    task : str, optional
        Restrict the lookup to ``"classify"`` or ``"segment"`` networks.
    **options
        Constructor arguments of the network (widths, dropout ...).
    """
    spec = get_spec(name, task)
    if spatial_dims not in spec.dims:
        raise InputError(f"network {name!r} supports spatial_dims {spec.dims}, got {spatial_dims}")
    try:
        return spec.build(spatial_dims, in_channels, out_channels,
                          tuple(img_size) if img_size is not None else None, **options)
    except TypeError as e:
        raise InputError(f"bad options {sorted(options)} for network {name!r}: {e}") from e


def _get(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def penultimate_module(model: nn.Module, name: str) -> nn.Module:
    """The final fully connected layer of a registered classifier (deep features = its input)."""
    spec = get_spec(name)
    if spec.head is None:
        raise InputError(f"network {name!r} is a {spec.task} network without a classification head")
    return _get(model, spec.head)


def cam_layer(name: str) -> str:
    """The Grad-CAM target layer name of a registered classifier."""
    spec = get_spec(name)
    if spec.cam_layer is None:
        raise InputError(f"Grad-CAM is not defined for network {name!r} ({spec.description}); "
                         f"use one of {sorted(k for k, s in NETWORKS.items() if s.cam_layer)}")
    return spec.cam_layer
