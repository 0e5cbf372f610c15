"""Light-field… in the real plugin jar: the learned path (local ONNX Runtime, views extracted in
Java) equals `fluorecon lightfield-learned predict`, rectified or raw with a calibration; the
iterative path (real `fluorecon serve`) equals `fluorecon lightfield reconstruct`; calibration on
the server equals `fluorecon lightfield calibrate`; every volume carries its z calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin


from fluorecon.core.io import TiffMeta, read_tiff, write_tiff  # noqa: E402
from fluorecon.core.modelcard import read_card  # noqa: E402

MODEL = ROOT / "models" / "lightfield_vcd.onnx"
# Small optics for the server path: the PSF takes seconds and is cached on disk.
SMALL = dict(nnum=5, z_min=-8.0, z_max=8.0, z_step=4.0)


@pytest.fixture(scope="module")
def card():
    if not MODEL.is_file():
        pytest.fail(f"shipped model missing: {MODEL} (make models)")
    return read_card(MODEL)


def _volume_calibration_ok(out, *, planes, z_min, z_step, voxel):
    cal = out.getCalibration()
    assert out.getNSlices() == planes and out.getNChannels() == 1 and out.getNFrames() == 1
    assert cal.getUnit() == "micron"
    assert cal.pixelWidth == pytest.approx(voxel, rel=1e-6) and cal.pixelHeight == pytest.approx(voxel, rel=1e-6)
    assert cal.pixelDepth == pytest.approx(z_step)
    assert cal.getZ(0) == pytest.approx(z_min)  # slice 1 sits at z_min (z origin)


def test_learned_equals_cli_and_is_z_calibrated(headless_jvm, plugin_jar, card, tmp_path):
    nnum = int(card.train["nnum"])
    rng = np.random.default_rng(0)
    lf = rng.poisson(30, size=(9 * nnum, 8 * nnum)).astype(np.uint16)  # 9 × 8 lenslets
    write_tiff(tmp_path / "lf.tif", lf, TiffMeta(axes="YX"))
    run_cli("lightfield-learned", "predict", tmp_path / "lf.tif", tmp_path / "cli.tif", "--model", MODEL)
    expected, meta = read_tiff(tmp_path / "cli.tif")

    imp = ijbridge.to_imageplus(lf, "YX", title="lf")
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Light-field...", imp, ijbridge.options_string(
        action="reconstruct", method="learned", model="[file]", model_file=MODEL, save=save))
    out = plugin.getResult()
    assert out is not None and save.is_file() and out.getTitle() == "lf-volume [OOD]"  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    got = ijbridge.from_imageplus(out)[0, :, 0]  # Z, Y, X
    assert_matches(got, expected)
    _volume_calibration_ok(out, planes=int(card.train["z_planes"]), z_min=float(card.train["z_min_um"]),
                           z_step=float(card.train["z_step_um"]), voxel=float(card.train["voxel_size_um"]))
    assert meta.z_step_um == pytest.approx(out.getCalibration().pixelDepth)
    info = out.getInfoProperty()
    assert "lightfield.method = learned" in info and "execution.provider = CPUExecutionProvider" in info
    assert plugin.getProgressShown()[-1] == pytest.approx(1.0)


def test_learned_rectifies_a_raw_light_field_like_the_cli(headless_jvm, plugin_jar, card, tmp_path):
    from fluorecon.tasks.lightfield.calibration import LensletGrid

    nnum = int(card.train["nnum"])
    rng = np.random.default_rng(1)
    raw = rng.uniform(50, 150, size=(70, 84)).astype(np.float32)
    grid = LensletGrid(pitch_px=nnum * 0.62, rotation_deg=1.5, origin_yx_px=(4.2, 3.9), n_lenslets=(8, 10),
                       nnum=nnum, image_shape=raw.shape)
    (tmp_path / "cal.json").write_text(grid.model_dump_json())
    write_tiff(tmp_path / "raw.tif", raw, TiffMeta(axes="YX"))
    run_cli("lightfield-learned", "predict", tmp_path / "raw.tif", tmp_path / "cli.tif", "--model", MODEL,
            "--calibration", tmp_path / "cal.json")
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(raw, "YX", title="raw")
    out = run_plugin(plugin_jar, "Light-field...", imp, ijbridge.options_string(
        action="reconstruct", method="learned", model="[file]", model_file=MODEL,
        calibration=tmp_path / "cal.json")).getResult()
    got = ijbridge.from_imageplus(out)[0, :, 0]
    assert got.shape == (int(card.train["z_planes"]), 8 * nnum, 10 * nnum)
    assert_matches(got, expected, rel=1e-3)  # bilinear resampling in Java vs SciPy: float32 round-off, amplified


def test_learned_refuses_a_partial_lenslet_image(headless_jvm, plugin_jar, card):
    imp = ijbridge.to_imageplus(np.ones((50, 50), np.float32), "YX", title="odd")
    with pytest.raises(Exception, match="not a whole number of 11x11 lenslets"):
        run_plugin(plugin_jar, "Light-field...", imp, ijbridge.options_string(
            action="reconstruct", method="learned", model="[file]", model_file=MODEL))


def test_iterative_on_the_server_equals_cli(config_dir, plugin_jar, tmp_path):
    from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig, LightFieldOptics
    from fluorecon.tasks.lightfield.classical import simulate

    optics = LightFieldOptics(nnum=SMALL["nnum"], z_min_um=SMALL["z_min"], z_max_um=SMALL["z_max"],
                              z_step_um=SMALL["z_step"])
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(8, 8), optics=optics))
    _, lf, _ = simulate(physics, n_beads=5, photons=300.0, seed=2)
    write_tiff(tmp_path / "lf.tif", lf, TiffMeta(axes="YX"))
    run_cli("lightfield", "reconstruct", tmp_path / "lf.tif", tmp_path / "cli.tif", "--num-iter", 3, "--nnum", 5,
            "--z-range", "-8:8:4", "--device", "cpu")
    expected = tifffile.imread(tmp_path / "cli.tif")

    imp = ijbridge.to_imageplus(lf, "YX", title="lf")
    plugin = run_plugin(plugin_jar, "Light-field...", imp, ijbridge.options_string(
        action="reconstruct", method="iterative", num_iter=3, nnum=5, z_min=-8, z_max=8, z_step=4))
    out = plugin.getResult()
    assert out is not None and out.getTitle() == "lf-volume"
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)
    _volume_calibration_ok(out, planes=5, z_min=-8.0, z_step=4.0, voxel=optics.voxel_size_um)
    assert plugin.getJobId() and plugin.getProgressShown()[-1] == pytest.approx(1.0)
    assert '"num_iter":3' in out.getInfoProperty().replace(" ", "")


def test_calibration_on_the_server_equals_cli(config_dir, plugin_jar, tmp_path):
    from fluorecon.tasks.lightfield.calibration import white_image

    white = white_image((96, 110), pitch_px=10.6, rotation_deg=0.8, origin_yx_px=(5.3, 6.1))
    write_tiff(tmp_path / "white.tif", white, TiffMeta(axes="YX"))
    run_cli("lightfield", "calibrate", tmp_path / "white.tif", tmp_path / "cli.json", "--nnum", 11)
    expected = json.loads((tmp_path / "cli.json").read_text())

    imp = ijbridge.to_imageplus(white, "YX", title="white")
    plugin = run_plugin(plugin_jar, "Light-field...", imp, ijbridge.options_string(
        action="calibrate", nnum=11, calibration=tmp_path / "plugin.json"))
    got = json.loads((tmp_path / "plugin.json").read_text())
    assert got == expected
    assert json.loads(plugin.getCalibrationJson()) == expected
    out = plugin.getResult()
    assert out.getTitle() == "white-rectified"
    assert (out.getHeight(), out.getWidth()) == (expected["n_lenslets"][0] * 11, expected["n_lenslets"][1] * 11)
