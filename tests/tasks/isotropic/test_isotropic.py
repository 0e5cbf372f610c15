"""Isotropic restoration: the z-stretch is torch's linear interpolation; training inputs carry camera
noise along the degraded axis; a briefly trained model improves axial FRC and PSNR against the
isotropic truth; `fluorecon predict` fuses two views and writes the isotropic calibration; a
mismatched z step is refused; the shipped model's result passes its own data-consistency QC."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.infer import InputError
from fluorecon.nets.unet import UNetConfig
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.isotropic.learned import (IsotropicConfig, IsotropicSimulation, axial_frc, restore_isotropic,
                                       simulate_stack, stretch, train_isotropic, training_pairs)
from fluorecon.train import TrainConfig, match_to_input

torch.set_num_threads(1)
SIM = IsotropicSimulation(shape=(32, 64, 64), z_factor=4, n_stacks=3, photons=300, seed=2)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    config = IsotropicConfig(z_factor=4, simulation=SIM, unet=UNetConfig(ndim=2, depth=2, filters=8),
                             train=TrainConfig(steps=220, batch_size=8, patch_size=(32, 32), lr=3e-3, loss="l2",
                                                   device="cpu"),
                             val_fraction=0.34)
    card, path = train_isotropic(config, tmp_path_factory.mktemp("iso") / "iso.onnx", progress=False)
    return card, path


def test_stretch_is_half_pixel_linear_interpolation():
    a = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    want = F.interpolate(torch.from_numpy(a)[None, None], scale_factor=(3, 1, 1), mode="trilinear",
                         align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(stretch(a, 3, axis=0), want, atol=1e-6)


def test_training_inputs_carry_camera_noise_along_the_degraded_axis():
    """A flat noisy stack: blur + block mean average a lateral plane's noise away (input variance
    ≪ the target's); with `noise` every block sample gets the camera's variance back, so after the
    linear ×4 stretch (weights w, 1 − w at offsets 1/8, 3/8, 5/8, 7/8) the input's variance is
    mean(w² + (1 − w)²) = 0.656 of the target's, as for a real acquired z-stack."""
    from fluorecon.imaging.noise import CameraNoise, apply_noise

    cam = CameraNoise(photons=200, gain=2.0, offset=100.0, read_noise_e=1.5)
    stack = apply_noise(np.full((3, 96, 96), 1.0, np.float32), cam, seed=0)

    def ratio(noise):
        pairs = training_pairs([stack], z_factor=4, sigma_extra_px=4.4, noise=noise, seed=1)
        return np.mean([x[:, 8:-8].var() / y[:, 8:-8].var() for x, y in pairs])

    assert ratio(True) == pytest.approx(0.656, abs=0.04)
    assert ratio(False) < 0.1


def test_restoration_improves_axial_frc_and_psnr(model):
    card, path = model
    assert card.task == "isotropic" and card.train["z_factor"] == "4"
    first, truth = simulate_stack(SIM, seed=31337)
    second, _ = simulate_stack(SIM, seed=31337, noise_seed=4242)
    ra, rb = restore_isotropic(first, path, threads=1)[0], restore_isotropic(second, path, threads=1)[0]
    sa, sb = stretch(first, 4), stretch(second, 4)
    assert ra.shape == truth.shape == (32, 64, 64)
    frc_interp = axial_frc(sa, sb, pixel_size_nm=SIM.pixel_size_nm)
    frc_care = axial_frc(ra, rb, pixel_size_nm=SIM.pixel_size_nm)
    assert frc_care < 0.97 * frc_interp, (frc_care, frc_interp)

    def fitted_psnr(est):
        a, b = match_to_input(est, truth)
        return psnr(est * a + b, truth)

    assert fitted_psnr(ra) > fitted_psnr(sa) + 0.3


def test_predict_command_writes_isotropic_calibration(model, tmp_path):
    from fluorecon.cli import app

    _, path = model
    stack, _ = simulate_stack(SIM, seed=5)
    write_tiff(tmp_path / "in.tif", stack, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.4))
    result = CliRunner().invoke(app, ["predict", str(path), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    out, meta = read_tiff(tmp_path / "out.tif")
    assert out.shape == (32, 64, 64)
    assert meta.z_step_um == pytest.approx(0.1) and meta.pixel_size_um == pytest.approx(0.1)
    np.testing.assert_allclose(out, restore_isotropic(stack, path)[0], atol=1e-3)


def test_mismatched_z_step_and_2d_image_are_refused(model):
    _, path = model
    stack = np.zeros((8, 16, 16), np.float32)
    with pytest.raises(InputError, match="z step is 2× its pixel size.*trained for 4×"):
        restore_isotropic(stack, path, meta=TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.2))
    with pytest.raises(InputError, match="z-stack"):
        restore_isotropic(np.zeros((16, 16)), path, meta=TiffMeta(axes="YX"))


def test_shipped_model_beats_z_interpolation():
    """models/care_isotropic_2d.onnx on a held-out stack (seed unseen in training): fitted PSNR
    against the isotropic truth above linear z-interpolation's."""
    from fluorecon.core.modelcard import read_card

    path = __import__("pathlib").Path(__file__).resolve().parents[3] / "models" / "care_isotropic_2d.onnx"
    card = read_card(path)
    sim = IsotropicSimulation.model_validate_json(card.train["simulation"]).model_copy(update={"shape": (32, 64, 64)})
    stack, truth = simulate_stack(sim, seed=20261126)
    restored = restore_isotropic(stack, path, threads=1)[0]
    interp = stretch(stack, sim.z_factor)

    def fitted_psnr(est):
        a, b = match_to_input(est, truth)
        return psnr(est * a + b, truth)

    # Published (card, models/README): CARE 28.3 vs z-interpolation 22.8 dB, +5.4 dB on a held-out 48×128²
    # stack (measured again for issue 18 on this seed at 48×128²: +5.5 dB, 67 s here: too slow for make test).
    # This 32×64² stack has fewer in-focus planes to learn from: +3.6 dB measured. Asserted: that − 1 dB.
    lead = fitted_psnr(restored) - fitted_psnr(interp)
    assert lead >= 3.6 - 1.0, (fitted_psnr(restored), fitted_psnr(interp))


def test_shared_vector_reproduces_restore_isotropic():
    """tests/vectors/isotropic.json (JUnit's IsotropicJobTest reads it too) still matches this code."""
    import json
    from pathlib import Path

    from fluorecon.infer import Predictor

    vectors = Path(__file__).resolve().parents[2] / "vectors"
    v = json.loads((vectors / "isotropic.json").read_text())
    stack, meta = read_tiff(vectors / v["input"])
    expected, _ = read_tiff(vectors / v["expected"])
    out, out_meta = restore_isotropic(stack, Predictor(vectors / v["model"], threads=1), meta=meta)
    assert np.max(np.abs(out - expected)) <= v["tolerance"] * np.ptp(expected)
    assert out_meta.z_step_um == pytest.approx(v["expected_z_step_um"])
    np.testing.assert_allclose(stretch(np.asarray(v["stretch_input"], np.float32), v["z_factor"]),
                               v["stretch_expected"], rtol=1e-6)


def test_predict_qc_of_an_isotropic_result_lives_on_the_input_grid(model, tmp_path):
    import json

    from fluorecon.cli import app

    _, path = model
    stack, _ = simulate_stack(SIM, seed=6)
    write_tiff(tmp_path / "in.tif", stack, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.4))
    result = CliRunner().invoke(app, ["predict", str(path), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--qc", str(tmp_path / "qc"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    consistency, meta = read_tiff(tmp_path / "qc" / "consistency.tif")
    assert consistency.shape == stack.shape and meta.z_step_um == pytest.approx(0.4)
    assert json.loads((tmp_path / "qc" / "qc.json").read_text())["forward_model"]["factor"] == [4, 1, 1]


def test_shipped_model_result_passes_its_own_qc():
    """The data-consistency check `fluorecon predict --qc` runs (tasks.upsample.check_superres: the
    card's blur + z block mean maps the result back onto the input's grid) accepts the shipped
    model's result on an in-distribution stack (the card's simulation, a seed unseen in training):
    residual mean |·| < 0.1 (the former L1 model: +0.5, its result 7 % too dark), std in
    [0.7, 1.15] and under 15 % of pixels flagged locally (former model: 1.09, 86 %; the noise-free
    truth: 0.00, 1.01, 0.2 %). Why not std ≥ 0.85: a result that estimates the sample (a posterior
    mean) attributes the low-frequency part of the input's noise to signal, so its projection follows
    that part and the residual std drops below 1 as its error shrinks; the QC warns below 0.7."""
    from fluorecon.core.modelcard import read_card
    from fluorecon.tasks.upsample.learned import check_superres

    path = __import__("pathlib").Path(__file__).resolve().parents[3] / "models" / "care_isotropic_2d.onnx"
    card = read_card(path)
    sim = IsotropicSimulation.model_validate_json(card.train["simulation"]).model_copy(update={"shape": (32, 96, 96)})
    stack, truth = simulate_stack(sim, seed=20261127)
    # The card's forward model is the simulation's physics: the truth explains the stack to the noise.
    t = check_superres(stack, truth, card=card).summary
    assert abs(t["residual_mean"]) < 0.05 and abs(t["residual_std"] - 1) < 0.05, t
    assert t["local_flagged_fraction"] < 0.01, t
    restored = restore_isotropic(stack, path, threads=1)[0]
    signal = stack.mean() - sim.camera.offset
    assert abs(restored.mean() - stack.mean()) < 0.015 * signal, (restored.mean(), stack.mean())
    s = check_superres(stack, restored, card=card).summary
    assert abs(s["residual_mean"]) < 0.1, s
    assert 0.7 < s["residual_std"] < 1.15, s
    assert s["local_flagged_fraction"] < 0.15, s
