"""Super-resolve… (local ONNX Runtime) and Check result (QC)… (model server) driven through the
real plugin: Super-resolve equals `fluorecon predict` on the shipped upsampling model within 1e-4
of the range with the pixel size divided by the card's scale; Check result's consistency map and
figures equal `fluorecon qc` on the same pair, and a planted structure is flagged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin


from fluorecon.core.io import TiffMeta, write_tiff  # noqa: E402

UPSAMPLE_2D = ROOT / "models" / "care_upsample2x_2d.onnx"




# --- Super-resolve… -------------------------------------------------------------------------------


def test_super_resolve_equals_cli_and_halves_the_pixel_size(headless_jvm, plugin_jar, tmp_path):
    assert UPSAMPLE_2D.is_file(), f"shipped model missing: {UPSAMPLE_2D}"
    image = ijbridge.noisy_planes((2, 48, 56), seed=7)  # two planes: each is normalized on its own
    src = tmp_path / "in.tif"
    write_tiff(src, image, TiffMeta(axes="ZYX", pixel_size_um=0.1))
    run_cli("predict", UPSAMPLE_2D, src, tmp_path / "cli.tif")
    expected = tifffile.imread(tmp_path / "cli.tif")
    assert expected.shape == (2, 96, 112)

    imp = ijbridge.to_imageplus(image, "ZYX", title="cells", pixel_size_um=0.1)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Super-resolve...", imp,
                        ijbridge.options_string(model="[file]", model_file=UPSAMPLE_2D, save=save))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "cells-superres [OOD]"  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    assert (out.getWidth(), out.getHeight(), out.getNSlices()) == (112, 96, 2)
    cal = out.getCalibration()
    assert cal.pixelWidth == pytest.approx(0.05) and cal.pixelHeight == pytest.approx(0.05)
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)
    assert "model.task = upsample" in str(out.getProperty("Info"))


def test_super_resolve_refuses_a_denoising_model(headless_jvm, plugin_jar, model_2d):
    imp = ijbridge.to_imageplus(ijbridge.noisy_planes((48, 48), seed=1), "YX", title="cells")
    with pytest.raises(Exception, match=r"is a denoise model \(task=denoise\); Super-resolve needs a model with task=upsample"):
        run_plugin(plugin_jar, "Super-resolve...", imp, ijbridge.options_string(model="[file]", model_file=model_2d))


def test_super_resolve_points_isotropic_models_to_isotropic_restoration(headless_jvm, plugin_jar):
    isotropic = ROOT / "models" / "care_isotropic_2d.onnx"
    assert isotropic.is_file(), f"shipped model missing: {isotropic}"
    imp = ijbridge.to_imageplus(ijbridge.noisy_planes((4, 48, 48), seed=1), "ZYX", title="stack")
    with pytest.raises(Exception, match=r"'care_isotropic_2d\.onnx' is an isotropic-restoration model \(task=isotropic\): "
                                        r"use Plugins › fluorecon › Isotropic restoration… on the z-stack"):
        run_plugin(plugin_jar, "Super-resolve...", imp, ijbridge.options_string(model="[file]", model_file=isotropic))


# --- Check result (QC)… ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_dir(trainer_config_dir):
    """A real server with its own models folder (Train on this image… trains here; conftest.trainer_server)."""
    return trainer_config_dir


def check_open_images(plugin_jar, images, **options):
    """Run Check result (QC)… on ImagePlus objects found by title, as open images are (batch mode)."""
    from jpype import JClass

    Interpreter = JClass("ij.macro.Interpreter")
    Interpreter.batchMode = True
    for imp in images:
        Interpreter.addBatchModeImage(imp)
    try:
        return run_plugin(plugin_jar, "Check result (QC)...", None, ijbridge.options_string(**options))
    finally:
        for imp in images:
            Interpreter.removeBatchModeImage(imp)


def planted_pair(shape=(64, 64), seed=5):
    """A Poisson measurement and a 'result' = the noise-free truth plus an invented bright spot."""
    from scipy import ndimage

    from fluorecon.imaging.phantoms import phantom

    rng = np.random.default_rng(seed)
    truth = (ndimage.gaussian_filter(phantom(shape, seed=seed), 1.5) * 200 + 110).astype(np.float32)
    image = rng.poisson(truth).astype(np.uint16)
    result = truth.copy()
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    result += 150 * np.exp(-((yy - 20) ** 2 + (xx - 40) ** 2) / (2 * 3.0**2)).astype(np.float32)
    return image, result


def test_check_result_equals_cli_and_flags_the_planted_spot(config_dir, plugin_jar, tmp_path):
    from jpype import JClass

    image, result = planted_pair()
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    write_tiff(tmp_path / "res.tif", result, TiffMeta(axes="YX", pixel_size_um=0.1))
    run_cli("qc", tmp_path / "in.tif", tmp_path / "res.tif", "--out", tmp_path / "cli")
    expected = json.loads((tmp_path / "cli" / "qc.json").read_text())

    Interpreter = JClass("ij.macro.Interpreter")
    raw = ijbridge.to_imageplus(image, "YX", title="raw", pixel_size_um=0.1)
    rec = ijbridge.to_imageplus(result, "YX", title="raw-denoised", pixel_size_um=0.1)
    Interpreter.batchMode = True
    for imp in (raw, rec):
        Interpreter.addBatchModeImage(imp)  # found by title, as open images are
    try:
        save = tmp_path / "map.tif"
        plugin = run_plugin(plugin_jar, "Check result (QC)...", None,
                            ijbridge.options_string(input="raw", result="raw-denoised", save=save))
    finally:
        for imp in (raw, rec):
            Interpreter.removeBatchModeImage(imp)
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "raw-consistency"
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (2, 1, 1)
    assert out.getCalibration().pixelWidth == pytest.approx(0.1)
    maps = ijbridge.from_imageplus(out)[0, 0]  # C, Y, X
    np.testing.assert_allclose(maps[0], tifffile.imread(tmp_path / "cli" / "consistency.tif"), atol=1e-5)
    np.testing.assert_allclose(maps[1], tifffile.imread(tmp_path / "cli" / "consistency_local.tif"), atol=1e-5)

    table = plugin.getTable()
    for key in ("residual_mean", "residual_std", "local_flagged_fraction"):
        assert table.getValue(key, 0) == pytest.approx(expected[key], abs=1e-6)
    assert table.getValue("lag1_autocorrelation_x", 0) == pytest.approx(expected["lag1_autocorrelation"][1], abs=1e-6)
    warnings = str(table.getStringValue("warnings", 0))
    assert warnings == " | ".join(expected["warnings"])
    # The invented spot: a strongly negative local score there, and a warning in words.
    assert maps[1][20, 40] < -4
    assert "structure was removed or invented" in warnings


def test_check_result_shows_the_disagreement_map_for_a_denoiser(config_dir, plugin_jar, tmp_path):
    """model_file = the shipped (filament-trained) CARE model, input = diffuse cytoplasm-like signal:
    the output gains two channels, the re-noise disagreement map and the invented-detail map (as
    `fluorecon qc --model`), and the invented-texture warning reaches the table."""
    sys.path.insert(0, str(ROOT / "tests" / "qc"))
    from ood_shifts import diffuse

    from fluorecon.core.modelcard import read_card

    care = ROOT / "models" / "care_denoise_2d.onnx"
    image = diffuse(read_card(care), 1, 55)[0][:128, :128]
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    run_cli("predict", care, tmp_path / "in.tif", tmp_path / "res.tif", "--threads", "1")
    run_cli("qc", tmp_path / "in.tif", tmp_path / "res.tif", "--model", care, "--out", tmp_path / "cli")
    expected = json.loads((tmp_path / "cli" / "qc.json").read_text())

    raw = ijbridge.to_imageplus(image, "YX", title="raw", pixel_size_um=0.1)
    rec = ijbridge.to_imageplus(tifffile.imread(tmp_path / "res.tif"), "YX", title="raw-denoised", pixel_size_um=0.1)
    plugin = check_open_images(plugin_jar, (raw, rec), input="raw", result="raw-denoised", model_file=care)
    out = plugin.getResult()
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (4, 1, 1)
    assert [str(out.getStack().getSliceLabel(c)) for c in (3, 4)] == ["disagreement", "invented"]
    maps = ijbridge.from_imageplus(out)[0, 0]
    np.testing.assert_allclose(maps[2], tifffile.imread(tmp_path / "cli" / "disagreement.tif"), atol=1e-4)
    np.testing.assert_allclose(maps[3], tifffile.imread(tmp_path / "cli" / "invented.tif"), atol=1e-4)
    table = plugin.getTable()
    assert table.getValue("invented_regions", 0) == expected["invented"]["regions"]
    assert table.getValue("disagreement_flagged_fraction", 0) == pytest.approx(
        expected["disagreement"]["flagged_fraction"], abs=1e-4)
    assert "Invented texture" in str(table.getStringValue("warnings", 0))
    assert "qc.channels = consistency,consistency_local,disagreement,invented" in str(out.getInfoProperty())


def test_check_result_refuses_images_of_different_size(config_dir, plugin_jar):
    raw = ijbridge.to_imageplus(ijbridge.noisy_planes((48, 48), seed=1), "YX", title="raw")
    big = ijbridge.to_imageplus(ijbridge.noisy_planes((96, 96), seed=1), "YX", title="raw-superres")
    from jpype import JClass

    Thread, Macro = JClass("java.lang.Thread"), JClass("ij.Macro")
    thread = Thread.currentThread()
    old = thread.getName()
    thread.setName("Run$_fluorecon_bridge")
    Macro.setOptions(thread, "input=raw result=raw-superres ")
    plugin = JClass(ijbridge.command_class(plugin_jar, "Check result (QC)..."))()
    plugin.setImages(raw, big)
    try:
        with pytest.raises(Exception, match=r"Result 'raw-superres' is 96x96x1 but input 'raw' is 48x48x1"):
            plugin.run("")
    finally:
        Macro.setOptions(thread, None)
        thread.setName(old)


def test_check_result_of_a_super_resolved_result_equals_predict_qc(config_dir, plugin_jar, tmp_path):
    """A ×2 result (twice the input's size) is checked through the model's forward model, on the
    input's grid: the plugin's maps and figures equal `fluorecon predict --qc`'s."""
    from fluorecon.tasks.upsample.learned import UpsampleSimulation, simulate_pairs

    low = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(96, 80), seed=21), n=1)[0].low
    write_tiff(tmp_path / "low.tif", low, TiffMeta(axes="YX", pixel_size_um=0.1))
    run_cli("predict", UPSAMPLE_2D, tmp_path / "low.tif", tmp_path / "up.tif", "--qc", tmp_path / "cli", "--threads", "1")
    expected = json.loads((tmp_path / "cli" / "qc.json").read_text())
    assert expected["forward_model"]["factor"] == [2, 2]
    result = tifffile.imread(tmp_path / "up.tif")
    assert result.shape == (96, 80)

    raw = ijbridge.to_imageplus(low, "YX", title="low", pixel_size_um=0.1)
    rec = ijbridge.to_imageplus(result.astype(np.float32), "YX", title="low-superres", pixel_size_um=0.05)
    plugin = check_open_images(plugin_jar, (raw, rec), input="low", result="low-superres", model_file=UPSAMPLE_2D)
    out = plugin.getResult()
    assert (out.getWidth(), out.getHeight(), out.getNChannels()) == (40, 48, 2)
    assert out.getCalibration().pixelWidth == pytest.approx(0.1)
    maps = ijbridge.from_imageplus(out)[0, 0]
    np.testing.assert_allclose(maps[0], tifffile.imread(tmp_path / "cli" / "consistency.tif"), atol=1e-4)
    np.testing.assert_allclose(maps[1], tifffile.imread(tmp_path / "cli" / "consistency_local.tif"), atol=1e-3)
    table = plugin.getTable()
    for key in ("residual_mean", "residual_std", "local_flagged_fraction"):
        assert table.getValue(key, 0) == pytest.approx(expected[key], abs=1e-5)


# --- Train on this image… ----------------------------------------------------------------------


def test_train_on_this_image_installs_the_model_and_shows_its_prediction(config_dir, plugin_jar, tmp_path):
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict

    image = ijbridge.noisy_planes((64, 64), seed=4)
    imp = ijbridge.to_imageplus(image, "YX", title="noisy", pixel_size_um=0.1)
    installed = tmp_path / "models"
    plugin = run_plugin(plugin_jar, "Train on this image...", imp,
                        ijbridge.options_string(method="n2v", steps=5, ndim=2, name="bridge n2v",
                                                models_dir=installed, save=tmp_path / "denoised.tif"))
    out = plugin.getResult()
    assert out is not None
    model = Path(str(plugin.getInstalledModel()))
    assert model == installed / "bridge_n2v.onnx" and model.is_file()
    card = read_card(model)
    assert (card.task, card.method, card.name) == ("denoise", "n2v", "bridge n2v")
    assert out.getTitle() == "noisy-n2v" and out.getCalibration().pixelWidth == pytest.approx(0.1)
    expected = predict(image.astype(np.float32), model, axes="YX")
    assert_matches(ijbridge.from_imageplus(out)[0, 0, 0], expected)
    assert_matches(tifffile.imread(tmp_path / "denoised.tif"), expected)  # save= writes the shown image
    # A second run keeps the first model: a new name, nothing overwritten.
    again = run_plugin(plugin_jar, "Train on this image...", imp,
                       ijbridge.options_string(method="n2s", steps=2, name="bridge n2v", models_dir=installed))
    assert Path(str(again.getInstalledModel())) == installed / "bridge_n2v-2.onnx"
    assert read_card(model).method == "n2v"
    # structN2V from the dialog's struct_n2v_axis: the card records the hidden line along X
    struct = run_plugin(plugin_jar, "Train on this image...", imp,
                        ijbridge.options_string(method="n2v", steps=2, name="bridge struct", struct_n2v_axis="horizontal",
                                                models_dir=installed))
    masking = json.loads(read_card(Path(str(struct.getInstalledModel()))).train["masking"])
    assert (masking["struct_axis"], masking["struct_length"]) == (-1, 5)
