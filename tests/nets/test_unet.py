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
