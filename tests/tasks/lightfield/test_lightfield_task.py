"""Light-field tasks on simulated, seeded data: lenslet-grid calibration recovers a known grid,
rectification inverts the raw rendering, Richardson–Lucy over the wave-optics projector puts
beads back at their 3D positions, and the job checks refuse bad input in words."""

import math

import numpy as np
import pytest

from fluorecon.core.io import TiffMeta
from fluorecon.tasks.lightfield.physics import LightField, LightFieldOptics, lightfield_psf
from fluorecon.tasks.lightfield.classical import (LensletGrid, LightFieldCancelled, LightFieldSpec, backproject, bead_volume,
                                        calibrate, check_job, locate_beads, rectify, richardson_lucy_lightfield,
                                        run_job, simulate, simulate_pairs, unrectify, white_image)

OPTICS = LightFieldOptics(nnum=9, z_min_um=-12, z_max_um=12, z_step_um=4)


@pytest.fixture(scope="module")
def physics():
    return LightField(lightfield_psf(OPTICS), n_lenslets=(9, 9), optics=OPTICS, device="cpu")


def _lattice_error(grid: LensletGrid, pitch, rotation, origin):
    """Offset of the found origin from the nearest true lattice point, in pixels."""
    t = math.radians(rotation)
    dy, dx = grid.origin_yx_px[0] - origin[0], grid.origin_yx_px[1] - origin[1]
    j = (dx * math.cos(t) + dy * math.sin(t)) / pitch
    i = (-dx * math.sin(t) + dy * math.cos(t)) / pitch
    return pitch * math.hypot(i - round(i), j - round(j))


@pytest.mark.parametrize("pitch,rotation,origin,shape", [
    (10.6, 1.3, (7.3, 12.8), (128, 140)),
    (11.0, -2.0, (20.0, 5.5), (150, 150)),
    (14.2, 0.4, (30.1, 3.3), (200, 256)),
])
def test_calibration_recovers_a_simulated_grid(pitch, rotation, origin, shape):
    white = white_image(shape, pitch_px=pitch, rotation_deg=rotation, origin_yx_px=origin, photons=500, seed=1)
    grid = calibrate(white)
    assert grid.pitch_px == pytest.approx(pitch, rel=2e-3)
    assert grid.rotation_deg == pytest.approx(rotation, abs=0.05)
    assert _lattice_error(grid, pitch, rotation, origin) < 0.1
    assert grid.nnum % 2 == 1 and abs(grid.nnum - pitch) <= 1
    # Every lenslet of the grid is whole inside the image, and no whole row/column is missed.
    centres = grid.centres()
    assert centres.min() >= pitch / 2 - 1 and centres[..., 0].max() <= shape[0] - pitch / 2
    assert grid.n_lenslets[0] >= int(shape[0] / pitch) - 1 and grid.n_lenslets[1] >= int(shape[1] / pitch) - 1
    assert LensletGrid.model_validate_json(grid.model_dump_json()) == grid


def test_calibration_refuses_images_without_lenslets():
    with pytest.raises(ValueError, match="2D plane"):
        calibrate(np.ones((3, 40, 40)))
    with pytest.raises(ValueError, match="odd number"):
        calibrate(white_image((64, 64), pitch_px=8), nnum=8)


def test_rectify_inverts_the_raw_rendering(physics):
    _, lf, _ = simulate(physics, n_beads=6, photons=1000, seed=3)
    grid = LensletGrid(pitch_px=10.6, rotation_deg=0.7, origin_yx_px=(7.9, 8.2), n_lenslets=(9, 9), nnum=9,
                       image_shape=(102, 102))
    raw = unrectify(lf, grid)
    back = rectify(raw, grid)
    assert back.shape == lf.shape
    # Two bilinear resamplings blur a little; the light stays where it was.
    assert np.corrcoef(back.ravel(), lf.ravel())[0, 1] > 0.95
    assert abs(back.sum() / lf.sum() - 1) < 0.05
    with pytest.raises(ValueError, match="calibration is for"):
        rectify(raw[:50], grid)


@pytest.mark.parametrize("seed", [0, 5])
def test_richardson_lucy_puts_beads_back_within_one_z_step(physics, seed):
    n = OPTICS.nnum
    volume, positions = bead_volume(physics.image_shape, n_beads=6, seed=seed, margin_px=n, min_distance_px=2.5 * n)
    truth, lf, _ = simulate(physics, volume=volume, photons=300, seed=seed)
    calls = []
    recon = richardson_lucy_lightfield(lf, physics, num_iter=16, progress=lambda d, t: calls.append(d))
    assert recon.shape == physics.image_shape and recon.dtype == np.float32 and calls == list(range(1, 17))
    found = locate_beads(recon, positions, radius_px=n / 2)
    error = found - positions
    assert np.abs(error[:, 0]).max() <= 1, error
    assert np.hypot(error[:, 1], error[:, 2]).max() <= 1.5, error
    # Iterating beats the plain back-projection (refocusing) at finding depth.
    refocused = locate_beads(backproject(lf, physics), positions, radius_px=n / 2)
    assert np.abs(error[:, 0]).sum() <= np.abs(refocused[:, 0] - positions[:, 0]).sum()
    # Flux is kept: the reconstruction re-projects onto the measured light field.
    assert physics.A(recon).sum().item() == pytest.approx(float(lf.sum()), rel=0.02)


def test_reconstruction_cancels_between_iterations(physics):
    _, lf, _ = simulate(physics, n_beads=3, seed=1)
    done = []
    with pytest.raises(LightFieldCancelled, match="after 2 of 10"):
        richardson_lucy_lightfield(lf, physics, num_iter=10, progress=lambda d, t: done.append(d),
                                   cancel=lambda: len(done) >= 2)


def test_simulated_pairs_are_consistent(physics):
    volumes, lfs = simulate_pairs(physics, 3, seed=2, batch=2)
    assert volumes.shape == (3, *physics.image_shape) and lfs.shape == (3, *physics.measurement_shape)
    expected = physics.A(volumes).numpy()
    # Poisson counts around A(volume): mean matches, residual variance matches the mean.
    assert lfs.sum() == pytest.approx(expected.sum(), rel=0.02)
    assert np.mean((lfs - expected) ** 2) == pytest.approx(np.mean(expected), rel=0.1)


def test_job_checks_name_what_to_change(physics):
    lf = np.zeros(physics.measurement_shape, np.float32)
    spec = LightFieldSpec(optics=OPTICS)
    assert check_job(lf, "YX", spec) == (9, 9)
    with pytest.raises(ValueError, match="axes YX"):
        check_job(lf[None], "ZYX", spec)
    with pytest.raises(ValueError, match="whole number of 9-pixel lenslets"):
        check_job(lf[:, :80], "YX", spec)
    grid = LensletGrid(pitch_px=10.6, rotation_deg=0, origin_yx_px=(8, 8), n_lenslets=(9, 9), nnum=9,
                       image_shape=(102, 102))
    with pytest.raises(ValueError, match="calibration is for"):
        check_job(lf, "YX", LightFieldSpec(optics=OPTICS, calibration=grid))
    with pytest.raises(ValueError, match="optics.nnum"):
        check_job(np.zeros((102, 102)), "YX", LightFieldSpec(calibration=grid))
    with pytest.raises(ValueError, match="NaN"):
        check_job(np.full(lf.shape, np.nan), "YX", spec)


def test_run_job_writes_a_z_calibrated_stack(physics):
    _, lf, _ = simulate(physics, n_beads=3, seed=4)
    volume, meta, info = run_job(lf, TiffMeta(axes="YX"), LightFieldSpec(optics=OPTICS, num_iter=3), device="cpu")
    assert volume.shape == physics.image_shape and meta.axes == "ZYX"
    assert meta.z_step_um == 4 and meta.pixel_size_um == pytest.approx(OPTICS.voxel_size_um)
    assert "z_um = [-12.0, -8.0, -4.0, 0.0, 4.0, 8.0, 12.0]" in info
    np.testing.assert_allclose(volume, richardson_lucy_lightfield(lf, physics, num_iter=3), rtol=1e-4,
                               atol=1e-5 * volume.max())
