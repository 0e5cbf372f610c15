"""The wave-optics light-field projector: the registry's operator checks (adjoint identity, shapes,
config round trip, CPU vs CUDA), the two implementations against each other, and the PSF against
the geometry it must obey (flux, symmetry, focal-plane confinement, defocus cone)."""

import json
import math

import numpy as np
import pytest
import torch

from fluorecon.imaging.forward import OPERATORS, build_physics
from fluorecon.tasks.lightfield.physics import (LightField, LightFieldConfig, LightFieldOptics, extract_views,
                                          lightfield_psf, views_to_lightfield)

OPTICS = LightFieldOptics(nnum=9, z_min_um=-12, z_max_um=12, z_step_um=4)


@pytest.fixture(scope="module")
def psf():
    return lightfield_psf(OPTICS)


@pytest.fixture(scope="module")
def physics(psf):
    return LightField(psf, n_lenslets=(5, 6), optics=OPTICS, device="cpu")


def _random(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def test_registered_with_the_forward_models():
    assert OPERATORS["lightfield"] is LightField


@pytest.mark.parametrize("ndim", [2, 3])
def test_example_adjoint_identity_and_config_round_trip(ndim):
    # The registry's shared checks, run here too so they hold whatever the collection order.
    op = LightField.example(ndim=ndim, device="cpu")
    x, y = _random(op.image_shape, 0).double(), _random(op.measurement_shape, 1).double()
    lhs, rhs = float((op.A(x).double() * y).sum()), float((x * op.A_adjoint(y).double()).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0)
    assert op.A(x).dtype == torch.float32 and tuple(op.A_adjoint(y).shape) == op.image_shape
    rebuilt = build_physics(json.loads(op.config.model_dump_json()), device="cpu")
    torch.testing.assert_close(rebuilt.A(x), op.A(x))
    with pytest.raises(ValueError, match="shape"):
        op.A(torch.zeros(3, 3))


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_adjoint_identity_at_test_size(psf, method):
    op = LightField(psf, n_lenslets=(5, 6), optics=OPTICS, device="cpu", method=method)
    x, y = _random(op.image_shape, 2).double(), _random(op.measurement_shape, 3).double()
    lhs, rhs = float((op.A(x).double() * y).sum()), float((x * op.A_adjoint(y).double()).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0), (lhs, rhs)


def test_fft_equals_direct_convolution_and_batches(psf, physics):
    direct = LightField(psf, n_lenslets=(5, 6), optics=OPTICS, device="cpu", method="direct")
    x = torch.rand((2, *physics.image_shape), generator=torch.Generator().manual_seed(4))
    y = torch.rand((2, *physics.measurement_shape), generator=torch.Generator().manual_seed(5))
    batched = physics.A(x)
    assert batched.shape == (2, *physics.measurement_shape)
    torch.testing.assert_close(batched[1], physics.A(x[1]), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(direct.A(x), batched, atol=1e-4 * float(batched.max()), rtol=1e-4)
    torch.testing.assert_close(direct.A_adjoint(y), physics.A_adjoint(y), atol=1e-4, rtol=1e-4)


def test_a_point_projects_its_psf_and_conserves_flux(psf, physics):
    # A point at pixel (a_y, a_x) of lenslet (2, 3), plane z: its light field is the PSF shifted by
    # whole lenslets — the periodic shift invariance the projector is built on.
    n, r = OPTICS.nnum, (psf.shape[-1] // OPTICS.nnum - 1) // 2
    z, ay, ax, i, j = 1, 2, 7, 2, 3
    x = torch.zeros(physics.image_shape)
    x[z, i * n + ay, j * n + ax] = 1
    lf = physics.A(x).numpy()
    window = np.zeros((physics.measurement_shape[0] + 2 * r * n, physics.measurement_shape[1] + 2 * r * n), np.float32)
    window[i * n: i * n + psf.shape[-1], j * n: j * n + psf.shape[-1]] = psf[z, ay, ax]
    np.testing.assert_allclose(lf, window[r * n: r * n + lf.shape[0], r * n: r * n + lf.shape[1]], atol=1e-6)
    assert float(psf[z, ay, ax].sum()) == pytest.approx(1, abs=1e-5)


def test_psf_symmetry_and_focal_plane_confinement(psf):
    n, r = OPTICS.nnum, (psf.shape[-1] // OPTICS.nnum - 1) // 2
    # Mirror and transpose symmetry of a lenslet about its centre pixel.
    np.testing.assert_allclose(psf[2, 1, 6], psf[2, 1, n - 1 - 6][:, ::-1], atol=1e-7)
    np.testing.assert_allclose(psf[5, 3, 1], psf[5, 1, 3].T, atol=1e-7)
    # In focus, a point on a lenslet's centre sends its light through that lenslet only.
    focus = list(OPTICS.z_um).index(0.0)
    central = psf[focus, n // 2, n // 2].reshape(2 * r + 1, n, 2 * r + 1, n).sum(axis=(1, 3))
    assert central[r, r] > 0.9


def test_defocused_light_fields_follow_the_geometric_cone(psf):
    # Light per lenslet of a defocused point fills the disc of radius M |z| tan(alpha) in the
    # native image plane; its RMS radius (in lenslets) grows with |z| like r / sqrt(2) (+ binning).
    n, r = OPTICS.nnum, (psf.shape[-1] // OPTICS.nnum - 1) // 2
    alpha = math.asin(OPTICS.na / OPTICS.n_immersion)
    d = np.arange(-r, r + 1)
    rms = []
    for iz, z in enumerate(OPTICS.z_um):
        per_lenslet = psf[iz, n // 2, n // 2].reshape(2 * r + 1, n, 2 * r + 1, n).sum(axis=(1, 3))
        rms.append(math.sqrt(float((per_lenslet * (d[:, None] ** 2 + d[None, :] ** 2)).sum())))
    rms = np.array(rms)
    focus = list(OPTICS.z_um).index(0.0)
    assert np.all(np.diff(rms[focus:]) > 0) and np.all(np.diff(rms[: focus + 1]) < 0)
    for iz in (0, len(rms) - 1):
        cone = OPTICS.magnification * abs(OPTICS.z_um[iz]) * math.tan(alpha) / OPTICS.lenslet_pitch_um
        assert 0.8 < rms[iz] / math.sqrt(cone**2 / 2 + 1 / 6) < 1.25, rms


def test_psf_cache_is_keyed_by_the_optics(tmp_path):
    small = LightFieldOptics(nnum=5, lenslet_pitch_um=50, lenslet_focal_um=1000, z_min_um=0, z_max_um=0,
                             psf_radius_lenslets=1)
    first = lightfield_psf(small, cache_dir=tmp_path)
    files = list(tmp_path.glob("lfpsf-*.npy"))
    assert len(files) == 1 and first.shape == (1, 5, 5, 15, 15)
    np.testing.assert_array_equal(lightfield_psf(small, cache_dir=tmp_path), first)
    lightfield_psf(small.model_copy(update={"wavelength_nm": 600.0}), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("lfpsf-*.npy"))) == 2


def test_views_round_trip_and_definition():
    lf = np.arange(2 * 27 * 18, dtype=np.float32).reshape(2, 27, 18)
    views = extract_views(lf, 9)
    assert views.shape == (2, 9, 9, 3, 2)
    assert views[1, 4, 7, 2, 1] == lf[1, 2 * 9 + 4, 1 * 9 + 7]
    np.testing.assert_array_equal(views_to_lightfield(views), lf)
    torch.testing.assert_close(views_to_lightfield(extract_views(torch.from_numpy(lf), 9)), torch.from_numpy(lf))
    with pytest.raises(ValueError, match="lenslets"):
        extract_views(lf[:, :20], 9)


def test_optics_refuse_bad_values_in_words():
    with pytest.raises(ValueError, match="odd number of pixels per lenslet"):
        LightFieldOptics(nnum=10)
    with pytest.raises(ValueError, match="below the immersion index"):
        LightFieldOptics(na=1.4, n_immersion=1.33)
    with pytest.raises(ValueError, match="swap"):
        LightFieldOptics(z_min_um=5, z_max_um=-5)
    with pytest.raises(ValueError, match="Unknown forward model"):
        build_physics({"name": "lightfeld"})


def test_config_voxel_size_and_planes():
    config = LightFieldConfig(n_lenslets=(3, 4), optics=OPTICS)
    assert config.optics.voxel_size_um == pytest.approx(100 / 9 / 20)
    np.testing.assert_allclose(config.optics.z_um, [-12, -8, -4, 0, 4, 8, 12])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_equals_cuda(psf):
    cpu = LightField(psf, n_lenslets=(5, 6), optics=OPTICS, device="cpu")
    gpu = LightField(psf, n_lenslets=(5, 6), optics=OPTICS, device="cuda")
    x, y = torch.rand(cpu.image_shape), torch.rand(cpu.measurement_shape)
    torch.testing.assert_close(gpu.A(x.cuda()).cpu(), cpu.A(x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu.A_adjoint(y.cuda()).cpu(), cpu.A_adjoint(y), atol=1e-4, rtol=1e-4)
