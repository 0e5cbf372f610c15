"""Stabilisation: sub-pixel drift (vs scikit-image and the simulated truth), SMLM RCC drift and
the CLI. Deformable registration: test_register_deform.py; multiview fusion: test_fusion.py."""

import csv

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.tasks.register.physics import apply_drift, simulate_drift, simulate_drifting_localizations
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.register import classical as R


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


def test_drift_is_at_least_as_accurate_as_scikit_image_and_batches_agree(monkeypatch):
    frames, drift = _drifting_series(n=12, shape=(96, 96), photons=300, seed=7)
    calls = []
    ours = R.estimate_drift(frames, upsample=20, progress=lambda done, total: calls.append((done, total)))
    theirs = np.array([-phase_cross_correlation(frames[0], f, upsample_factor=20, normalization=None)[0]
                       for f in frames])
    assert np.abs(ours - drift).max() <= max(np.abs(theirs - drift).max(), 0.1)
    assert calls[-1] == (12, 12)
    # Frames go through the FFTs in batches sized by memory: batch boundaries change nothing.
    budget = R._chunks.__defaults__[0]
    monkeypatch.setattr(R, "_chunks", lambda n, voxels, budget=budget: [(s, min(s + 5, n)) for s in range(0, n, 5)])
    for reference in ("first", "previous"):
        np.testing.assert_allclose(R.estimate_drift(frames, reference=reference),
                                   _unchunked(frames, reference, monkeypatch), atol=1e-9)


def _unchunked(frames, reference, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(R, "_chunks", lambda n, voxels: [(0, n)])
        return R.estimate_drift(frames, reference=reference)


def test_periodic_shift_is_found_to_the_upsampled_grid():
    from fluorecon.tasks.register.physics import fourier_shift

    rng = np.random.default_rng(3)
    base = ndimage.gaussian_filter(rng.random((64, 81)), 2).astype(np.float32)
    shifts = np.array([[0, 0], [1.35, -2.6], [-3.05, 0.45]])
    frames = np.stack([fourier_shift(base, s) for s in shifts])
    np.testing.assert_allclose(R.estimate_drift(frames, upsample=20, highpass_px=0), shifts, atol=0.05 + 1e-9)


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


def test_cli_register_table(tmp_path):
    from fluorecon.cli import app
    from fluorecon.tasks.localize.physics import make_table
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv, write_thunderstorm_csv

    locs, drift = simulate_drifting_localizations(n_frames=4000, drift_nm=100, seed=5)
    write_thunderstorm_csv(tmp_path / "locs.csv", make_table(frame=locs["frame"], x_nm=locs["x_nm"], y_nm=locs["y_nm"]))
    result = CliRunner().invoke(app, ["register-table", str(tmp_path / "locs.csv"), str(tmp_path / "out.csv"),
                                      "--drift-csv", str(tmp_path / "drift.csv")])
    assert result.exit_code == 0, result.output
    corrected = read_thunderstorm_csv(tmp_path / "out.csv")
    truth_x = locs["x_nm"] - drift[locs["frame"], 0]
    assert np.sqrt(np.mean((corrected["x_nm"] - truth_x) ** 2)) < 5.0
