"""Training loop: target-to-input mapping, normalization, and a tiny model that really learns."""

import numpy as np
import pytest
import torch

from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.denoise.learned import DenoiseSimulation, simulate_pairs
from fluorecon.train import TrainConfig, loss_fn, match_to_input, normalize_pair, predict_torch, train_network


def test_match_to_input_recovers_gain_and_offset():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    noisy = 37.0 * clean + 101.0 + rng.normal(0, 2, clean.shape)
    a, b = match_to_input(clean, noisy)
    assert a == pytest.approx(37.0, rel=0.02) and b == pytest.approx(101.0, abs=0.5)


def test_normalize_pair_uses_the_inputs_percentiles():
    rng = np.random.default_rng(1)
    clean = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    noisy = (10 * clean + 100 + rng.normal(0, 0.5, clean.shape)).astype(np.float32)
    x, y = normalize_pair(noisy, clean)
    lo, hi = np.percentile(noisy, [1, 99.8])
    np.testing.assert_allclose(x, (noisy - lo) / (hi - lo), atol=1e-5)
    # the target lands on the input's noise-free values in normalized units
    np.testing.assert_allclose(y, (10 * clean + 100 - lo) / (hi - lo), atol=0.02)
    with pytest.raises(ValueError, match="shapes differ"):
        normalize_pair(noisy, clean[:10])


def test_laplace_loss_needs_a_probabilistic_net():
    with pytest.raises(ValueError, match="probabilistic"):
        loss_fn("laplace", torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    out = torch.cat([torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)], 1)
    assert float(loss_fn("laplace", out, torch.ones(1, 1, 4, 4))) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def pairs():
    sim = DenoiseSimulation(ndim=2, n_images=4, shape=(96, 96), photons_low=10, seed=3)
    return [normalize_pair(p.low, p.high) for p in simulate_pairs(sim)]


def test_tiny_model_learns_to_denoise(pairs):
    torch.manual_seed(0)
    net = build_network(UNetConfig(ndim=2, depth=1, filters=8))
    result = train_network(net, pairs[:3], TrainConfig(steps=60, batch_size=8, patch_size=(32, 32), lr=3e-3),
                           progress=False)
    first, last = result.smoothed(10)
    assert last < 0.8 * first
    x, y = pairs[3]
    assert psnr(predict_torch(net, x), y) > psnr(x, y) + 3


def test_probabilistic_training_runs_and_is_seeded(pairs):
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        net = build_network(UNetConfig(ndim=2, depth=1, filters=4, probabilistic=True))
        cfg = TrainConfig(steps=5, batch_size=2, patch_size=(32, 32), loss="laplace", seed=5)
        losses.append(train_network(net, pairs[:2], cfg, progress=False).losses)
    assert losses[0] == losses[1] and all(np.isfinite(losses[0]))


def test_patch_larger_than_image_is_refused(pairs):
    net = build_network(UNetConfig(ndim=2, depth=1, filters=4))
    with pytest.raises(ValueError, match="patch_size"):
        train_network(net, pairs[:1], TrainConfig(steps=1, patch_size=(128, 128)), progress=False)


def test_channels_last_training_matches_the_default_layout_and_ends_in_it():
    """fit_batches(layout_ndim=3) trains in channels_last_3d on the CPU (oneDNN's fast path): the same losses
    and weights as the default layout, and the network is handed back in the default layout (export)."""
    from fluorecon.train import cpu_layout, fit_batches

    assert cpu_layout(3, torch.device("cpu")) == torch.channels_last_3d
    assert cpu_layout(2, torch.device("cpu")) == torch.channels_last
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 8, 16, 16), dtype=np.float32)
    config = TrainConfig(steps=3, batch_size=2, patch_size=(8, 16, 16), device="cpu")
    runs = []
    for layout_ndim in (None, 3):
        torch.manual_seed(0)
        net = build_network(UNetConfig(ndim=3, depth=1, filters=4, residual=False))
        losses = fit_batches(net, config, lambda _: (x, x), loss=lambda out, yb: loss_fn("l2", out, yb),
                             progress=False, layout_ndim=layout_ndim)
        assert all(p.is_contiguous() for p in net.parameters())
        runs.append((losses, [p.detach().clone() for p in net.parameters()]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-4)
    for a, b in zip(runs[0][1], runs[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
