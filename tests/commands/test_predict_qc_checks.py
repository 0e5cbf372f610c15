"""predict --qc with the shipped 2D CARE model: the bundled sample passes, every channel / frame
of a hyperstack is checked (not skipped), and the classical VST-BM3D comparison is reported."""

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "care_denoise_2d.onnx"
SAMPLE = ROOT / "python" / "fluorecon" / "data" / "sample_noisy_2d.tif"
runner = CliRunner()


def _run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_sample_passes_and_classical_comparison_is_recorded(tmp_path):
    out = _run("predict", MODEL, SAMPLE, tmp_path / "out.tif", "--qc", tmp_path / "qc")
    qc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert qc["ood"]["in_distribution"], qc["ood"]
    assert "Out of distribution" not in out
    assert qc["classical"]["method"] == "vst-bm3d" and "residual_std" in qc["classical"]
    assert ("Note: The classical vst-bm3d result" in out) == qc["classical"]["as_good"]


def test_hyperstack_is_checked_per_channel(tmp_path):
    sample, meta = read_tiff(SAMPLE)
    bright = (sample - 100.0) * 1000 + 100.0  # channel 2: the same field 1000x brighter
    stack = np.stack([sample, bright]).astype(np.float32)
    write_tiff(tmp_path / "cyx.tif", stack, TiffMeta(axes="CYX", pixel_size_um=meta.pixel_size_um))
    out = _run("predict", MODEL, tmp_path / "cyx.tif", tmp_path / "out.tif", "--qc", tmp_path / "qc")
    assert "skipped" not in out
    qc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert qc["units_checked"] == 2
    assert qc["units"]["channel 1"]["ood"]["in_distribution"]
    assert not qc["units"]["channel 2"]["ood"]["in_distribution"]
    assert "Warning: channel 2: Out of distribution: Intensity scale differs" in out
    assert "channel 1: Out of distribution" not in out
    consistency, cmeta = read_tiff(tmp_path / "qc" / "consistency.tif")
    assert consistency.shape == stack.shape and cmeta.axes == "CYX"
