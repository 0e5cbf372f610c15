"""Denoise › Train for my microscope… driven headless from a macro through the real plugin and a real server:
the model fitted to the frame is installed in the plugin's models folder (where Denoise… finds it), the shown
and saved (save=) image is the frame denoised by it (upsampled, twice as large, with model_task=upsample), a
macro without the NA fails with the reason, and a frame without visible shot noise trains with the camera's
calibration given as gain=, background=, read_noise_e= (sent to the server's job as given). Of a two-channel bead
stack, the current channel's whole stack is sent (its camera fitted over every plane) and plane= picks the plane."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile

import ijbridge
from ijbridge import assert_matches, run_plugin


@pytest.fixture(scope="module")
def config_dir(trainer_config_dir):
    """A real server with its own models folder (conftest.trainer_server)."""
    return trainer_config_dir


def _frame():
    from fluorecon.imaging.noise import CameraNoise, apply_noise
    from fluorecon.imaging.phantoms import phantom

    return apply_noise(phantom((96, 96), seed=2), CameraNoise(photons=60, gain=2.5, offset=100, read_noise_e=2), seed=2)


def test_train_for_my_microscope_installs_the_fitted_model_and_saves_its_prediction(config_dir, plugin_jar, tmp_path):
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict

    frame = _frame()
    imp = ijbridge.to_imageplus(frame, "YX", title="raw", pixel_size_um=0.1)
    installed = tmp_path / "models"
    plugin = run_plugin(plugin_jar, "Train for my microscope...", imp,
                        ijbridge.options_string(na=1.2, wavelength_nm=520, steps=2, name="bridge scope",
                                                models_dir=installed, save=tmp_path / "denoised.tif"))
    out = plugin.getResult()
    model = Path(str(plugin.getInstalledModel()))
    assert model == installed / "bridge_scope.onnx" and model.is_file()
    card = read_card(model)
    assert (card.task, card.method, card.name) == ("denoise", "care", "bridge scope")
    assert card.train["pixel_size_nm"] == "100" and card.train["fitted_pixel_size_source"] == "image calibration"
    assert out.getTitle() == "raw-fitted-care" and out.getCalibration().pixelWidth == pytest.approx(0.1)
    assert "model.installed = " + str(model) in str(out.getProperty("Info"))
    expected = predict(frame, model, axes="YX")
    assert_matches(ijbridge.from_imageplus(out)[0, 0, 0], expected)
    assert_matches(tifffile.imread(tmp_path / "denoised.tif"), expected)


def test_train_for_my_microscope_asks_for_the_na(config_dir, plugin_jar, tmp_path):
    imp = ijbridge.to_imageplus(_frame(), "YX", title="raw", pixel_size_um=0.1)
    with pytest.raises(Exception, match="give the objective's numerical aperture"):
        run_plugin(plugin_jar, "Train for my microscope...", imp,
                   ijbridge.options_string(wavelength_nm=520, steps=2, models_dir=tmp_path / "models"))
    assert not (tmp_path / "models").exists()


def test_train_for_my_microscope_upsample_shows_the_frame_twice_as_large(config_dir, plugin_jar, tmp_path):
    """model_task=upsample: the shipped ×2 model is fitted; the result is twice the size at half the pixel size."""
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict

    frame = _frame()
    imp = ijbridge.to_imageplus(frame, "YX", title="raw", pixel_size_um=0.1)
    plugin = run_plugin(plugin_jar, "Train for my microscope...", imp,
                        ijbridge.options_string(model_task="upsample", na=0.8, wavelength_nm=520, steps=2,
                                                name="bridge up", models_dir=tmp_path / "models"))
    out = plugin.getResult()
    model = Path(str(plugin.getInstalledModel()))
    assert read_card(model).task == "upsample" and tuple(read_card(model).scale) == (2, 2)
    assert out.getTitle() == "raw-fitted-upsample" and out.getCalibration().pixelWidth == pytest.approx(0.05)
    assert_matches(ijbridge.from_imageplus(out)[0, 0, 0], predict(frame, model, axes="YX", task="upsample"))


def test_train_for_my_microscope_takes_the_camera_calibration_from_the_macro(config_dir, plugin_jar, tmp_path):
    """A ramp with read noise only shows no shot noise (the server alone refuses it, naming these keys); with
    the camera's calibration in the macro the model is fitted with exactly those values."""
    import numpy as np

    from fluorecon.core.modelcard import read_card

    x = np.mgrid[0:96, 0:96][1]
    frame = (100 + 60 * x / 96 + np.random.default_rng(0).normal(0, 3, (96, 96))).astype(np.float32)
    imp = ijbridge.to_imageplus(frame, "YX", title="flat", pixel_size_um=0.1)
    plugin = run_plugin(plugin_jar, "Train for my microscope...", imp,
                        ijbridge.options_string(na=1.2, wavelength_nm=520, steps=1, name="calibrated scope",
                                                gain=2.5, background=100, read_noise_e=1.2,
                                                models_dir=tmp_path / "models"))
    train = read_card(Path(str(plugin.getInstalledModel()))).train
    assert train["fitted_camera"] == "given (camera calibration)"
    assert (train["fitted_gain"], train["fitted_offset"], train["fitted_read_noise_e"]) == ("2.5", "100", "1.2")


def test_train_for_my_microscope_sends_the_current_channels_stack(config_dir, plugin_jar, tmp_path):
    """Channel 2 holds a sparse bead stack (one plane alone shows no shot noise; tests/like_helpers.py), channel 1 a
    flat frame; with channel 2 current, its 21 planes are sent and the gain is the camera's (2 ADU/photon)."""
    import numpy as np
    from like_helpers import bead_stack

    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict

    stack = bead_stack(0)
    flat = np.full_like(stack, 100.0) + np.random.default_rng(1).normal(0, 3, stack.shape).astype(np.float32)
    imp = ijbridge.to_imageplus(np.stack([flat, stack], axis=1), "ZCYX", title="beads", pixel_size_um=0.1,
                                z_step_um=0.2)
    imp.setC(2)
    plugin = run_plugin(plugin_jar, "Train for my microscope...", imp,
                        ijbridge.options_string(model_task="deconvolve", na=1.1, wavelength_nm=520, steps=1,
                                                name="bridge beads", plane=12, models_dir=tmp_path / "models"))
    model = Path(str(plugin.getInstalledModel()))
    train = read_card(model).train
    assert train["fitted_to"] == "the uploaded image (plane 12 of 21)" and "21 planes of the stack" in train["fitted_camera"]
    assert float(train["fitted_gain"]) == pytest.approx(2.0, rel=0.12)
    assert_matches(ijbridge.from_imageplus(plugin.getResult())[0, 0, 0], predict(stack[12], model, axes="YX"))
