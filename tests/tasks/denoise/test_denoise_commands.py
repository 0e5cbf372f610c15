"""The CLI end to end: simulate → train → predict → models → export, and bad inputs via `predict`."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    r = runner.invoke(app, ["simulate", "denoise", "--out", str(d / "data"), "--n", "3", "--size", "64", "--seed", "2"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "denoise", "--data", str(d / "data"), "--out", str(d / "m.onnx"), "--steps", "4",
                            "--patch", "32", "--depth", "1", "--filters", "4", "--batch-size", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "CARE" in r.output and "non-local means" in r.output
    return d


def test_predict_keeps_calibration_and_records_provenance(trained):
    out = trained / "out.tif"
    r = runner.invoke(app, ["predict", str(trained / "m.onnx"), str(trained / "data" / "low" / "000.tif"), str(out),
                            "--tile", "32", "--threads", "1", "--task", "denoise"])
    assert r.exit_code == 0, r.output
    image, meta = read_tiff(out)
    src, src_meta = read_tiff(trained / "data" / "low" / "000.tif")
    assert image.dtype == np.float32 and image.shape == src.shape
    assert meta.pixel_size_um == pytest.approx(src_meta.pixel_size_um)
    for needle in ("model.sha256: ", "execution.provider: CPUExecutionProvider", "fluorecon.version", "setting.tile: 32"):
        assert needle in meta.info


def test_predict_hyperstack(trained, tmp_path):
    stack = np.random.default_rng(0).uniform(100, 200, (2, 3, 40, 36)).astype(np.float32)
    write_tiff(tmp_path / "in.tif", stack, TiffMeta(axes="ZCYX", pixel_size_um=0.2, z_step_um=0.5))
    r = runner.invoke(app, ["predict", str(trained / "m.onnx"), str(tmp_path / "in.tif"), str(tmp_path / "out.tif")])
    assert r.exit_code == 0, r.output
    out, meta = read_tiff(tmp_path / "out.tif")
    assert out.shape == stack.shape and meta.axes == "ZCYX" and meta.z_step_um == pytest.approx(0.5)


def test_models_lists_cards_and_export_rebuilds_onnx(trained):
    r = runner.invoke(app, ["models", str(trained)])
    assert r.exit_code == 0 and "m.onnx" in r.output and "denoise" in r.output
    r = runner.invoke(app, ["export", str(trained / "m.pt"), "--out", str(trained / "again.onnx")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models", str(trained)])
    assert "again.onnx" in r.output
    assert runner.invoke(app, ["export", str(trained / "none.pt"), "--out", str(trained / "x.onnx")]).exit_code == 2


def _fails(args, message, out):
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert not out.exists()


def test_bad_inputs_fail_without_partial_output(trained, tmp_path):
    model, out = str(trained / "m.onnx"), tmp_path / "out.tif"
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    _fails(["predict", model, str(tmp_path / "rgb.tif"), str(out)], "RGB", out)
    tifffile.imwrite(tmp_path / "nan.tif", np.full((32, 32), np.nan, np.float32))
    _fails(["predict", model, str(tmp_path / "nan.tif"), str(out)], "NaN", out)
    tifffile.imwrite(tmp_path / "tiny.tif", np.ones((1, 32), np.float32))
    _fails(["predict", model, str(tmp_path / "tiny.tif"), str(out)], "at least 2", out)
    (tmp_path / "corrupt.onnx").write_bytes(b"not a model")
    _fails(["predict", str(tmp_path / "corrupt.onnx"), str(trained / "data" / "low" / "000.tif"), str(out)], "ONNX", out)
    _fails(["predict", str(tmp_path / "missing.onnx"), str(trained / "data" / "low" / "000.tif"), str(out)], "not found", out)
    _fails(["predict", model, str(trained / "data" / "low" / "000.tif"), str(out), "--task", "deconvolve"],
           "'denoise' model", out)
    _fails(["predict", model, str(tmp_path / "nothing.tif"), str(out)], "not found", out)


def test_simulate_and_train_reject_bad_options(tmp_path):
    _fails(["simulate", "denoise", "--out", str(tmp_path / "d"), "--ndim", "4"], "ndim", tmp_path / "d")
    _fails(["train", "denoise", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m.onnx")], "low/", tmp_path / "m.onnx")


def test_help_teaches():
    r = runner.invoke(app, ["train", "denoise", "--help"])
    assert r.exit_code == 0 and "Example" in r.output and "--steps" in r.output
