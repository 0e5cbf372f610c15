"""Fourier ring correlation against an analytic case: two noisy copies of a Gaussian-filtered
white-noise object have FRC(q) = S(q) / (S(q) + σ²) with S(q) = exp(−4π²σ_g²q²), so the 1/7
crossing is at q = sqrt(ln(6/σ²)) / (2π σ_g)."""

import numpy as np
import pytest
from scipy import ndimage

from fluorecon.tasks.localize.physics import make_table
from fluorecon.qc.frc import frc_curve, frc_resolution, frc_resolution_localizations


@pytest.mark.parametrize("sigma_g,noise_var", [(2.0, 0.01), (3.0, 0.001), (1.5, 0.05)])
def test_frc_resolution_matches_analytic_crossing(sigma_g, noise_var):
    rng = np.random.default_rng(0)
    obj = ndimage.gaussian_filter(rng.normal(size=(512, 512)), sigma_g)
    a = obj + rng.normal(0, np.sqrt(noise_var), obj.shape)
    b = obj + rng.normal(0, np.sqrt(noise_var), obj.shape)
    q = np.sqrt(np.log(6 / noise_var)) / (2 * np.pi * sigma_g)  # cycles per pixel
    expected_nm = 10.0 / q
    assert frc_resolution(a, b, pixel_size_nm=10) == pytest.approx(expected_nm, rel=0.04)


def test_frc_curve_follows_the_analytic_curve():
    rng = np.random.default_rng(1)
    sigma_g, noise_var = 2.0, 0.01
    obj = ndimage.gaussian_filter(rng.normal(size=(512, 512)), sigma_g)
    a, b = (obj + rng.normal(0, 0.1, obj.shape) for _ in range(2))
    q, frc = frc_curve(a, b, pixel_size_nm=1.0)
    s = np.exp(-4 * np.pi**2 * sigma_g**2 * q**2)
    sel = (q > 0.02) & (q < 0.3)
    err = frc[sel] - (s / (s + noise_var))[sel]
    # Each ring's estimate scatters by ~1/sqrt(pixels in the ring); no systematic deviation.
    assert np.abs(err).max() < 0.15 and abs(err.mean()) < 0.01 and np.abs(err).mean() < 0.03
    assert q[-1] == pytest.approx(0.5, abs=1 / 512)


def test_identical_images_reach_nyquist_and_unrelated_images_give_nan():
    rng = np.random.default_rng(2)
    a = ndimage.gaussian_filter(rng.normal(size=(128, 128)), 2)
    assert frc_resolution(a, a, pixel_size_nm=5) == pytest.approx(10.0)
    assert np.isnan(frc_resolution(rng.normal(size=(128, 128)), rng.normal(size=(128, 128))))


def test_frc_validates_inputs():
    with pytest.raises(ValueError, match="same shape"):
        frc_curve(np.zeros((32, 32)), np.zeros((32, 16)))
    with pytest.raises(ValueError, match="pixel_size_nm"):
        frc_curve(np.ones((32, 32)), np.ones((32, 32)), pixel_size_nm=0)


def test_frc_of_localizations_tracks_their_precision():
    rng = np.random.default_rng(3)
    # Points on random lines, localised 500 times each with 10 nm or 30 nm precision.
    n = 400
    sites = rng.uniform(200, 4800, (n, 2))
    frames = rng.integers(0, 2000, n * 20)
    which = np.repeat(np.arange(n), 20)
    res = []
    for precision in (10.0, 30.0):
        xy = sites[which] + rng.normal(0, precision, (n * 20, 2))
        table = make_table(frame=frames, x_nm=xy[:, 0], y_nm=xy[:, 1])
        res.append(frc_resolution_localizations(table, shape_nm=(5000, 5000), pixel_size_nm=5, sigma_nm=5))
    assert res[0] < res[1]
