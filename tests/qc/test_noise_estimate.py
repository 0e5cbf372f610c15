import numpy as np
import pytest

from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise


def _camera(signal_e, gain, offset, read_e, seed=0):
    rng = np.random.default_rng(seed)
    return gain * rng.poisson(signal_e) + offset + gain * rng.normal(0, read_e, signal_e.shape)


@pytest.mark.parametrize("gain,offset,read_e", [(2.0, 100.0, 1.5), (0.5, 400.0, 4.0)])
def test_recovers_gain_and_read_noise_on_a_ramp_with_structure(gain, offset, read_e):
    y, x = np.mgrid[0:256, 0:256]
    signal = 5 + 200 * x / 255.0 + 40 * (np.hypot(y - 128, x - 128) < 30)
    image = _camera(signal, gain, offset, read_e)
    model = estimate_noise(image)
    assert model.a == pytest.approx(gain, rel=0.15)
    b_true = gain**2 * read_e**2 - gain * offset
    # b is the intercept far from the data (offset dominates), so check the variance where the data is.
    for level in (20, 150):
        true_var = gain**2 * level + gain**2 * read_e**2
        assert model.variance(np.array(offset + gain * level)) == pytest.approx(true_var, rel=0.15)
    assert model.b == pytest.approx(b_true, rel=0.3, abs=gain * 30)


def test_pure_gaussian_noise_gives_zero_slope():
    rng = np.random.default_rng(3)
    model = estimate_noise(rng.normal(0, 1, (128, 128)) + np.linspace(0, 50, 128)[None])
    assert model.a == pytest.approx(0, abs=0.05)
    assert model.variance(np.array(10.0)) == pytest.approx(1.0, rel=0.15)


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise(np.full((32, 32), np.nan))
    with pytest.raises(ValueError, match="smaller"):
        estimate_noise(np.zeros((4, 4)))
    assert np.all(NoiseModel(a=1.0, b=-50.0).variance(np.zeros(3)) > 0)
