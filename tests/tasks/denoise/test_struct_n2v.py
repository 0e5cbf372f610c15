"""structN2V (Broaddus et al., ISBI 2020) on noise correlated along one axis: plain Noise2Void predicts each blind
spot from its correlated neighbours and so reproduces the noise; hiding the neighbours along that axis
(``struct_n2v_axis``) removes it. Seeded and tiny (4 × 64² images, 200 steps, 4 filters, one thread)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from fluorecon.imaging.phantoms import phantom
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.denoise.job import TrainDenoiseSpec, _train_config
from fluorecon.tasks.denoise.selfsupervised import train_blind_spot
from fluorecon.tasks.denoise.spec import DenoiseConfig, MaskingConfig, struct_masking
from fluorecon.train import TrainConfig


@pytest.fixture(scope="module")
def striped():
    """Smooth specimens (0–1) + noise correlated along X (white noise summed over 5 px of a row, σ 0.3)."""
    rng = np.random.default_rng(0)
    clean = [ndimage.gaussian_filter(phantom((64, 64), kind="nuclei", seed=s), 2.0) for s in range(4)]
    clean = [((c - c.min()) / np.ptp(c)).astype(np.float32) for c in clean]
    noise = [0.3 * ndimage.convolve1d(rng.normal(size=c.shape), np.ones(5) / np.sqrt(5), axis=-1, mode="wrap")
             for c in clean]
    return clean, [(c + n).astype(np.float32) for c, n in zip(clean, noise)], noise


def _denoise(noisy, masking: MaskingConfig, seed: int = 0, steps: int = 200) -> list[np.ndarray]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic and quick on a shared machine
    try:
        torch.manual_seed(seed)  # the initial weights too, whatever ran before
        net = build_network(UNetConfig(ndim=2, depth=2, filters=4, residual=False))
        cfg = TrainConfig(steps=steps, batch_size=4, patch_size=(32, 32), lr=5e-3, seed=seed, device="cpu", augment=False,
                          loss="l2")
        train_blind_spot(net, noisy, cfg, method="n2v", masking=masking, progress=False)
        with torch.no_grad():
            return [net.eval()(torch.from_numpy(x)[None, None]).numpy()[0, 0] for x in noisy]
    finally:
        torch.set_num_threads(threads)


def test_struct_n2v_removes_noise_that_plain_n2v_reproduces(striped):
    clean, noisy, noise = striped
    results = {}
    for label, masking in (("n2v", struct_masking("none", 5)), ("struct", struct_masking("horizontal", 9))):
        out = _denoise(noisy, masking)
        residual = np.concatenate([o - c for o, c in zip(out, clean)]).ravel()
        results[label] = (float(np.mean([psnr(o, c, data_range=1.0) for o, c in zip(out, clean)])),
                          float(np.corrcoef(residual, np.concatenate(noise).ravel())[0, 1]))
    (p_n2v, c_n2v), (p_struct, c_struct) = results["n2v"], results["struct"]
    # measured (seed 0): plain N2V 11.6 dB, its error correlates 0.86 with the noise; structN2V 22.3 dB, 0.39.
    # Seeds 1 and 2: N2V 17.8 / 11.6 dB (0.63 / 0.86), structN2V 21.2 / 22.1 dB (0.37 / 0.35).
    assert c_n2v > 0.55 and c_struct < c_n2v - 0.2, results
    assert p_struct > p_n2v + 3.0, results


def test_struct_n2v_settings_are_checked_and_reach_the_config():
    assert struct_masking("horizontal", 5).struct_axis == -1 and struct_masking("vertical", 7).struct_axis == -2
    assert struct_masking("none", 5).struct_axis is None
    with pytest.raises(ValueError, match="use none, horizontal"):
        struct_masking("x", 5)
    with pytest.raises(ValueError, match="give an odd length"):
        struct_masking("vertical", 4)
    with pytest.raises(ValueError, match="for methods n2v and n2v2, not 'n2s'"):
        DenoiseConfig(method="n2s", masking=struct_masking("horizontal", 5))
    # rotations would turn the correlation away from the masked axis: off by default, refused when asked for
    assert DenoiseConfig(method="n2v", masking=struct_masking("horizontal", 5)).train.augment is False
    with pytest.raises(ValueError, match="needs train.augment=False"):
        DenoiseConfig(method="n2v", masking=struct_masking("horizontal", 5),
                      train=TrainConfig(patch_size=(64, 64), augment=True))
    # the server's training job (Fiji's Train on this image…) passes the axis through
    spec = TrainDenoiseSpec(method="n2v", struct_n2v_axis="vertical", struct_n2v_span=3)
    config = _train_config(spec, [np.zeros((64, 64), np.float32)])
    assert (config.masking.struct_axis, config.masking.struct_length, config.name) == (-2, 3, "structN2V denoising")
