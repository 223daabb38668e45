"""Shape tables and architecture checks for every registered network."""

from __future__ import annotations

import pytest

from conftest import need_module  # noqa: E402
torch = need_module("torch")
need_module("monai")

from thyromics.deep.nets import NETWORKS, build_network, cam_layer, get_spec, penultimate_module  # noqa: E402
from thyromics.deep.nets import classic, segnets, seresnet  # noqa: E402
from thyromics.errors import InputError  # noqa: E402

SMALL = {
    "cnn": {"channels": (4, 8)},
    "alexnet": {"channels": (8, 16, 16, 16, 16), "fc_features": 32},
    "densenet121": {"init_features": 8, "growth_rate": 4, "block_config": (2, 2, 2, 2)},
    "resnet50": {"widen_factor": 0.125},
    "vit": {"hidden_size": 32, "mlp_dim": 64, "num_layers": 1, "num_heads": 2, "patch_size": 8},
    "inception_v3": {"width": 0.125},
    "se_resnet": {"stem_channels": 8, "channels": (8, 16, 16, 32)},
    "cbam_unet": {"channels": (4, 8, 16)},
    "se_vnet": {"channels": (4, 8, 16), "kernel_size": 3},
}

# (network, spatial_dims, input size (numpy order))
CLASSIFY_CASES = [
    ("cnn", 2, (16, 16)), ("cnn", 2, (33, 47)), ("cnn", 3, (8, 16, 16)),
    ("alexnet", 2, (64, 64)), ("alexnet", 2, (96, 128)),
    ("densenet121", 2, (32, 32)), ("densenet121", 2, (64, 48)), ("densenet121", 3, (32, 32, 32)),
    ("resnet50", 2, (32, 32)), ("resnet50", 2, (64, 96)), ("resnet50", 3, (16, 32, 32)),
    ("vit", 2, (32, 32)), ("vit", 2, (64, 32)), ("vit", 3, (16, 16, 16)),
    ("inception_v3", 2, (32, 32)), ("inception_v3", 2, (75, 90)),
    ("se_resnet", 3, (32, 48, 48)), ("se_resnet", 3, (8, 8, 8)), ("se_resnet", 3, (17, 20, 23)),
    ("se_resnet", 2, (48, 48)),
]
SEGMENT_CASES = [
    ("cbam_unet", 2, (32, 32)), ("cbam_unet", 2, (64, 48)), ("cbam_unet", 3, (16, 16, 16)),
    ("se_vnet", 3, (16, 32, 32)), ("se_vnet", 3, (32, 48, 48)), ("se_vnet", 2, (32, 64)),
]


def test_registry_covers_the_shape_tables():
    assert {c[0] for c in CLASSIFY_CASES} | {c[0] for c in SEGMENT_CASES} == set(NETWORKS)


@pytest.mark.parametrize("name, cls", [
    ("cnn", classic.PlainCNN), ("alexnet", classic.AlexNet),
    ("inception_v3", classic.InceptionV3Style), ("se_resnet", seresnet.SEResNet),
    ("cbam_unet", segnets.CBAMUNet), ("se_vnet", segnets.SEVNet),
])
def test_our_networks_are_the_classes_the_registry_names(name, cls):
    net = build_network(name, spatial_dims=2, in_channels=1, out_channels=3, img_size=(32, 32),
                        **SMALL[name])
    assert type(net) is cls
    # the options reach the constructor, and a wrong one is refused by name
    with pytest.raises(InputError, match=f"bad options \\['no_such_option'\\] for network '{name}'"):
        build_network(name, spatial_dims=2, no_such_option=1)


@pytest.mark.parametrize("name,dims,size", CLASSIFY_CASES)
def test_classifier_shapes(name, dims, size):
    torch.manual_seed(0)
    net = build_network(name, spatial_dims=dims, in_channels=1, out_channels=3, img_size=size,
                        **SMALL[name]).eval()
    x = torch.rand(2, 1, *size)
    with torch.no_grad():
        y = net(x)
    assert tuple(y.shape) == (2, 3)
    assert torch.isfinite(y).all()
    # the penultimate layer is a Linear whose output is the logits
    head = penultimate_module(net, name)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 3


@pytest.mark.parametrize("name,dims,size", SEGMENT_CASES)
def test_segmenter_shapes(name, dims, size):
    net = build_network(name, spatial_dims=dims, in_channels=1, out_channels=2, **SMALL[name]).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 1, *size))
    assert tuple(y.shape) == (1, 2, *size)


@pytest.mark.slow
def test_default_widths_at_seed_input_sizes():
    """The default (seed) configurations run on their intended inputs."""
    with torch.no_grad():
        net = build_network("inception_v3", spatial_dims=2, img_size=(224, 224)).eval()
        assert tuple(net(torch.rand(1, 1, 224, 224)).shape) == (1, 2)
        net = build_network("alexnet", spatial_dims=2).eval()
        assert tuple(net(torch.rand(1, 1, 224, 224)).shape) == (1, 2)


def _expected_se_resnet_params(cin=1, stem=64, channels=(64, 128, 256, 512), r=4, classes=2, k=27):
    """Hand count: conv (with bias) + BN (weight, bias) per conv; SE = two Linear with bias."""
    conv = lambda a, b, kk: a * b * kk + b + 2 * b  # noqa: E731
    n = conv(cin, stem, k)
    c_prev = stem
    for c in channels:
        n += conv(c_prev, c, k) + conv(c, c, k)
        n += c * (c // r) + c // r + (c // r) * c + c
        if c_prev != c:
            n += conv(c_prev, c, 1)
        c_prev = c
    return n + c_prev * classes + classes


def test_se_resnet_matches_the_seed_description():
    net = build_network("se_resnet", spatial_dims=3).eval()
    assert sum(p.numel() for p in net.parameters()) == _expected_se_resnet_params()
    shapes = []
    hooks = [stage.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for stage in net.layers]
    with torch.no_grad():
        net(torch.rand(1, 1, 32, 48, 48))
    for h in hooks:
        h.remove()
    assert shapes == [(64, 16, 24, 24), (128, 8, 12, 12), (256, 4, 6, 6), (512, 2, 3, 3)]
    assert net.stem.conv.out_channels == 64
    for stage, c in zip(net.layers, (64, 128, 256, 512)):
        assert stage.conv1.conv.kernel_size == (3, 3, 3) and stage.conv2.conv.kernel_size == (3, 3, 3)
        linears = [m for m in stage.se.modules() if isinstance(m, torch.nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [(c, c // 4), (c // 4, c)]


def test_cbam_attention_is_the_seeds():
    """Channel attention = sigmoid(1x1 conv(GAP)); spatial = sigmoid(5x5 conv([mean, max]))."""
    from thyromics.deep.nets._blocks import ChannelAttention, SpatialAttention

    torch.manual_seed(1)
    x = torch.randn(2, 3, 6, 7)
    ca = ChannelAttention(2, 3)
    w, b = ca.fc.weight[:, :, 0, 0], ca.fc.bias
    gap = x.mean(dim=(2, 3))
    expected = x * torch.sigmoid(gap @ w.T + b)[:, :, None, None]
    assert torch.allclose(ca(x), expected, atol=1e-6)
    sa = SpatialAttention(2, 5)
    assert sa.conv.bias is None and sa.conv.kernel_size == (5, 5)
    s = torch.stack([x.mean(1), x.amax(1)], 1)
    ref = torch.nn.functional.conv2d(s, sa.conv.weight, padding=2)
    assert torch.allclose(sa(x), x * torch.sigmoid(ref), atol=1e-6)


def test_unknown_network_suggests_close_names():
    with pytest.raises(InputError, match="densenet121"):
        get_spec("densenet")
    with pytest.raises(InputError, match="se_resnet"):
        build_network("seresnet", spatial_dims=3)
    with pytest.raises(InputError, match="spatial_dims"):
        build_network("inception_v3", spatial_dims=3)
    with pytest.raises(InputError, match="bad options"):
        build_network("cnn", spatial_dims=2, nonsense=1)
    with pytest.raises(InputError, match="Grad-CAM"):
        cam_layer("vit")
