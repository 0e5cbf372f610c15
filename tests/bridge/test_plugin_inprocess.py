"""The plugin class called in-process through JPype, in a headless JVM (DESIGN.md bridge recipe 1).

One JVM per pytest process (JPype cannot restart it), so every in-process scenario lives here;
the other bridge modules run their JVMs as subprocesses.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import TILE, assert_matches, noisy_planes, python_reference


@pytest.fixture(scope="module")
def jvm(imagej_dir):
    return ijbridge.start_jvm(ijbridge.plugin_classpath(imagej_dir), headless=True)


@pytest.fixture
def denoise(jvm, denoise_class, model_2d, tmp_path):
    """Run Denoise... on an ImagePlus; returns (output ImagePlus or None, saved TIFF path)."""

    def run(imp, *, model=model_2d, name="out.tif"):
        save = tmp_path / name
        opts = ijbridge.options_string(model_file=model, tile=TILE, threads=2, save=save)
        return ijbridge.run_command_direct(denoise_class, imp, opts), save

    return run


def check_result(out, save, *, title, expected_tzcyx, model_sha256, calibration):
    assert save.is_file(), "the plugin did not write the save= file"
    saved = tifffile.imread(save).astype(np.float32)
    assert_matches(saved.reshape(expected_tzcyx.shape), expected_tzcyx)
    if out is None:  # the plugin may leave no current image in a headless JVM; the file is enough
        from jpype import JClass

        out = JClass("ij.IJ").openImage(str(save))
    # The synthetic spots are unlike the CARE model's training data: the title carries the flag (a saved and
    # reopened file is titled by its name), the Info the OOD check (test_ood_plugin.py).
    assert out.getTitle().removesuffix(".tif").removesuffix(" [OOD]") == f"{title}-denoised"
    assert "fluorecon.qc.ood = " in str(out.getProperty("Info"))
    assert out.getBitDepth() == 32
    t, z, c, h, w = expected_tzcyx.shape
    assert (out.getWidth(), out.getHeight(), out.getNChannels(), out.getNSlices(), out.getNFrames()) == (w, h, c, z, t)
    assert_matches(ijbridge.from_imageplus(out), expected_tzcyx)
    cal = out.getCalibration()
    for field, value in calibration.items():
        if field == "unit":
            assert cal.getUnit() == value
        else:
            assert getattr(cal, field) == pytest.approx(value), field
    info = str(out.getInfoProperty() or out.getProperty("Info") or "")
    assert model_sha256 in info, f"model sha256 missing from Info:\n{info}"
    assert "ExecutionProvider" in info, f"execution provider missing from Info:\n{info}"


def test_2d_16bit_matches_python(denoise, model_2d, model_sha256):
    image = noisy_planes((96, 128), seed=1)
    imp = ijbridge.to_imageplus(image, "YX", title="plane", pixel_size_um=0.065)
    out, save = denoise(imp)
    check_result(out, save, title="plane", expected_tzcyx=python_reference(image[None, None, None], model_2d),
                 model_sha256=model_sha256, calibration={"pixelWidth": 0.065, "pixelHeight": 0.065, "unit": "micron"})


def test_zstack_32bit_matches_python(denoise, model_2d, model_sha256):
    image = noisy_planes((3, 64, 80), seed=2).astype(np.float32)
    imp = ijbridge.to_imageplus(image, "ZYX", title="stack", pixel_size_um=0.1, z_step_um=0.3)
    out, save = denoise(imp)
    check_result(out, save, title="stack", expected_tzcyx=python_reference(image[None, :, None], model_2d),
                 model_sha256=model_sha256, calibration={"pixelWidth": 0.1, "pixelDepth": 0.3})


def test_hyperstack_8bit_matches_python(denoise, model_2d, model_sha256):
    image = noisy_planes((2, 2, 2, 48, 64), seed=3, dtype=np.uint8)  # T, Z, C, Y, X
    imp = ijbridge.to_imageplus(image, "TZCYX", title="hyper", pixel_size_um=0.2, z_step_um=0.5,
                                frame_interval_s=1.5)
    out, save = denoise(imp)
    check_result(out, save, title="hyper", expected_tzcyx=python_reference(image, model_2d),
                 model_sha256=model_sha256,
                 calibration={"pixelWidth": 0.2, "pixelDepth": 0.5, "frameInterval": 1.5})


def test_rgb_image_refused_without_output(jvm, denoise, tmp_path):
    from jpype import JClass

    imp = JClass("ij.ImagePlus")("rgb", JClass("ij.process.ColorProcessor")(64, 64))
    with pytest.raises(Exception, match="(?i)RGB"):
        denoise(imp, name="rgb.tif")
    assert not list(tmp_path.iterdir()), "a refused run left an output file"


def test_model_for_another_task_refused_without_output(denoise, other_task_model, tmp_path):
    imp = ijbridge.to_imageplus(noisy_planes((64, 64), seed=4), "YX", title="wrongtask")
    with pytest.raises(Exception, match="(?i)deconvolve"):
        denoise(imp, model=other_task_model, name="wrongtask.tif")
    assert not list(tmp_path.iterdir()), "a refused run left an output file"
