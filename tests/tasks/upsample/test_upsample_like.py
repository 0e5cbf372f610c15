"""`fluorecon train upsample --like` (fluorecon.tasks.upsample.like over the shared fit of fluorecon.train_like): the
user's frame is the model's input (its pixel size the coarse one); the card is a valid ×2 card with the fitted
camera, the given NA as na_low, the forward model and fresh QC statistics; fine-tuning starts from the shipped
weights (the ONNX initializers carry the UpsampleNet's ``unet.`` prefix); a missing NA is refused."""

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from like_helpers import widefield_frame
from fluorecon.core.io import TiffMeta, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.imaging.noise import CameraNoise
from fluorecon.infer import predict
from fluorecon.qc.training_inputs import training_inputs
from fluorecon.like_tasks import train_like_for
from fluorecon.train_like import LikeSettings, default_base_model, fit_camera

runner = CliRunner()


@pytest.fixture(scope="module")
def frame():
    return widefield_frame(CameraNoise(photons=50, gain=2.0, offset=100.0, read_noise_e=1.5), seed=6)


def test_cli_train_upsample_like_writes_a_x2_card_with_the_fit_and_qc(tmp_path, frame):
    write_tiff(tmp_path / "frame.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.16))
    r = runner.invoke(app, ["train", "upsample", "--like", str(tmp_path / "frame.tif"), "--na", "0.75",
                            "--wavelength-nm", "560", "--out", str(tmp_path / "up.onnx"), "--steps", "2",
                            "--batch-size", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "bicubic" in r.output and "fitted CARE" in r.output
    card = read_card(tmp_path / "up.onnx")
    t = card.train
    assert card.task == "upsample" and tuple(card.scale) == (2, 2)
    assert t["pixel_size_nm"] == "80" and t["na_low"] == "0.75" and t["na_high"] == "1.4" and t["wavelength_nm"] == "560"
    expected = fit_camera(frame)
    assert float(t["fitted_gain"]) == pytest.approx(expected.gain, rel=1e-4)
    assert float(t["photons"]) == pytest.approx(expected.photons, rel=1e-4)
    assert "care_upsample2x_2d.onnx" in t["fine_tuned_from"]
    assert {"val_psnr_care", "val_psnr_base", "val_psnr_bicubic", "val_psnr_rl"} <= set(card.metrics)
    assert card.qc["pixel_size_nm"] == "160" and "forward_model" in card.qc and "features" in card.qc
    assert training_inputs(card, n=1, seed=2)[0].shape == (128, 128)  # low-res inputs of 256² fine images
    out = predict(frame, tmp_path / "up.onnx", task="upsample")
    assert out.shape == (192, 192)


def test_fine_tuning_starts_from_the_shipped_upsampling_weights(tmp_path, frame):
    settings = LikeSettings(na=0.8, wavelength_nm=520, pixel_size_nm=100, steps=1, batch_size=1, lr=1e-12,
                            n_images=3, device="cpu")
    _, path, fit = train_like_for("upsample", frame, tmp_path / "m.onnx", settings, progress=False)
    x = np.random.default_rng(4).normal(size=(1, 1, 32, 32)).astype(np.float32)

    def run(p):
        return ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]

    assert np.abs(run(path) - run(default_base_model("upsample"))).max() < 1e-4
    assert fit.simulation.pixel_size_nm == 50 and fit.simulation.na_low == 0.8


def test_train_upsample_like_needs_the_na(tmp_path, frame):
    write_tiff(tmp_path / "raw.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.1))
    r = runner.invoke(app, ["train", "upsample", "--like", str(tmp_path / "raw.tif"), "--wavelength-nm", "520",
                            "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2 and "Error: --like needs --na: image files do not record" in r.output
    assert not (tmp_path / "x.onnx").exists()
