"""Learned deconvolution: the shipped model, its card, and the CLI path (`--method learned`)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.infer import InputError, predict
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.deconvolve.learned import LearnedDeconvolveConfig, simulate_deconvolution_pairs
from fluorecon.tasks.denoise.learned import DenoiseSimulation
from fluorecon.train import match_to_input


@pytest.fixture(scope="module")
def model(root):
    return root / "models" / "care_deconvolve_2d.onnx"


def test_card_records_psf_and_beats_input_and_rl(model):
    card = read_card(model)
    assert card.task == "deconvolve" and card.method == "care"
    assert '"na"' in card.train["psf"] and "pixel_size_nm" in card.train
    m = {k: float(v) for k, v in card.metrics.items() if k.startswith("val_psnr")}
    assert m["val_psnr_care"] > m["val_psnr_input"] + 2
    assert m["val_psnr_care"] > m["val_psnr_rl"]
    assert "input_quantiles" in card.qc


def _score(estimate, obj):
    a, b = match_to_input(estimate, obj)  # compare up to the camera's affine map
    return psnr((estimate - b) / a, obj, data_range=1.0)


def test_shipped_model_sharpens_unseen_images(model):
    sim = LearnedDeconvolveConfig().simulation.model_copy(update={"shape": (128, 128)})
    (noisy, obj), = simulate_deconvolution_pairs(sim, n=1, seed=4242)[0]
    restored = predict(noisy, model, task="deconvolve")
    assert _score(restored, obj) > _score(noisy, obj) + 1.0


def test_denoise_model_is_refused_for_deconvolution(root):
    with pytest.raises(InputError, match="'denoise' model"):
        predict(np.ones((64, 64), np.float32), root / "models" / "care_denoise_2d.onnx", task="deconvolve")


def test_cli_learned_method(tmp_path, model):
    sim = DenoiseSimulation(ndim=2, shape=(96, 96), n_images=1, photons_low=60.0)
    (noisy, _), = simulate_deconvolution_pairs(sim, n=1, seed=7)[0]
    write_tiff(tmp_path / "in.tif", noisy, TiffMeta(axes="YX", pixel_size_um=0.1))
    result = CliRunner().invoke(app, ["deconvolve", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--method", "learned", "--model", str(model)])
    assert result.exit_code == 0, result.output
    out, meta = read_tiff(tmp_path / "out.tif")
    np.testing.assert_allclose(out, predict(noisy, model, task="deconvolve"), rtol=1e-5, atol=1e-3)
    assert meta.pixel_size_um == pytest.approx(0.1)
