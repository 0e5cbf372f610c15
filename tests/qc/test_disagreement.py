"""Test-time-augmentation disagreement: an orientation-independent denoiser agrees with itself;
a predictor that paints texture of its own (not read from the data) is marked where it does."""

import numpy as np
from scipy import ndimage

from fluorecon.qc.disagreement import tta_disagreement
from fluorecon.qc.noise_estimate import NoiseModel

NOISE = NoiseModel(a=2.0, b=9.0 - 200.0)


def _diffuse(seed=0):
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.random((128, 128)), 12)
    expected = 100 + 2 * (20 + 60 * (texture - texture.min()) / np.ptp(texture))
    return (100 + 2 * rng.poisson((expected - 100) / 2) + rng.normal(0, 3, expected.shape)).astype(np.float32)


def test_orientation_free_denoiser_agrees():
    d = tta_disagreement(lambda x: ndimage.gaussian_filter(x, 1.5), _diffuse(), noise=NOISE)
    assert d.summary["p99_ratio"] < 0.05 and not d.warnings


def test_invented_texture_is_marked_where_it_is_painted():
    image = _diffuse(1)
    painted = image > np.median(image)  # where the signal is bright: moves with the image

    def inventing(x):  # stripes along the array's x axis wherever the input is bright
        xx = np.arange(x.shape[1])[None, :]
        return ndimage.gaussian_filter(x, 1.5) + 40.0 * np.sin(2 * np.pi * xx / 6.0) * (x > np.median(x))

    d = tta_disagreement(inventing, image, noise=NOISE)
    assert d.warnings and "orientation" in d.warnings[0]
    inner = ndimage.binary_erosion(painted, iterations=6)
    outer = ndimage.binary_erosion(~painted, iterations=6)
    assert np.median(d.map[inner]) > 1.0 > np.median(d.map[outer]) * 4
