"""Train for my microscope (fluorecon.tasks.denoise.like): the camera fitted to a simulated image with a known
camera, fine-tuning that starts from the shipped weights, and `fluorecon train denoise --like` end to end on a
tiny image (a valid card with the estimates, the fitted simulation and fresh QC statistics)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy.signal import fftconvolve
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.qc.ood import FEATURES
from fluorecon.export import unet_from_onnx
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.qc.training_inputs import training_inputs
from fluorecon.tasks.denoise.like import LikeSettings, default_base_model, fit_camera, train_like

runner = CliRunner()
CAMERA = CameraNoise(photons=60, gain=2.5, offset=100.0, read_noise_e=2.0)


def _acquire(shape, seed, camera=CAMERA):
    """A blurred phantom seen by `camera` (what a user's raw frame is)."""
    obj = phantom(shape, kind="mixed", seed=seed)
    r = np.arange(-5, 6)
    g = np.exp(-np.add.outer(r ** 2, r ** 2) / (2 * 1.5 ** 2))
    obj = np.clip(fftconvolve(obj, g / g.sum(), mode="same"), 0, None)
    return apply_noise(obj / obj.max(), camera, seed=seed)


def test_fit_camera_recovers_gain_offset_and_noise_of_a_known_camera():
    fit = fit_camera(_acquire((256, 256), seed=4))
    assert fit.gain == pytest.approx(CAMERA.gain, rel=0.2)
    assert fit.offset == pytest.approx(CAMERA.offset, abs=3.0)
    # Offset and read noise are folded together, but the variance they give must be the camera's.
    for level in (0.1, 0.5):
        mean = CAMERA.mean(np.float32(level))
        fitted_var = fit.gain * (mean - fit.offset) + (fit.gain * fit.read_noise_e) ** 2
        assert fitted_var == pytest.approx(float(CAMERA.variance(np.float32(level))), rel=0.25)
    assert fit.photons == pytest.approx(CAMERA.photons, rel=0.35)


def test_fit_camera_refuses_an_image_without_shot_noise():
    flat = np.random.default_rng(0).normal(100, 3, (64, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="no shot noise"):
        fit_camera(flat)


def test_shipped_weights_map_back_from_onnx():
    network, card = unet_from_onnx(default_base_model())
    x = np.random.default_rng(1).normal(size=(1, 1, 48, 56)).astype(np.float32)
    session = ort.InferenceSession(str(default_base_model()), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        got = network(torch.from_numpy(x)).numpy()
    assert card.task == "denoise"
    np.testing.assert_allclose(got, session.run(None, {"input": x})[0], atol=1e-4)


@pytest.fixture(scope="module")
def frame():
    return _acquire((96, 96), seed=2)


def _predict(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("from_scratch", [False, True])
def test_fine_tuning_starts_from_the_shipped_weights(tmp_path, frame, from_scratch):
    # One step at a vanishing learning rate: the exported model is the starting point.
    settings = LikeSettings(na=1.2, wavelength_nm=520, pixel_size_nm=100, steps=1, batch_size=1, lr=1e-12,
                            n_images=3, from_scratch=from_scratch, device="cpu")
    _, path, _ = train_like(frame, tmp_path / "m.onnx", settings, progress=False)
    x = np.random.default_rng(3).normal(size=(1, 1, 64, 64)).astype(np.float32)
    same = np.abs(_predict(path, x) - _predict(default_base_model(), x)).max()
    if from_scratch:
        assert same > 1e-2  # random weights (a residual net starting as the identity) are not the shipped model
    else:
        assert same < 1e-4


def test_cli_train_like_writes_a_card_with_the_fitted_camera_and_qc(tmp_path, frame):
    write_tiff(tmp_path / "frame.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.08))
    r = runner.invoke(app, ["train", "denoise", "--like", str(tmp_path / "frame.tif"), "--na", "1.4", "--ni", "1.515",
                            "--wavelength-nm", "600", "--out", str(tmp_path / "mine.onnx"), "--steps", "2",
                            "--batch-size", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "OOD check of frame.tif: before" in r.output and "fitted CARE" in r.output
    card = read_card(tmp_path / "mine.onnx")
    t = card.train
    assert card.task == "denoise" and card.method == "care" and card.name == "CARE denoising fitted to frame"
    assert t["fitted_to"] == "frame.tif" and t["fitted_pixel_size_source"] == "image calibration"
    assert float(t["pixel_size_nm"]) == pytest.approx(80) and '"na":1.4' in t["psf"] and '"ni":1.515' in t["psf"] and '"wavelength_nm":600.0' in t["psf"]
    expected = fit_camera(frame)
    assert float(t["fitted_gain"]) == pytest.approx(expected.gain, rel=1e-4)
    assert float(t["fitted_offset"]) == pytest.approx(expected.offset, rel=1e-4)
    recorded = CameraNoise.model_validate_json(t["noise_model"])  # the simulated camera is the fitted one
    assert recorded.gain == pytest.approx(expected.gain) and recorded.offset == pytest.approx(expected.offset)
    assert "fine_tuned_from" in t and "care_denoise_2d.onnx" in t["fine_tuned_from"]
    assert "fitted to frame.tif: pixel size 80 nm (image calibration)" in t["fitted"]
    assert {"val_psnr_care", "val_psnr_base", "val_psnr_input"} <= set(card.metrics)
    assert card.qc["pixel_size_nm"] == "80" and card.qc["features"].split(",") == list(FEATURES)
    assert float(card.qc["feature_threshold"]) >= 4
    # The card records the fitted simulation so that its training inputs can be redrawn (qc.training_inputs).
    redrawn = training_inputs(card, n=1, seed=9)[0]
    assert redrawn.shape == (256, 256) and abs(np.median(redrawn) - np.median(frame)) < 0.5 * np.ptp(frame)
    assert (tmp_path / "mine.pt").is_file()


def test_cli_train_like_asks_for_the_optics_it_cannot_read(tmp_path, frame):
    write_tiff(tmp_path / "raw.tif", frame, TiffMeta(axes="YX"))
    base = ["train", "denoise", "--like", str(tmp_path / "raw.tif"), "--out", str(tmp_path / "x.onnx")]
    r = runner.invoke(app, base + ["--wavelength-nm", "520"])
    assert r.exit_code == 2 and "--like needs --na" in r.output
    r = runner.invoke(app, base + ["--na", "1.2", "--wavelength-nm", "520", "--steps", "1"])
    assert r.exit_code == 2 and "raw.tif has no pixel size in its metadata" in r.output
    assert not (tmp_path / "x.onnx").exists()
