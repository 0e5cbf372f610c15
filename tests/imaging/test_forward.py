"""Shared checks run on every registered forward operator, plus Blur-specific references."""

import json

import numpy as np
import pytest
import torch
from scipy.signal import convolve

from fluorecon.imaging.forward import Blur, BlurConfig, WidefieldPSF, build_physics, load_operators
from fluorecon.imaging.noise import CameraNoise

# Every operator module, not only those some other test happened to import first.
OPERATORS = load_operators()
CASES = [(name, ndim) for name in sorted(OPERATORS) for ndim in (2, 3)]


def _random(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("name,ndim", CASES)
def test_adjoint_identity(name, ndim):
    op = OPERATORS[name].example(ndim=ndim, device="cpu")
    x = _random(op.image_shape, 0).double()
    y = _random(getattr(op, "measurement_shape", op.image_shape), 1).double()
    ax = op.A(x).double()
    aty = op.A_adjoint(y).double()
    lhs, rhs = float((ax * y).sum()), float((x * aty).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0), (lhs, rhs)


@pytest.mark.parametrize("name,ndim", CASES)
def test_shapes_dtype_and_config_round_trip(name, ndim):
    op = OPERATORS[name].example(ndim=ndim, device="cpu")
    x = _random(op.image_shape, 2)
    measured = getattr(op, "measurement_shape", op.image_shape)  # differs for downsampling operators
    y = _random(measured, 5)
    for out, shape in ((op.A(x), measured), (op.A_adjoint(y), op.image_shape), (op.A(x.double()), measured)):
        assert tuple(out.shape) == shape and out.dtype == torch.float32
    with pytest.raises(ValueError, match="shape"):
        op.A(torch.zeros(3, 3))
    # Config is JSON, rebuilt without pickling, same numbers.
    rebuilt = build_physics(json.loads(op.config.model_dump_json()), device="cpu")
    torch.testing.assert_close(rebuilt.A(x), op.A(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name,ndim", CASES)
def test_cpu_equals_cuda(name, ndim):
    cpu = OPERATORS[name].example(ndim=ndim, device="cpu")
    gpu = OPERATORS[name].example(ndim=ndim, device="cuda")
    x = _random(cpu.image_shape, 3)
    y = _random(getattr(cpu, "measurement_shape", cpu.image_shape), 4)
    torch.testing.assert_close(gpu.A(x.cuda()).cpu(), cpu.A(x), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gpu.A_adjoint(y.cuda()).cpu(), cpu.A_adjoint(y), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "image_shape,psf_shape", [((40, 37), (9, 9)), ((40, 37), (8, 6)), ((12, 30, 31), (5, 7, 9)), ((6, 9, 8), (9, 11, 11))]
)
def test_blur_equals_scipy_same_convolution(image_shape, psf_shape):
    rng = np.random.default_rng(4)
    x = rng.random(image_shape).astype(np.float32)
    psf = rng.random(psf_shape).astype(np.float32)
    op = Blur(psf, image_shape=image_shape, device="cpu")
    odd = np.pad(psf, [(0, 1 - k % 2) for k in psf_shape])
    expected = convolve(x.astype(np.float64), odd.astype(np.float64), mode="same")
    np.testing.assert_allclose(op.A(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5 * expected.max())
    flipped = odd[tuple(slice(None, None, -1) for _ in odd.shape)]
    mirrored = convolve(x.astype(np.float64), flipped.astype(np.float64), mode="same")
    np.testing.assert_allclose(op.A_adjoint(torch.from_numpy(x)).numpy(), mirrored, rtol=1e-4, atol=1e-5 * mirrored.max())


def test_blur_config_with_theoretical_psf_and_noise():
    config = BlurConfig(
        image_shape=(32, 32),
        psf=WidefieldPSF(shape=(15, 15), na=1.2, wavelength_nm=520, pixel_size_nm=65),
        noise=CameraNoise(photons=50, offset=100),
    )
    physics = build_physics(config.model_dump(), device="cpu")
    assert physics.noise.photons == 50
    assert abs(float(physics.psf.sum()) - 1) < 1e-5
    # Flux is conserved away from the border.
    x = torch.zeros(32, 32)
    x[16, 16] = 1
    assert abs(float(physics.A(x).sum()) - 1) < 1e-4
    with pytest.raises(ValueError, match="Unknown forward model"):
        build_physics({"name": "nope"})


def test_blur_rejects_mismatched_psf():
    with pytest.raises(ValueError, match="3D"):
        Blur(np.ones((3, 3)), image_shape=(4, 8, 8))
    with pytest.raises(ValueError, match="non-negative"):
        Blur(-np.ones((3, 3)), image_shape=(8, 8))
