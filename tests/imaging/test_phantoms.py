"""Phantoms: shape, dtype, range, seeded reproducibility for every kind in 2D and 3D."""

import numpy as np
import pytest

from fluorecon.imaging.phantoms import KINDS, phantom


@pytest.mark.parametrize("kind", ("mixed",) + KINDS)
@pytest.mark.parametrize("shape", [(96, 80), (16, 48, 40)])
def test_range_dtype_and_seed(kind, shape):
    a = phantom(shape, kind=kind, seed=7)
    assert a.shape == shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(a, phantom(shape, kind=kind, seed=7))
    assert not np.array_equal(a, phantom(shape, kind=kind, seed=8))


def test_structures_are_sparse_but_present():
    a = phantom((128, 128), kind="filaments", seed=0)
    bright = (a > 0.2).mean()
    assert 0.005 < bright < 0.3
    assert (phantom((128, 128), kind="membranes", seed=0) > 0.2).mean() < 0.4


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        phantom((2, 2), seed=0)
    with pytest.raises(ValueError, match="shape"):
        phantom((4, 4, 4, 4), seed=0)
    with pytest.raises(ValueError, match="kind"):
        phantom((32, 32), kind="stars", seed=0)
