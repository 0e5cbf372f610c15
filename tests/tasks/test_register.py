"""Stabilisation: sub-pixel drift (vs scikit-image and the simulated truth), SMLM RCC drift,
deformable registration, multiview fusion and the CLI."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.registration import phase_cross_correlation
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.imaging.forward import Blur
from fluorecon.imaging.motion import (
    apply_drift, simulate_drift, simulate_drifting_localizations, smooth_displacement, warp,
)
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks import register as R

ROOT = Path(__file__).resolve().parents[2]
DEFORM_MODEL = ROOT / "models" / "register_deform_2d.onnx"


def _drifting_series(n=15, shape=(128, 128), photons=1000, seed=1, texture=False):
    """Frames cut from a larger drifting field: content enters and leaves, as on a microscope.
    `texture`: a dense tissue-like texture instead of a sparse cell phantom."""
    big_shape = tuple(2 * s for s in shape)
    if texture:
        big = ndimage.gaussian_filter(np.random.default_rng(seed).random(big_shape), 2.0)
        big = ((big - big.min()) / np.ptp(big)).astype(np.float32)
    else:
        big = ndimage.gaussian_filter(phantom(big_shape, seed=seed + 2), 1.5)
    drift = simulate_drift(n, len(shape), seed=seed, step_px=0.8, linear_px=0.5)
    crop = tuple(slice(s // 2, s // 2 + s) for s in shape)
    frames = apply_drift(np.stack([big] * n), drift)[(slice(None), *crop)]
    noisy = np.stack([apply_noise(f, CameraNoise(photons=photons), seed=seed * 100 + i) for i, f in enumerate(frames)])
    return noisy, drift


def test_phase_correlation_equals_scikit_image():
    rng = np.random.default_rng(0)
    for shape in [(64, 80), (16, 32, 40)]:
        a = ndimage.gaussian_filter(rng.random(shape), 2).astype(np.float32)
        b = ndimage.shift(a, [1.37, -2.6, 0.8][-len(shape):], mode="wrap")
        want = phase_cross_correlation(a, b, upsample_factor=20)[0]
        np.testing.assert_allclose(R.phase_correlation(a, b, upsample=20), want, atol=1e-9)


@pytest.mark.parametrize("reference,tolerance", [("first", 0.1), ("mean", 0.1), ("previous", 0.2)])
def test_drift_recovered_within_a_tenth_of_a_pixel(reference, tolerance):
    # 'previous' chains frame-to-frame steps, so their errors add up like a random walk over the
    # 15 frames: it gets a wider tolerance (its use is samples that change over time).
    frames, drift = _drifting_series()
    estimate = R.estimate_drift(frames, reference=reference)
    assert estimate.shape == drift.shape and np.all(estimate[0] == 0)
    assert np.abs(estimate - drift).max() < tolerance, np.abs(estimate - drift).max()


def test_drift_3d_and_correction_of_every_channel():
    frames, drift = _drifting_series(n=4, shape=(24, 48, 48), photons=2000, seed=3, texture=True)
    estimate = R.estimate_drift(frames)
    assert np.abs(estimate - drift).max() < 0.1
    two_channel = np.stack([frames, 2 * frames + 5], axis=1)  # T, C, Z, Y, X
    corrected, found = R.register_time_series(two_channel, axes="TCZYX", channel=1, mode="fourier")
    np.testing.assert_allclose(found, estimate, atol=1e-6)  # channel 2 is channel 1 scaled
    inner = (slice(None), slice(4, -4), slice(8, -8), slice(8, -8))
    for c in range(2):
        spread = corrected[:, c][inner].std(axis=0).mean() / corrected[:, c][inner].mean()
        before = two_channel[:, c][inner].std(axis=0).mean() / two_channel[:, c][inner].mean()
        assert spread < 0.6 * before
    with pytest.raises(ValueError, match="no time axis"):
        R.register_time_series(frames[0], axes="ZYX")


def test_smlm_rcc_drift_within_5_nm_rms():
    table, drift = simulate_drifting_localizations(n_frames=4000, drift_nm=150, seed=2)
    estimate = R.rcc_drift(table["x_nm"], table["y_nm"], table["frame"], n_segments=15, pixel_nm=20)
    rms = float(np.sqrt(np.mean(np.sum((estimate - drift) ** 2, axis=1))))
    assert rms < 5.0, rms
    x, y = R.correct_table(table["x_nm"], table["y_nm"], table["frame"], estimate)
    assert np.sqrt(np.mean((x - (table["x_nm"] - drift[table["frame"], 0])) ** 2)) < 5.0


def _deformed_pair(seed=0):
    moving = ndimage.gaussian_filter(phantom((128, 128), seed=50 + seed), 1.0)
    field = smooth_displacement(moving.shape, amplitude_px=2.0, smoothness_px=10, seed=seed)
    rng = np.random.default_rng(seed)
    fixed = warp(moving, field) + rng.normal(scale=0.02, size=moving.shape).astype(np.float32)
    return fixed, moving + rng.normal(scale=0.02, size=moving.shape).astype(np.float32), moving, field


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def test_optical_flow_lowers_field_error_and_residual():
    fixed, moving, clean, field = _deformed_pair()
    for method in ("tvl1", "ilk"):
        flow = R.optical_flow(fixed, moving, method=method)
        assert flow.shape == field.shape
        assert _rms(flow - field) < 0.6 * _rms(field)
        assert _rms(warp(clean, flow) - fixed) < 0.5 * _rms(clean - fixed)


def test_learned_registration_lowers_residual():
    from fluorecon.core.modelcard import read_card

    assert DEFORM_MODEL.is_file(), "models/register_deform_2d.onnx is missing: run R.build_register_model"
    assert read_card(DEFORM_MODEL).task == "register"
    fixed, moving, clean, field = _deformed_pair(seed=3)
    flow = R.register_learned(fixed, moving, DEFORM_MODEL)
    assert flow.shape == field.shape
    assert _rms(flow - field) < 0.8 * _rms(field)
    assert _rms(warp(clean, flow) - fixed) < 0.7 * _rms(clean - fixed)


def test_deform_network_trains_and_warps_differentiably():
    torch.manual_seed(0)
    net, losses = R.train_deform_network(steps=2, batch_size=1, patch=32, filters=4, depth=2, pool=1)
    assert len(losses) == 2 and all(np.isfinite(losses))
    img = torch.rand(1, 1, 16, 16)
    shift = torch.zeros(1, 2, 16, 16)
    shift[:, 1] = 1.0  # sample one pixel to the right
    out = R.spatial_transform(img, shift)
    torch.testing.assert_close(out[..., :-1], img[..., 1:])


def _gaussian_psf(sigmas, size=(15, 15, 15)):
    grid = np.meshgrid(*[np.arange(n) - n // 2 for n in size], indexing="ij")
    psf = np.exp(-sum(g**2 / (2 * s**2) for g, s in zip(grid, sigmas)))
    return (psf / psf.sum()).astype(np.float32)


def test_multiview_fusion_improves_axial_resolution():
    from fluorecon.tasks.deconvolve import richardson_lucy

    truth = phantom((24, 40, 40), kind="vesicles", seed=1)
    psf_z, psf_x = _gaussian_psf((4, 1.2, 1.2)), _gaussian_psf((1.2, 1.2, 4))  # two views at 90°
    camera = CameraNoise(photons=200, offset=0, read_noise_e=0)
    views = [apply_noise(Blur(p, image_shape=truth.shape, device="cpu").A(torch.from_numpy(truth)).numpy(), camera,
                         seed=i) / 200 for i, p in enumerate((psf_z, psf_x))]
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


def test_cli_register_writes_stack_csv_and_plot(tmp_path):
    from fluorecon.cli import app

    frames, drift = _drifting_series(n=6, shape=(64, 64), seed=4)
    series = np.stack([frames, frames * 0.5], axis=1)  # T, C, Y, X
    write_tiff(tmp_path / "in.tif", series, TiffMeta(axes="TCYX", pixel_size_um=0.2))
    result = CliRunner().invoke(app, ["register", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--reference", "mean", "--drift-csv", str(tmp_path / "d.csv"),
                                      "--plot", str(tmp_path / "d.png")])
    assert result.exit_code == 0, result.output
    out, meta = read_tiff(tmp_path / "out.tif")
    assert out.shape == series.shape and meta.axes == "TCYX"
    expected, _ = R.register_time_series(series, axes="TCYX", reference="mean")
    np.testing.assert_allclose(out, expected, atol=1e-4)
    with open(tmp_path / "d.csv") as fh:
        rows = list(csv.DictReader(fh))
    got = np.array([[float(r["dy_px"]), float(r["dx_px"])] for r in rows])
    assert np.abs(got - drift).max() < 0.1 and abs(float(rows[1]["dy_um"]) - 0.2 * got[1, 0]) < 1e-3
    assert (tmp_path / "d.png").stat().st_size > 1000
    bad = CliRunner().invoke(app, ["register", str(tmp_path / "in.tif"), str(tmp_path / "o.tif"), "--reference", "last"])
    assert bad.exit_code != 0 and "first, previous or mean" in bad.output


def test_cli_register_table_and_fuse(tmp_path):
    from fluorecon.cli import app
    from fluorecon.imaging.smlm import make_table
    from fluorecon.tasks.localize import read_thunderstorm_csv, write_thunderstorm_csv

    locs, drift = simulate_drifting_localizations(n_frames=4000, drift_nm=100, seed=5)
    write_thunderstorm_csv(tmp_path / "locs.csv", make_table(frame=locs["frame"], x_nm=locs["x_nm"], y_nm=locs["y_nm"]))
    result = CliRunner().invoke(app, ["register-table", str(tmp_path / "locs.csv"), str(tmp_path / "out.csv"),
                                      "--drift-csv", str(tmp_path / "drift.csv")])
    assert result.exit_code == 0, result.output
    corrected = read_thunderstorm_csv(tmp_path / "out.csv")
    truth_x = locs["x_nm"] - drift[locs["frame"], 0]
    assert np.sqrt(np.mean((corrected["x_nm"] - truth_x) ** 2)) < 5.0

    truth = phantom((16, 32, 32), kind="vesicles", seed=2)
    psfs = [_gaussian_psf((3, 1, 1), (9, 9, 9)), _gaussian_psf((1, 1, 3), (9, 9, 9))]
    paths = []
    for i, p in enumerate(psfs):
        view = Blur(p, image_shape=truth.shape, device="cpu").A(torch.from_numpy(truth)).numpy()
        write_tiff(tmp_path / f"v{i}.tif", view, TiffMeta(axes="ZYX"))
        write_tiff(tmp_path / f"p{i}.tif", p, TiffMeta(axes="ZYX"))
        paths.append(str(tmp_path / f"v{i}.tif"))
    result = CliRunner().invoke(app, ["fuse", *paths, str(tmp_path / "fused.tif"), "--psf", str(tmp_path / "p0.tif"),
                                      "--psf", str(tmp_path / "p1.tif"), "--iterations", "10", "--no-register"])
    assert result.exit_code == 0, result.output
    fused, _ = read_tiff(tmp_path / "fused.tif")
    expected = R.fuse_multiview([read_tiff(p)[0] for p in paths], psfs, num_iter=10)
    np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-5)
