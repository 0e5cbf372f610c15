"""BlurDownsample: exact adjoint, agreement with scipy's blur + block mean, clear errors. (The
registry's shared checks in test_forward.py run on it too.)"""

import numpy as np
import pytest
import torch
from scipy.signal import convolve

from fluorecon.imaging.forward import OPERATORS, build_physics
from fluorecon.imaging.sampling import BlurDownsample, gaussian_kernel

torch.set_num_threads(1)


def test_registered_with_the_shared_operator_checks():
    assert OPERATORS["blur_downsample"] is BlurDownsample


@pytest.mark.parametrize("shape,factor,psf", [((32, 24), 2, (7, 7)), ((16, 20, 12), (4, 1, 1), (9, 3, 3)),
                                              ((24, 24), 4, None), ((8, 16, 16), 2, (5, 5, 6))])
def test_adjoint_identity(shape, factor, psf):
    rng = np.random.default_rng(0)
    kernel = None if psf is None else rng.random(psf).astype(np.float32)
    op = BlurDownsample(kernel, image_shape=shape, factor=factor, device="cpu")
    x = torch.from_numpy(rng.standard_normal(shape)).double()
    y = torch.from_numpy(rng.standard_normal(op.measurement_shape)).double()
    lhs = float((op.A(x).double() * y).sum())
    rhs = float((x * op.A_adjoint(y).double()).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0)


def test_equals_scipy_blur_then_block_mean():
    rng = np.random.default_rng(1)
    x = rng.random((24, 36)).astype(np.float64)
    psf = gaussian_kernel((1.5, 0.7), ndim=2)
    op = BlurDownsample(psf, image_shape=x.shape, factor=(2, 3), device="cpu")
    blurred = convolve(x, psf.astype(np.float64), mode="same")
    expected = blurred.reshape(12, 2, 12, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(op.A(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    # Flux: a constant image stays constant away from the (zero-padded) border.
    ones = op.A(torch.ones(24, 36)).numpy()
    np.testing.assert_allclose(ones[3:-3, 3:-3], 1.0, atol=1e-5)


def test_config_round_trip_and_errors():
    op = BlurDownsample(gaussian_kernel(1.0), image_shape=(16, 16), factor=2, device="cpu")
    rebuilt = build_physics(op.config.model_dump(mode="json"), device="cpu")
    x = torch.rand(16, 16)
    torch.testing.assert_close(rebuilt.A(x), op.A(x))
    with pytest.raises(ValueError, match="multiple of factor"):
        BlurDownsample(None, image_shape=(15, 16), factor=2)
    with pytest.raises(ValueError, match=r"y has shape \(16, 16\), expected \(8, 8\)"):
        op.A_adjoint(torch.zeros(16, 16))
    with pytest.raises(ValueError, match="factor"):
        BlurDownsample(None, image_shape=(16, 16), factor=(2, 2, 2))
