"""Isotropic restoration… driven through the real plugin: equals `fluorecon predict` (which runs
restore_isotropic: z stretched, XZ and YZ views, mean) on the shipped isotropic model within 1e-4 of
the range, with z_factor× more slices and a z step equal to the pixel size; other models and a
z step the model was not trained for are refused in words."""

from __future__ import annotations

import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff

ISOTROPIC_2D = ROOT / "models" / "care_isotropic_2d.onnx"


def test_isotropic_restoration_equals_cli_with_isotropic_calibration(headless_jvm, plugin_jar, tmp_path):
    assert ISOTROPIC_2D.is_file(), f"shipped model missing: {ISOTROPIC_2D}"
    stack = ijbridge.noisy_planes((6, 28, 24), seed=3)  # z step 4× the pixel (the model's z_factor)
    src = tmp_path / "in.tif"
    write_tiff(src, stack, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.4))
    run_cli("predict", ISOTROPIC_2D, src, tmp_path / "cli.tif")
    expected = tifffile.imread(tmp_path / "cli.tif")
    cli_meta = read_tiff(tmp_path / "cli.tif")[1]
    assert expected.shape == (24, 28, 24) and cli_meta.z_step_um == pytest.approx(0.1)

    imp = ijbridge.to_imageplus(stack, "ZYX", title="aniso", pixel_size_um=0.1, z_step_um=0.4)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Isotropic restoration...", imp,
                        ijbridge.options_string(model="[file]", model_file=ISOTROPIC_2D, save=save))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "aniso-isotropic [OOD]"  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    assert (out.getWidth(), out.getHeight(), out.getNSlices()) == (24, 28, 24)
    cal = out.getCalibration()
    assert cal.pixelDepth == pytest.approx(cal.pixelWidth) and cal.pixelWidth == pytest.approx(0.1)
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)
    assert read_tiff(save)[1].z_step_um == pytest.approx(0.1)
    info = str(out.getProperty("Info"))
    assert "model.task = isotropic" in info and "settings.views = XZ,YZ (mean)" in info


def test_isotropic_restoration_refuses_wrong_models_and_sampling(headless_jvm, plugin_jar, model_2d):
    stack = ijbridge.noisy_planes((4, 24, 24), seed=1)
    imp = ijbridge.to_imageplus(stack, "ZYX", title="aniso", pixel_size_um=0.1, z_step_um=0.4)
    with pytest.raises(Exception, match=r"is a denoise model \(task=denoise\); isotropic restoration needs"):
        run_plugin(plugin_jar, "Isotropic restoration...", imp,
                   ijbridge.options_string(model="[file]", model_file=model_2d))
    cubic = ijbridge.to_imageplus(stack, "ZYX", title="cubic", pixel_size_um=0.1, z_step_um=0.1)
    with pytest.raises(Exception, match=r"z step is 1× its pixel size but model .* was trained for 4×"):
        run_plugin(plugin_jar, "Isotropic restoration...", cubic,
                   ijbridge.options_string(model="[file]", model_file=ISOTROPIC_2D))
