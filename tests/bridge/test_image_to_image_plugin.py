"""Image-to-image… runs any carded image-to-image model locally (issue 16): the shipped cross-modality model
(which Denoise… and Super-resolve… refuse) equals `fluorecon.infer.predict`, an upsampling model divides the pixel
size by its scale, and models that do not map an image to an image are refused with the command to use."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_plugin

CROSSMODAL = ROOT / "models" / "care_crossmodal_2d.onnx"
UPSAMPLE = ROOT / "models" / "care_upsample2x_2d.onnx"


def test_crossmodal_model_equals_python(headless_jvm, plugin_jar, tmp_path):
    image = ijbridge.noisy_planes((2, 48, 64), seed=7).astype(np.float32)  # two frames
    imp = ijbridge.to_imageplus(image, "TYX", title="phase", pixel_size_um=0.2)
    save = tmp_path / "out.tif"
    plugin = run_plugin(plugin_jar, "Image-to-image...", imp,
                        ijbridge.options_string(model="[file]", model_file=CROSSMODAL, tile=0, threads=2, save=save))
    out = plugin.getResult()
    assert out.getTitle() == "phase-crossmodal [OOD]" and out.getNFrames() == 2  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    assert out.getCalibration().pixelWidth == pytest.approx(0.2)
    expected = ijbridge.python_reference(image[:, None, None], CROSSMODAL, tile=0)
    assert_matches(ijbridge.from_imageplus(out), expected)
    assert_matches(tifffile.imread(save).reshape(expected.shape), expected)
    assert "model.task = crossmodal" in str(out.getProperty("Info"))


def test_upsampling_model_scales_the_calibration(headless_jvm, plugin_jar):
    image = ijbridge.noisy_planes((32, 40), seed=8).astype(np.float32)
    imp = ijbridge.to_imageplus(image, "YX", title="low", pixel_size_um=0.1)
    out = run_plugin(plugin_jar, "Image-to-image...", imp,
                     ijbridge.options_string(model="[file]", model_file=UPSAMPLE)).getResult()
    assert (out.getWidth(), out.getHeight(), out.getTitle()) == (80, 64, "low-upsample [OOD]")  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    assert out.getCalibration().pixelWidth == pytest.approx(0.05)


def test_a_localisation_model_is_refused(headless_jvm, plugin_jar):
    imp = ijbridge.to_imageplus(ijbridge.noisy_planes((32, 32), seed=9), "YX", title="frames", pixel_size_um=0.1)
    with pytest.raises(Exception, match="task=localize, which does not map an image to an image"):
        run_plugin(plugin_jar, "Image-to-image...", imp,
                   ijbridge.options_string(model="[file]", model_file=ROOT / "models" / "deepstorm_2d.onnx"))
