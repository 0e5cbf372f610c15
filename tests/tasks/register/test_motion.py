"""Drift, deformation and drifting-localisation simulation."""

import numpy as np
import pytest
from scipy import ndimage

from fluorecon.tasks.register.physics import (
    apply_drift, fourier_shift, simulate_drift, simulate_drifting_localizations, smooth_displacement, warp,
)
from fluorecon.imaging.phantoms import phantom


def test_fourier_shift_integer_equals_roll_and_inverts():
    image = phantom((32, 40), seed=1)
    np.testing.assert_allclose(fourier_shift(image, (3, -5)), np.roll(image, (3, -5), axis=(0, 1)), atol=1e-5)
    odd = phantom((33, 41), seed=1)  # odd sizes: no Nyquist term, so sub-pixel shifts invert exactly
    there = fourier_shift(odd, (1.3, -2.7))
    np.testing.assert_allclose(fourier_shift(there, (-1.3, 2.7)), odd, atol=1e-5)
    volume = phantom((8, 16, 16), seed=2)
    np.testing.assert_allclose(fourier_shift(volume, (1, 2, -3)), np.roll(volume, (1, 2, -3), axis=(0, 1, 2)), atol=1e-5)
    with pytest.raises(ValueError, match="shift has 3 values"):
        fourier_shift(image, (1, 2, 3))


def test_drift_trajectory_is_seeded_and_starts_at_zero():
    d = simulate_drift(30, 3, seed=5)
    assert d.shape == (30, 3) and np.all(d[0] == 0)
    np.testing.assert_array_equal(d, simulate_drift(30, 3, seed=5))
    frames = apply_drift(np.stack([phantom((32, 32), seed=3)] * 4), simulate_drift(4, 2, seed=1), mode="spline")
    assert frames.shape == (4, 32, 32) and frames.dtype == np.float32


def test_warp_conventions_and_field_amplitude():
    image = ndimage.gaussian_filter(phantom((48, 48), seed=6), 1.0)
    np.testing.assert_allclose(warp(image, np.zeros((2, 48, 48))), image, atol=1e-6)
    shifted = warp(image, np.stack([np.full((48, 48), 2.0), np.full((48, 48), -1.0)]))
    np.testing.assert_allclose(shifted[5:-5, 5:-5], image[7:-3, 4:-6], atol=1e-6)  # out(p) = image(p + u)
    field = smooth_displacement((64, 64), amplitude_px=1.5, smoothness_px=8, seed=1)
    assert field.shape == (2, 64, 64)
    np.testing.assert_allclose(field.std(axis=(1, 2)), 1.5, rtol=1e-4)


def test_drifting_localizations():
    table, drift = simulate_drifting_localizations(n_frames=500, drift_nm=80, seed=3)
    assert drift.shape == (500, 2) and np.all(drift[0] == 0)
    assert abs(np.abs(drift).max() - 80) < 1e-9
    assert table["frame"].min() >= 0 and table["frame"].max() < 500
    assert len(table["x_nm"]) == len(table["frame"]) > 5000
