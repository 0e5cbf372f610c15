"""PSNR/SSIM wrappers: scikit-image's numbers with the reference's data range."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from fluorecon.qc.metrics import psnr, ssim


def test_matches_skimage_with_reference_range():
    rng = np.random.default_rng(0)
    ref = rng.uniform(10, 50, (40, 40))
    est = ref + rng.normal(0, 2, ref.shape)
    assert psnr(est, ref) == pytest.approx(peak_signal_noise_ratio(ref, est, data_range=np.ptp(ref)))
    assert psnr(est, ref) == pytest.approx(10 * np.log10(np.ptp(ref) ** 2 / np.mean((est - ref) ** 2)))
    assert ssim(est, ref) == pytest.approx(structural_similarity(ref, est, data_range=np.ptp(ref)))
    assert psnr(est, ref, data_range=100) > psnr(est, ref)


def test_3d_and_errors():
    ref = np.random.default_rng(1).uniform(size=(5, 20, 20))
    assert 0 < ssim(ref + 0.05, ref) < 1
    with pytest.raises(ValueError, match="same shape"):
        psnr(ref, ref[0])
    with pytest.raises(ValueError, match="constant"):
        psnr(ref, np.ones_like(ref))
