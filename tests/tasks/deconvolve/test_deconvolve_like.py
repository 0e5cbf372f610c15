"""`fluorecon train deconvolve --like` (fluorecon.tasks.deconvolve.like over the shared fit of fluorecon.train_like):
a tiny raw frame → a valid deconvolution card with the fitted camera, the given optics in its PSF and fresh QC
statistics; fine-tuning starts from the shipped weights; a missing NA is refused before anything is written."""

import numpy as np
import onnxruntime as ort
import pytest
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from fluorecon.cli import app
from like_helpers import bead_stack, widefield_frame
from fluorecon.core.io import TiffMeta, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.qc.ood import FEATURES
from fluorecon.imaging.noise import CameraNoise
from fluorecon.qc.training_inputs import training_inputs
from fluorecon.tasks.denoise.learned import make_psf
from fluorecon.like_tasks import train_like_for
from fluorecon.train_like import LikeSettings, default_base_model, fit_camera

runner = CliRunner()


@pytest.fixture(scope="module")
def frame():
    """A blurred phantom seen by a camera with gain 2.5, offset 100 (a user's raw widefield frame)."""
    return widefield_frame(CameraNoise(photons=60, gain=2.5, offset=100.0, read_noise_e=2.0), seed=5)


def _run(x, path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_cli_train_deconvolve_like_writes_a_card_with_the_fit_and_qc(tmp_path, frame):
    write_tiff(tmp_path / "frame.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.065))
    r = runner.invoke(app, ["train", "deconvolve", "--like", str(tmp_path / "frame.tif"), "--na", "1.4",
                            "--ni", "1.515", "--wavelength-nm", "600", "--out", str(tmp_path / "mine.onnx"), "--steps", "2",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "Richardson–Lucy" in r.output and "OOD check of frame.tif: before" in r.output
    card = read_card(tmp_path / "mine.onnx")
    t = card.train
    assert card.task == "deconvolve" and card.name == "CARE deconvolution fitted to frame"
    assert t["fitted_pixel_size_source"] == "image calibration" and t["pixel_size_nm"] == "65"
    assert '"na":1.4' in t["psf"] and '"ni":1.515' in t["psf"] and '"wavelength_nm":600.0' in t["psf"] and '"pixel_size_nm":65.0' in t["psf"]
    expected = fit_camera(frame)
    assert float(t["fitted_gain"]) == pytest.approx(expected.gain, rel=1e-4)
    assert float(t["fitted_photons"]) == pytest.approx(expected.photons, rel=1e-4)
    assert CameraNoise.model_validate_json(t["noise_model"]).offset == pytest.approx(expected.offset)
    assert "care_deconvolve_2d.onnx" in t["fine_tuned_from"]
    assert {"val_psnr_care", "val_psnr_base", "val_psnr_rl", "val_psnr_input"} <= set(card.metrics)
    assert card.qc["pixel_size_nm"] == "65" and card.qc["features"].split(",") == list(FEATURES)
    # The simulated inputs' bright level is the fitted peak (photons are per unit of the sharp phantom).
    redrawn = training_inputs(card, n=2, seed=3)
    bright = np.mean([np.percentile(gaussian_filter(x, 1), 99.8) for x in redrawn])
    assert (bright - expected.offset) / expected.gain == pytest.approx(expected.photons, rel=0.5)
    assert (tmp_path / "mine.pt").is_file()


def test_fine_tuning_starts_from_the_shipped_deconvolution_weights(tmp_path, frame):
    settings = LikeSettings(na=1.2, wavelength_nm=520, pixel_size_nm=100, steps=1, batch_size=1, lr=1e-12,
                            n_images=3, device="cpu")
    card, path, fit = train_like_for("deconvolve", frame, tmp_path / "m.onnx", settings, progress=False)
    x = np.random.default_rng(3).normal(size=(1, 1, 64, 64)).astype(np.float32)
    assert np.abs(_run(x, path) - _run(x, default_base_model("deconvolve"))).max() < 1e-4
    # The simulation's PSF is the one of the given optics at the given pixel size.
    assert fit.simulation.psf.na == 1.2 and fit.simulation.psf.pixel_size_nm == 100
    np.testing.assert_allclose(make_psf(fit.simulation).sum(), 1.0, rtol=1e-4)


def test_train_deconvolve_like_needs_the_na(tmp_path, frame):
    write_tiff(tmp_path / "raw.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.1))
    r = runner.invoke(app, ["train", "deconvolve", "--like", str(tmp_path / "raw.tif"), "--wavelength-nm", "520",
                            "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2
    assert ("Error: --like needs --na: image files do not record the objective's NA or the emission wavelength, and "
            "a guessed value would be trained in as if measured.") in r.output
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.pt").exists()


CAMERA_MESSAGE = "--gain (ADU per photon), --background (camera offset, ADU) and --read-noise-e (electrons)"


@pytest.mark.parametrize("seed", [0, 3])
def test_camera_gain_of_a_sparse_bead_stack_comes_from_every_plane(seed):
    stack = bead_stack(seed)
    focus = stack[len(stack) // 2]
    # One 64² plane has too few background-free blocks to show shot noise: refused, naming the calibration options.
    with pytest.raises(ValueError, match="no shot noise found") as err:
        fit_camera(focus)
    assert CAMERA_MESSAGE in str(err.value) and "give the whole stack" in str(err.value)
    fit = fit_camera(focus, stack=stack)
    assert fit.gain == pytest.approx(2.0, rel=0.12)
    assert 0 < fit.gain_sd < 0.2 and "21 planes of the stack" in fit.how
    # Offset and read noise are folded, but the variance they give at the sheet's centre is the camera's.
    background = 100.0 + 2.0 * 1000 * 0.09
    assert fit.gain * (background - fit.offset) + (fit.gain * fit.read_noise_e) ** 2 == pytest.approx(
        2.0 * (background - 100.0) + (2.0 * 2.0) ** 2, rel=0.2)


def test_a_given_camera_calibration_replaces_the_estimate():
    stack = bead_stack(1)
    focus = stack[len(stack) // 2]
    fit = fit_camera(focus, gain=2.0, offset=100.0, read_noise_e=2.0)
    assert (fit.gain, fit.offset, fit.read_noise_e, fit.how) == (2.0, 100.0, 2.0, "given (camera calibration)")
    assert fit.noise.b == pytest.approx(2.0**2 * 2.0**2 - 2.0 * 100.0)
    assert fit.photons == pytest.approx((fit.bright_level - 100.0) / 2.0)
    # Gain alone: the rest comes from the line with that slope, through every plane.
    partial = fit_camera(focus, stack=stack, gain=2.0)
    assert partial.gain == 2.0 and partial.how == "gain given, the rest estimated from the 21 planes of the stack"
    # Offset folded at the dark level (the sheet's edge, ~23 photons): the variance there is the camera's.
    dark = partial.dark_level
    assert partial.offset == pytest.approx(dark)
    assert (partial.gain * partial.read_noise_e) ** 2 == pytest.approx(2.0 * (dark - 100.0) + 16.0, rel=0.3)


def test_cli_like_on_a_bead_plane_asks_for_the_camera_and_fits_the_stack(tmp_path):
    stack = bead_stack(0)
    write_tiff(tmp_path / "plane.tif", stack[10], TiffMeta(axes="YX", pixel_size_um=0.1))
    args = ["--na", "1.1", "--wavelength-nm", "520", "--steps", "1", "--device", "cpu"]
    r = runner.invoke(app, ["train", "deconvolve", "--like", str(tmp_path / "plane.tif"), *args,
                            "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2 and "no shot noise found" in r.output
    assert CAMERA_MESSAGE in " ".join(r.output.split())
    assert not list(tmp_path.glob("x.*"))
    write_tiff(tmp_path / "stack.tif", stack, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.2))
    r = runner.invoke(app, ["train", "deconvolve", "--like", str(tmp_path / "stack.tif"), *args,
                            "--out", str(tmp_path / "bead.onnx")])
    assert r.exit_code == 0, r.output
    t = read_card(tmp_path / "bead.onnx").train
    assert t["fitted_to"] == "stack.tif (plane 10 of 21)" and float(t["fitted_gain"]) == pytest.approx(2.0, rel=0.12)
    assert "OOD check of stack.tif: before" in r.output
