"""Camera noise statistics against the Poisson–Gaussian (and EMCCD gamma) theory."""

import numpy as np
import pytest

from fluorecon.imaging.noise import CameraNoise, apply_noise

FLAT = np.full((300, 300), 0.4, np.float32)  # 90,000 samples: relative error of a variance ~0.5 %


def _stats(camera, image=FLAT, seed=0):
    y = apply_noise(image, camera, seed=seed).astype(np.float64)
    return y.mean(), y.var()


def test_poisson_variance_equals_mean_in_electrons():
    mean, var = _stats(CameraNoise(photons=50, gain=1, offset=0, read_noise_e=0))
    assert mean == pytest.approx(20, rel=0.01)
    assert var == pytest.approx(20, rel=0.03)


def test_quantum_efficiency_and_background_scale_the_electrons():
    cam = CameraNoise(photons=50, background=5, qe=0.8, gain=1, offset=0, read_noise_e=0)
    mean, var = _stats(cam)
    assert mean == pytest.approx(0.8 * (20 + 5), rel=0.01)
    assert var == pytest.approx(mean, rel=0.03)


def test_gain_and_offset_map_electrons_to_adu():
    cam = CameraNoise(photons=50, gain=2.5, offset=100, read_noise_e=0)
    mean, var = _stats(cam)
    assert mean == pytest.approx(2.5 * 20 + 100, rel=0.005)
    assert var == pytest.approx(2.5**2 * 20, rel=0.03)
    assert cam.mean(FLAT).mean() == pytest.approx(150)
    assert cam.variance(FLAT).mean() == pytest.approx(125)


def test_read_noise_is_gaussian_in_electrons():
    cam = CameraNoise(photons=50, gain=2, offset=100, read_noise_e=3)
    mean, var = _stats(cam, image=np.zeros((300, 300)))
    assert mean == pytest.approx(100, abs=0.05)
    assert var == pytest.approx(4 * 9, rel=0.03)


def test_emccd_excess_noise_factor_is_two():
    cam = CameraNoise(photons=50, gain=0.02, offset=0, read_noise_e=0, em_gain=200)
    mean, var = _stats(cam)
    electrons = 20
    assert mean == pytest.approx(0.02 * 200 * electrons, rel=0.01)
    excess = var / (0.02**2 * 200**2 * electrons)
    assert excess == pytest.approx(2.0, rel=0.05)
    assert cam.variance(FLAT).mean() == pytest.approx(var, rel=0.05)


def test_seeded_and_reproducible():
    cam = CameraNoise(photons=10)
    a = apply_noise(FLAT, cam, seed=3)
    assert a.dtype == np.float32 and a.shape == FLAT.shape
    np.testing.assert_array_equal(a, apply_noise(FLAT, cam, seed=3))
    assert not np.array_equal(a, apply_noise(FLAT, cam, seed=4))


def test_quantize_gives_whole_adu():
    y = apply_noise(FLAT[:10, :10], CameraNoise(photons=10, quantize=True), seed=0)
    np.testing.assert_array_equal(y, np.round(y))


def test_bad_input_and_config_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        apply_noise(np.array([[np.nan, 1.0]]), CameraNoise(), seed=0)
    with pytest.raises(ValueError):
        CameraNoise(photons=-1)
    with pytest.raises(ValueError):
        CameraNoise(photns=10)  # extra="forbid" catches typos
