"""CLI: train denoise --method n2n|n2v|n2s, predict --uncertainty/--ensemble/--qc, qc, dip, denoise-classical."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import read_card

runner = CliRunner()
TINY = ["--steps", "4", "--patch", "32", "--depth", "1", "--filters", "4", "--batch-size", "2", "--device", "cpu"]


def _ok(args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("qccli")
    _ok(["simulate", "denoise", "--out", d / "data", "--n", "3", "--size", "64", "--seed", "3"])
    # N2N data: a second exposure at the same photons (photons-high = photons-low)
    _ok(["simulate", "denoise", "--out", d / "pairs", "--n", "3", "--size", "64", "--seed", "3", "--photons-high", "15"])
    _ok(["simulate", "denoise", "--out", d / "dark", "--n", "1", "--size", "64", "--seed", "8", "--photons-low", "0.5"])
    return d


@pytest.mark.parametrize("method", ["n2v", "n2s"])
def test_train_blind_spot_from_noisy_folder(data, method):
    out = _ok(["train", "denoise", "--method", method, "--data", data / "data", "--out", data / f"{method}.onnx", *TINY])
    card = read_card(data / f"{method}.onnx")
    assert card.task == "denoise" and card.method == method and "Noise2" in card.name
    assert "input_quantiles" in card.qc and "masking" in card.train
    assert "val_psnr_input" in card.metrics and "Noise2" in out  # clean/ exists, so PSNR is reported


def test_n2n_probabilistic_predict_writes_uncertainty_and_qc(data):
    model = data / "n2n.onnx"
    _ok(["train", "denoise", "--method", "n2n", "--data", data / "pairs", "--out", model, "--probabilistic", *TINY])
    assert read_card(model).outputs == "mean,scale" and read_card(model).method == "n2n"
    qc = data / "qc_pred"
    out = _ok(["predict", model, data / "pairs" / "low" / "000.tif", data / "den.tif", "--uncertainty",
               data / "u.tif", "--qc", qc, "--threads", "1"])
    assert "QC: standardised residual" in out
    u, _ = read_tiff(data / "u.tif")
    assert u.shape == (64, 64) and (u > 0).all()
    report = json.loads((qc / "qc.json").read_text())
    assert {"residual_mean", "residual_std", "lag1_autocorrelation", "noise_model", "ood", "uncertainty"} <= set(report)
    for name in ("consistency.tif", "uncertainty.tif", "consistency_local.tif", "disagreement.tif", "invented.tif"):
        assert (qc / name).is_file()
    assert "mostly not reproducible under re-noising" in out and report["disagreement"]["members"] == 4
    assert read_tiff(qc / "disagreement.tif")[0].shape == (64, 64)


def test_predict_qc_warns_invented_texture_on_diffuse_signal(tmp_path):
    """The shipped filament-trained CARE model on diffuse cytoplasm-like signal: `predict --qc` writes
    the disagreement map and the warning offering Noise2Void trained on the image."""
    import sys
    from pathlib import Path

    from fluorecon.core.io import TiffMeta, write_tiff

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qc"))
    from ood_shifts import diffuse

    model = Path(__file__).resolve().parents[2] / "models" / "care_denoise_2d.onnx"
    write_tiff(tmp_path / "diffuse.tif", diffuse(read_card(model), 1, 55)[0][:160, :160],
               TiffMeta(axes="YX", pixel_size_um=0.1))
    out = _ok(["predict", model, tmp_path / "diffuse.tif", tmp_path / "den.tif", "--qc", tmp_path / "qc",
               "--threads", "1"])
    report = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert report["disagreement"]["flagged_fraction"] > report["disagreement"]["area_threshold"]
    assert any(w.startswith("Invented texture") and "--method n2v" in w for w in report["warnings"])
    assert "Warning: Invented texture" in out
    assert read_tiff(tmp_path / "qc" / "disagreement.tif")[0].shape == (160, 160)
    invented = read_tiff(tmp_path / "qc" / "invented.tif")[0]
    assert invented.shape == (160, 160) and report["invented"]["regions"] >= 1
    assert f"{report['invented']['regions']} region(s) larger than the PSF" in out
    assert any(w.startswith("Invented texture marked in") for w in report["warnings"])


def test_qc_command_warns_out_of_distribution(data):
    model = data / "n2v.onnx"
    if not model.is_file():
        _ok(["train", "denoise", "--method", "n2v", "--data", data / "data", "--out", model, *TINY])
    dark = data / "dark" / "low" / "000.tif"
    _ok(["predict", model, dark, data / "dark_out.tif", "--threads", "1"])
    out = _ok(["qc", dark, data / "dark_out.tif", "--model", model, "--out", data / "qc_dark"])
    # Normalized noise saturates (pure noise spans the percentile range), so at 0.5 photons it is
    # the intensity distribution that gives the input away; the reason is printed either way.
    assert "Warning: Out of distribution" in out and "training data" in out
    similar = data / "data" / "low" / "001.tif"
    _ok(["predict", model, similar, data / "sim_out.tif", "--threads", "1"])
    out = _ok(["qc", similar, data / "sim_out.tif", "--model", model, "--out", data / "qc_sim"])
    assert "Out of distribution" not in out
    assert json.loads((data / "qc_sim" / "qc.json").read_text())["ood"]["in_distribution"]
    r = runner.invoke(app, ["qc", str(similar), str(data / "nothing.tif"), "--out", str(data / "x")])
    assert r.exit_code != 0


def test_predict_ensemble_writes_spread(data):
    a, b = data / "e0.onnx", data / "e1.onnx"
    for path, seed in ((a, 0), (b, 1)):
        _ok(["train", "denoise", "--method", "n2n", "--data", data / "pairs", "--out", path, "--seed", seed, *TINY])
    _ok(["predict", a, data / "pairs" / "low" / "000.tif", data / "ens.tif", "--ensemble", b, "--uncertainty",
         data / "spread.tif", "--threads", "1"])
    spread, _ = read_tiff(data / "spread.tif")
    assert spread.shape == (64, 64) and spread.max() > 0


def test_dip_and_classical_commands(data):
    src = data / "data" / "low" / "002.tif"
    out = _ok(["dip", src, data / "dip.tif", "--num-iter", "20", "--qc", data / "qc_dip"])
    assert "Stopped at iteration" in out and (data / "qc_dip" / "qc.json").is_file()
    image, meta = read_tiff(data / "dip.tif")
    assert image.shape == (64, 64) and "deep image prior" in meta.info
    clean, _ = read_tiff(data / "data" / "clean" / "002.tif")
    noisy, _ = read_tiff(src)
    for method in ("nlm", "bm3d"):
        _ok(["denoise-classical", src, data / f"{method}.tif", "--method", method])
        den, _ = read_tiff(data / f"{method}.tif")
        assert np.abs(den - clean).mean() < np.abs(noisy - clean).mean()
    r = runner.invoke(app, ["denoise-classical", str(src), str(data / "x.tif"), "--method", "magic"])
    assert r.exit_code == 2 and "nlm, bm3d" in r.output


def test_qc_checks_an_upsampled_result_like_predict_qc(data, tmp_path):
    """Issue 16: `qc low.tif sr.tif --model care_upsample2x_2d.onnx` refused the 2× result (shape mismatch)
    while `predict --qc` checked it on the input's grid; both now write the same consistency map."""
    import tifffile

    from pathlib import Path
    model = Path(__file__).resolve().parents[2] / "models" / "care_upsample2x_2d.onnx"
    low = sorted((data / "data" / "low").glob("*.tif"))[0]
    _ok(["predict", model, low, tmp_path / "sr.tif", "--qc", tmp_path / "pqc"])
    out = _ok(["qc", low, tmp_path / "sr.tif", "--model", model, "--out", tmp_path / "qc"])
    assert "Wrote" in out
    got = tifffile.imread(tmp_path / "qc" / "consistency.tif")
    assert got.shape == read_tiff(low)[0].shape
    np.testing.assert_allclose(got, tifffile.imread(tmp_path / "pqc" / "consistency.tif"), atol=1e-5)
    r = runner.invoke(app, [str(a) for a in ("qc", low, tmp_path / "sr.tif", "--out", tmp_path / "qc2")])
    assert r.exit_code == 2 and "give the model that made it (--model)" in r.output


def test_n2v_on_noisy_images_alone_prints_no_empty_validation_table(data, tmp_path):
    """Issue 16: training on a folder without clean/ printed an empty "Validation (None images)" table."""
    import shutil

    shutil.copytree(data / "data" / "low", tmp_path / "noisy")
    out = _ok(["train", "denoise", "--method", "n2v", "--data", tmp_path / "noisy", "--out", tmp_path / "n2v.onnx",
               *TINY])
    assert "Validation" not in out and "None" not in out and "Wrote" in out
    assert "val_psnr_input" not in read_card(tmp_path / "n2v.onnx").metrics
