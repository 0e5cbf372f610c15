"""A CAREamics-exported bioimage.io package, imported by `fluorecon bioimageio import`, runs in Fiji: Image-to-image…
(headless macro options, save=) gives bioimageio.core's own prediction within 1e-4 counts (tests/data/careamics_n2v/,
see tests/core/test_bioimageio_careamics.py)."""

from __future__ import annotations

import numpy as np
import tifffile

import ijbridge
from ijbridge import ROOT, run_plugin

from fluorecon.core.bioimageio import import_package

DATA = ROOT / "tests" / "data" / "careamics_n2v"


def test_imported_careamics_model_equals_bioimageio_core_in_fiji(headless_jvm, plugin_jar, tmp_path):
    model = tmp_path / "n2v_careamics.onnx"
    import_package(DATA / "n2v_tiny.bioimageio.zip", model, onnx_weights=DATA / "n2v_tiny.onnx")
    image = np.load(DATA / "image.npy")
    imp = ijbridge.to_imageplus(image, "YX", title="noisy", pixel_size_um=0.1)
    save = tmp_path / "out.tif"
    out = run_plugin(plugin_jar, "Image-to-image...", imp,
                     ijbridge.options_string(model="[file]", model_file=model, tile=0, threads=1, save=save)).getResult()
    expected = np.load(DATA / "expected_bioimageio_padded.npy")
    np.testing.assert_allclose(ijbridge.from_imageplus(out).reshape(expected.shape), expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(tifffile.imread(save).reshape(expected.shape), expected, atol=1e-4, rtol=0)
    assert "model.task = denoise" in str(out.getProperty("Info"))
