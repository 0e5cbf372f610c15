"""Every Fiji command that runs a model checks its input against the card's training statistics (issue 13): the
real plugin jar in a JVM, the shipped models. The bundled in-distribution sample passes Denoise… with no flag;
an 8-bit photograph and the sample ×1000 get " [OOD]" in the output's title, `fluorecon.qc.ood` lines in its
Info and a Log warning that offers Noise2Void on the image with its macro call; Super-resolve… and
Image-to-image… show the check the same way. The Java distance equals fluorecon.qc.ood's (Python) on the same
input, also for a unit above the 2048² budget that both examine on 512² windows."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, run_plugin

from fluorecon.core.modelcard import read_card  # noqa: E402
from fluorecon.qc.ood import check_input, image_features  # noqa: E402

SAMPLE = ROOT / "python" / "fluorecon" / "data" / "sample_noisy_2d.tif"
UPSAMPLE = ROOT / "models" / "care_upsample2x_2d.onnx"
CROSSMODAL = ROOT / "models" / "care_crossmodal_2d.onnx"
TRAIN_CALL = 'run("Train on this image...", "method=n2v'


def _camera() -> np.ndarray:
    from skimage import data

    return data.camera()[::2, ::2]  # 256 x 256, uint8: a photograph, not a fluorescence image


def _run(plugin_jar, command, image, model, capfd, **opts):
    capfd.readouterr()
    imp = ijbridge.to_imageplus(image, "YX", title="input")
    out = run_plugin(plugin_jar, command, imp, ijbridge.options_string(model="[file]", model_file=model, tile=0,
                                                                         threads=2, **opts)).getResult()
    log = capfd.readouterr().out  # headless IJ.log prints to stdout
    return out, str(out.getProperty("Info")), log


def _java_distance(info: str) -> float:
    return float(re.search(r"largest distance ([0-9.]+)", info).group(1))


def test_bundled_sample_passes_denoise_with_no_flag(headless_jvm, plugin_jar, model_2d, capfd):
    sample = tifffile.imread(SAMPLE)
    out, info, log = _run(plugin_jar, "Denoise...", sample, model_2d, capfd)
    assert out.getTitle() == "input-denoised"
    assert "fluorecon.qc.ood = in distribution: 1 input checked (largest distance" in info
    assert "fluorecon.qc.ood.warning" not in info and "WARNING" not in log and TRAIN_CALL not in log
    card = read_card(model_2d)
    py = check_input(sample, card.qc, norm=card.norm)
    assert py.in_distribution and _java_distance(info) == pytest.approx(py.scores["distance"], abs=0.006)


@pytest.mark.parametrize("name", ["camera_8bit", "sample_x1000"])
def test_photograph_and_brighter_input_are_flagged_in_title_info_and_log(headless_jvm, plugin_jar, model_2d, capfd,
                                                                         name):
    image = _camera() if name == "camera_8bit" else tifffile.imread(SAMPLE) * np.float32(1000)
    out, info, log = _run(plugin_jar, "Denoise...", image, model_2d, capfd)
    assert out.getTitle() == "input-denoised [OOD]"
    assert "fluorecon.qc.ood = out of distribution: 1 of 1 input checked (largest distance" in info
    assert re.search(r"features out: [^)]*log10_range \+", info)  # the intensity scale is out in both
    assert "fluorecon.qc.ood.warning = image: Intensity scale differs from the training data" in info
    assert "fluorecon.qc.ood.way_forward = " in info and TRAIN_CALL in info
    assert "fluorecon Denoise: WARNING: input out of distribution" in log and TRAIN_CALL in log
    card = read_card(model_2d)
    py = check_input(image, card.qc, norm=card.norm)
    assert not py.in_distribution and _java_distance(info) == pytest.approx(py.scores["distance"], abs=0.006)


def test_super_resolve_flags_a_photograph(headless_jvm, plugin_jar, capfd):
    out, info, log = _run(plugin_jar, "Super-resolve...", _camera()[:96, :128], UPSAMPLE, capfd)
    assert out.getTitle() == "input-superres [OOD]" and out.getWidth() == 256
    assert "fluorecon.qc.ood = out of distribution" in info
    assert "fluorecon Super-resolve: WARNING: input out of distribution" in log and TRAIN_CALL in log


def test_image_to_image_checks_every_frame(headless_jvm, plugin_jar, capfd):
    sample = tifffile.imread(SAMPLE)[:128, :128]
    frames = np.stack([sample, sample * np.float32(1000)])  # frame 2 is far brighter than any training input
    capfd.readouterr()
    imp = ijbridge.to_imageplus(frames, "TYX", title="movie")
    out = run_plugin(plugin_jar, "Image-to-image...", imp, ijbridge.options_string(
        model="[file]", model_file=CROSSMODAL, tile=0, threads=2)).getResult()
    info, log = str(out.getProperty("Info")), capfd.readouterr().out
    assert out.getTitle() == "movie-crossmodal [OOD]"
    assert "fluorecon.qc.ood = out of distribution: " in info and " of 2 inputs checked" in info
    assert "fluorecon.qc.ood.warning = frame 2: " in info
    assert "frame 2: " in log


def test_localize_checks_a_sample_of_frames_and_flags_the_rendering(headless_jvm, plugin_jar, capfd):
    frames = np.stack([_camera()[64 * k:64 * k + 64, 64:128] for k in range(3)]).astype(np.float32)
    capfd.readouterr()
    imp = ijbridge.to_imageplus(frames, "TYX", title="photo", pixel_size_um=0.1)
    plugin = run_plugin(plugin_jar, "Localize (SMLM)...", imp, ijbridge.options_string(
        model_file=ROOT / "models" / "deepstorm_2d.onnx", threshold=0, render_pixel_nm=20, threads=2))
    render, log = plugin.getRendering(), capfd.readouterr().out
    info = str(render.getProperty("Info"))
    assert render.getTitle() == "photo-localizations [OOD]"
    assert "fluorecon.qc.ood = out of distribution: 3 of 3 inputs checked" in info
    assert "fluorecon.qc.ood.warning = frame 1: " in info
    assert "fluorecon Localize: WARNING: input out of distribution" in log and TRAIN_CALL in log


def test_large_unit_features_match_python_on_the_same_windows(headless_jvm):
    """3 planes of 1100 x 1300 (4.3 MPix, above the 2048² budget): Java picks the same 16 windows of 512² across the
    planes as Python and computes the same features from them (each window's spectrum floored on its own). Too large
    for tests/vectors, so checked here against Python in the same process."""
    from jpype import JArray, JClass, JFloat

    from fluorecon.qc import ood

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:1100, 0:1300]
    signal = 40 + 30 * np.sin(y / 9.0) * np.cos(x / 13.0) + 20 * (np.hypot(y - 500, x - 700) < 200)
    stack = np.stack([rng.poisson(signal * (1 + 0.2 * k)) + 100 for k in range(3)]).astype(np.float32)
    assert stack.size > ood._MAX_PIXELS
    norm = "percentile:1:99.8"
    expected = image_features(stack, norm)
    planes = JArray(JArray(JFloat))([JArray(JFloat)(p.ravel()) for p in stack])
    java = JClass("org.fluorecon.core.OodCheck").features(planes, 1300, norm)
    assert sorted(str(k) for k in java.keySet()) == sorted(expected)
    for name, value in expected.items():
        assert float(java.get(name)) == pytest.approx(value, rel=1e-6, abs=1e-9), name
