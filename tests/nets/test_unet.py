"""U-Net: shapes in 2D/3D, probabilistic head, identity start, receptive field vs halo."""

import numpy as np
import pytest
import torch

from fluorecon.nets.unet import UNetConfig, build_network


@pytest.mark.parametrize("ndim,shape", [(2, (32, 48)), (3, (8, 16, 24))])
@pytest.mark.parametrize("probabilistic", [False, True])
def test_output_shapes(ndim, shape, probabilistic):
    cfg = UNetConfig(ndim=ndim, depth=2, filters=4, probabilistic=probabilistic)
    net = build_network(cfg)
    torch.manual_seed(0)
    for p in net.head.parameters():  # away from the zero start, so the scale varies
        torch.nn.init.normal_(p)
    y = net(torch.randn(2, 1, *shape))
    assert y.shape == (2, 2 if probabilistic else 1, *shape)
    assert y.dtype == torch.float32
    if probabilistic:
        assert torch.all(y[:, 1:] > 0)
    assert cfg.multiple == 4


def test_residual_network_starts_as_identity():
    net = build_network(UNetConfig(ndim=2, depth=1, filters=4))
    x = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(net(x), x)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_halo_covers_the_measured_receptive_field(depth):
    cfg = UNetConfig(ndim=2, depth=depth, filters=2, residual=False)
    torch.manual_seed(0)
    net = build_network(cfg)
    size = 2 * cfg.halo() + 4 * cfg.multiple
    reach = 0
    for offset in range(cfg.multiple):  # every position on the pooling grid
        x = torch.zeros(1, 1, size, size, requires_grad=True)
        c = size // 2 + offset
        net(x)[0, 0, c, c].backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1))[:, 0]
        reach = max(reach, int(c - rows.min()), int(rows.max() - c))
    assert reach <= cfg.halo() and cfg.halo() % cfg.multiple == 0
    assert reach <= (cfg.receptive_field() - 1) // 2


def test_bad_configs():
    with pytest.raises(ValueError, match="channels"):
        build_network(UNetConfig(channels_in=2, channels_out=1, residual=True))
    with pytest.raises(ValueError, match="odd"):
        build_network(UNetConfig(kernel_size=4))
    with pytest.raises(ValueError):
        UNetConfig(depth=0)
    with pytest.raises(ValueError):
        UNetConfig(filter=8)


def test_n2v2_switches_blurpool_and_no_top_skip():
    """N2V2 (Höck et al. 2022): max-blur-pool instead of max pooling, no top-level skip connection.
    The default network is unchanged (max pooling, top skip, no extra buffers or weights)."""
    from torch.nn import functional as F

    from fluorecon.nets.unet import MaxBlurPool

    default = build_network(UNetConfig(ndim=2, depth=2, filters=4, residual=False))
    n2v2 = build_network(UNetConfig(ndim=2, depth=2, filters=4, residual=False, pooling="blurpool", skip_top=False))
    assert default.blurpool is None and [type(m) for m in n2v2.blurpool] == [MaxBlurPool, MaxBlurPool]
    assert [m.channels for m in n2v2.blurpool] == [4, 8]
    assert default.up[-1][0].in_channels == 8 + 4 and n2v2.up[-1][0].in_channels == 8  # top skip dropped
    assert default.up[0][0].in_channels == n2v2.up[0][0].in_channels == 16 + 8  # deeper skips kept
    assert not any("kernel" in k for k in list(default.state_dict()) + list(n2v2.state_dict()))
    # Max over 2 at stride 1, then the binomial [1, 2, 1]/4 blur at stride 2 (zero padding 1), per channel.
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    m = F.pad(F.max_pool2d(x, 2, stride=1), (1, 1, 1, 1)).numpy()
    w = np.array([1.0, 2.0, 1.0]) / 4
    expected = np.zeros((2, 3, 4, 6))
    for i in range(4):
        for j in range(6):
            expected[..., i, j] = np.einsum("bcyx,y,x->bc", m[..., 2 * i:2 * i + 3, 2 * j:2 * j + 3], w, w)
    np.testing.assert_allclose(MaxBlurPool(2, 3)(x).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_n2v2_network_shapes_and_halo(ndim):
    cfg = UNetConfig(ndim=ndim, depth=2, filters=2, residual=False, pooling="blurpool", skip_top=False)
    torch.manual_seed(0)
    net = build_network(cfg)
    shape = (8, 16, 24) if ndim == 3 else (32, 48)
    assert net(torch.randn(1, 1, *shape)).shape == (1, 1, *shape)
    if ndim == 2:  # receptive field measured by gradients stays inside the (larger) halo
        size = 2 * cfg.halo() + 4 * cfg.multiple
        reach = 0
        for offset in range(cfg.multiple):
            x = torch.zeros(1, 1, size, size, requires_grad=True)
            c = size // 2 + offset
            net(x)[0, 0, c, c].backward()
            rows = torch.nonzero(x.grad[0, 0].abs().sum(1))[:, 0]
            reach = max(reach, int(c - rows.min()), int(rows.max() - c))
        assert reach == (cfg.receptive_field() - 1) // 2 and reach <= cfg.halo()
        assert cfg.halo() > UNetConfig(ndim=2, depth=2, filters=2).halo()
