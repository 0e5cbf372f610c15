"""Multiview fusion: two simulated orthogonal views fused by multiview Richardson–Lucy are more
isotropic (axial directional Fourier correlation against the truth) than one view; theoretical
view PSFs point along their stated axis; the job function checks its input in words."""

import numpy as np
import pytest
from scipy.signal import convolve

from fluorecon.core.io import TiffMeta
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.fuse import classical as R
from fluorecon.tasks.deconvolve.classical import PSFParams, richardson_lucy

OPTICS = PSFParams(na=0.8, wavelength_nm=520, ni=1.33)
META = TiffMeta(axes="CZYX", pixel_size_um=0.2, z_step_um=0.2)


def _views(truth, psfs, photons=200):
    # Blurred in float64 by scipy, not by the operator under test: numpy's Poisson sampler draws a variable amount
    # of randomness per pixel, so a float32 round-off change in the blur would redraw every later pixel's noise.
    camera = CameraNoise(photons=photons, offset=0, read_noise_e=0)
    return [apply_noise(convolve(truth.astype(np.float64), p, mode="same").astype(np.float32), camera,
                        seed=i) / photons for i, p in enumerate(psfs)]


def _axial_lateral(estimate, truth):
    return (R.directional_correlation(estimate, truth, axis=0)[3:11].mean(),
            R.directional_correlation(estimate, truth, axis=1)[3:11].mean())


def _gaussian_psf(sigmas, size=(15, 15, 15)):
    grid = np.meshgrid(*[np.arange(n) - n // 2 for n in size], indexing="ij")
    psf = np.exp(-sum(g**2 / (2 * s**2) for g, s in zip(grid, sigmas)))
    return (psf / psf.sum()).astype(np.float32)


def test_multiview_fusion_improves_axial_resolution():
    from fluorecon.tasks.deconvolve.classical import richardson_lucy

    truth = phantom((24, 40, 40), kind="vesicles", seed=1)
    psf_z, psf_x = _gaussian_psf((4, 1.2, 1.2)), _gaussian_psf((1.2, 1.2, 4))  # two views at 90°
    views = _views(truth, (psf_z, psf_x))
    fused = R.fuse_multiview(views, [psf_z, psf_x], num_iter=20, device="cpu")
    single = richardson_lucy(views[0], psf_z, num_iter=40, device="cpu")
    axial_fused = R.directional_correlation(fused, truth, axis=0)[3:11].mean()
    axial_single = R.directional_correlation(single, truth, axis=0)[3:11].mean()
    assert axial_fused > axial_single + 0.3, (axial_fused, axial_single)
    # Isotropy: the fused axial correlation comes close to its lateral one.
    lateral_fused = R.directional_correlation(fused, truth, axis=1)[3:11].mean()
    assert axial_fused > 0.85 * lateral_fused
    with pytest.raises(ValueError, match="one PSF per view"):
        R.fuse_multiview(views, [psf_z])


def test_view_psf_points_along_its_axis_and_a_sheet_shortens_it():
    shape, voxel = (24, 40, 40), (400.0, 200.0, 200.0)
    extents = {}
    for axis in "zyx":
        psf = R.view_psf(shape, voxel, axis, OPTICS)
        assert psf.dtype == np.float32 and abs(psf.sum() - 1) < 1e-5
        assert all(k % 2 == 1 and k <= n for k, n in zip(psf.shape, shape))
        assert np.unravel_index(psf.argmax(), psf.shape) == tuple(k // 2 for k in psf.shape)
        # Second moment (nm²) along each axis: the detection axis is the long one.
        spread = [float(np.sum(psf.sum(axis=tuple(j for j in range(3) if j != i))
                               * ((np.arange(psf.shape[i]) - psf.shape[i] // 2) * voxel[i]) ** 2)) for i in range(3)]
        assert int(np.argmax(spread)) == "zyx".index(axis), (axis, spread)
        extents[axis] = spread
    sheet = R.view_psf(shape, voxel, "x", OPTICS, sheet_fwhm_nm=1000)
    spread_x = float(np.sum(sheet.sum(axis=(0, 1)) * ((np.arange(sheet.shape[2]) - sheet.shape[2] // 2) * 200.0) ** 2))
    assert spread_x < 0.2 * extents["x"][2]
    with pytest.raises(ValueError, match="3D"):
        R.view_psf((40, 40), (200, 200), "z", OPTICS)


def test_job_fuses_orthogonal_views_more_isotropically_than_one_view():
    truth = phantom((24, 40, 40), kind="vesicles", seed=1)
    psfs = [R.view_psf(truth.shape, (200, 200, 200), a, OPTICS, sheet_fwhm_nm=1500) for a in "zx"]
    views = _views(truth, psfs)
    spec = R.FuseSpec(num_iter=15, psf=OPTICS, view_axes=["z", "x"], sheet_fwhm_nm=1500, align=False)
    fused, axes, info = R.run_job(np.stack(views), META, spec, device="cpu")
    assert axes == "ZYX" and fused.shape == truth.shape and "shifts_px = " in info
    np.testing.assert_allclose(fused, R.fuse_multiview(views, psfs, num_iter=15, device="cpu"), rtol=1e-5, atol=1e-6)
    axial, lateral = _axial_lateral(fused, truth)
    single_axial, single_lateral = _axial_lateral(richardson_lucy(views[0], psfs[0], num_iter=30, device="cpu"), truth)
    raw_axial, _ = _axial_lateral(views[0], truth)
    assert axial > single_axial + 0.3 and axial > raw_axial + 0.1, (axial, single_axial, raw_axial)
    assert axial / lateral > 0.8 > single_axial / single_lateral, (axial, lateral, single_axial, single_lateral)


def test_views_are_aligned_onto_view_one_first():
    truth = phantom((16, 32, 32), kind="vesicles", seed=4)
    psf = _gaussian_psf((1.5, 1.5, 1.5), (7, 7, 7))
    view = _views(truth, [psf], photons=2000)[0]
    moved = np.roll(view, (1, -2, 3), axis=(0, 1, 2))
    fused, shifts = R.fuse_views([view, moved], [psf, psf], num_iter=3, register=True, device="cpu")
    np.testing.assert_allclose(shifts[1], [-1, 2, -3], atol=0.15)
    assert np.isfinite(fused).all()


def test_cancel_between_iterations():
    views = [np.ones((8, 16, 16), np.float32)] * 2
    psf = _gaussian_psf((1, 1, 1), (3, 3, 3))
    seen = []
    with pytest.raises(R.FusionCancelled, match="after 2 of 50"):
        R.fuse_multiview(views, [psf, psf], num_iter=50, device="cpu", progress=lambda d, t: seen.append(d),
                         cancel=lambda: len(seen) >= 2)


@pytest.mark.parametrize("axes,shape,spec,words", [
    ("ZYX", (16, 32, 32), {"psf": OPTICS, "view_axes": ["z"]}, "two or more views as channels"),
    ("TCYX", (2, 2, 32, 32), {"psf": OPTICS, "view_axes": ["z", "x"]}, "time axis"),
    ("CZYX", (2, 16, 32, 32), {}, "No PSFs"),
    ("CZYX", (2, 16, 32, 32), {"psf": OPTICS, "view_axes": ["z"]}, "one axis per view"),
    ("CYX", (2, 32, 32), {"psf": OPTICS, "view_axes": ["z", "x"]}, "for 2D views upload one PSF per view"),
    ("CZYX", (2, 4, 32, 32), {"psf": OPTICS, "view_axes": ["z", "x"]}, "too small"),
])
def test_check_job_says_what_to_change(axes, shape, spec, words):
    meta = TiffMeta(axes=axes, pixel_size_um=0.2, z_step_um=0.2)
    with pytest.raises(ValueError, match=words):
        R.check_job(np.ones(shape, np.float32), meta, R.FuseSpec(**spec))


def test_uploaded_psf_stack_needs_one_psf_per_view():
    image = np.ones((2, 16, 32, 32), np.float32)
    psf = _gaussian_psf((1, 1, 1), (5, 5, 5))
    R.check_job(image, META, R.FuseSpec(), np.stack([psf, psf]), TiffMeta(axes="CZYX"))
    with pytest.raises(ValueError, match="one PSF per view"):
        R.check_job(image, META, R.FuseSpec(), psf, TiffMeta(axes="ZYX"))
