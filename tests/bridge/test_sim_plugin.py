"""SIM reconstruction… in the real plugin jar: the learned path (local ONNX Runtime, the shipped 9- and
3-frame models) equals `fluorecon sim learned`, the classical path through a real `fluorecon serve`
equals `fluorecon sim reconstruct`, both halve the pixel size, and a stack that does not fit the
angles × phases is refused in words before any work."""

from __future__ import annotations

import json


import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin


from fluorecon.core.io import TiffMeta, write_tiff  # noqa: E402

PIXEL_UM = 0.08


@pytest.fixture(scope="module")
def raw_stack(tmp_path_factory):
    """Two z planes of simulated 2D SIM (3 angles × 3 phases, 64×64), flat in angle-phase-z order."""
    from fluorecon.tasks.sim.learned import SIMLearnedSimulation, simulate_triples

    sim = SIMLearnedSimulation(raw_shape=(64, 64), photons=200.0, seed=11)
    planes = [t.raw for t in simulate_triples(sim, n=2)]  # each (9, H, W), angle-major
    flat = np.stack(planes, axis=1).reshape(18, 64, 64)  # frame outside, z inside
    path = tmp_path_factory.mktemp("sim") / "raw.tif"
    write_tiff(path, flat.astype(np.float32), TiffMeta(axes="ZYX", pixel_size_um=PIXEL_UM))
    return path, flat, np.stack(planes)


@pytest.mark.parametrize("model", ["sim_2d_9frames.onnx", "sim_2d_3frames.onnx"])
def test_learned_equals_cli_and_halves_the_pixel(headless_jvm, plugin_jar, tmp_path, raw_stack, model):
    path, flat, _ = raw_stack
    model_path = ROOT / "models" / model
    run_cli("sim", "learned", model_path, path, tmp_path / "cli.tif", "--order", "angle-phase-z")
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(flat, "ZYX", title="raw", pixel_size_um=PIXEL_UM)
    save = tmp_path / "plugin.tif"
    opts = ijbridge.options_string(method="learned", order="angle-phase-z", angles=3, phases=3, model="[file]",
                                   model_file=model_path, tile=0, threads=1, save=save)
    out = run_plugin(plugin_jar, "SIM reconstruction...", imp, opts).getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "raw-SIM [OOD]"  # synthetic input, unlike the model's training data: flagged (test_ood_plugin.py)
    assert (out.getWidth(), out.getHeight(), out.getStackSize()) == (128, 128, 2)
    assert out.getCalibration().pixelWidth == pytest.approx(PIXEL_UM / 2)
    assert out.getCalibration().pixelHeight == pytest.approx(PIXEL_UM / 2)
    assert out.getCalibration().getUnit() in ("micron", "µm")
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)
    assert "sim.method = learned" in str(out.getInfoProperty())


def test_learned_reads_the_z_angle_phase_order(headless_jvm, plugin_jar, tmp_path, raw_stack):
    path, flat, planes = raw_stack
    model_path = ROOT / "models" / "sim_2d_3frames.onnx"
    run_cli("sim", "learned", model_path, path, tmp_path / "apz.tif", "--order", "angle-phase-z")
    expected = tifffile.imread(tmp_path / "apz.tif")
    zap = planes.reshape(18, 64, 64)  # z outside: the fairSIM/OMX layout
    imp = ijbridge.to_imageplus(zap, "ZYX", title="raw", pixel_size_um=PIXEL_UM)
    opts = ijbridge.options_string(method="learned", order="z-angle-phase", angles=3, phases=3, model="[file]",
                                   model_file=model_path, threads=1)
    out = run_plugin(plugin_jar, "SIM reconstruction...", imp, opts).getResult()
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)


def test_wrong_stack_size_is_refused_in_words(headless_jvm, plugin_jar, raw_stack):
    _, flat, _ = raw_stack
    imp = ijbridge.to_imageplus(flat[:10], "ZYX", title="raw", pixel_size_um=PIXEL_UM)
    opts = ijbridge.options_string(method="learned", order="angle-phase-z", angles=3, phases=3, model="[file]",
                                   model_file=ROOT / "models" / "sim_2d_9frames.onnx")
    with pytest.raises(Exception, match="The stack has 10 images"):
        run_plugin(plugin_jar, "SIM reconstruction...", imp, opts)
    with pytest.raises(Exception, match="not a frame order"):
        run_plugin(plugin_jar, "SIM reconstruction...", imp, opts.replace("angle-phase-z", "angle-z"))
    imp = ijbridge.to_imageplus(flat[:15], "ZYX", title="raw", pixel_size_um=PIXEL_UM)
    with pytest.raises(Exception, match="made for 3 angles × 3 phases, but angles = 3, phases = 5"):
        run_plugin(plugin_jar, "SIM reconstruction...", imp, opts.replace("phases=3", "phases=5"))


def test_classical_on_the_server_equals_cli(config_dir, plugin_jar, tmp_path):
    raw = tmp_path / "raw.tif"
    run_cli("sim", "simulate", raw, "--size", 96, "--photons", 500, "--seed", 3)
    frames = tifffile.imread(raw).astype(np.float32).reshape(-1, 96, 96)
    run_cli("sim", "reconstruct", raw, tmp_path / "cli.tif", "--order", "angle-phase-z", "--pixel-size-nm", 80,
            "--device", "cpu")
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(frames, "ZYX", title="raw", pixel_size_um=PIXEL_UM)
    opts = ijbridge.options_string(method="classical", order="angle-phase-z", angles=3, phases=3, estimate=True,
                                   na=1.4, wavelength=520, pixel_size=0, line_spacing=210, angle_offset=8,
                                   wiener=0.05)
    plugin = run_plugin(plugin_jar, "SIM reconstruction...", imp, opts)
    out = plugin.getResult()
    assert out is not None and plugin.getJobId()
    assert (out.getWidth(), out.getHeight(), out.getStackSize()) == (192, 192, 1)
    assert out.getCalibration().pixelWidth == pytest.approx(PIXEL_UM / 2)
    assert_matches(ijbridge.from_imageplus(out)[0, 0, 0], expected.reshape(192, 192))
    assert "sim_params" in str(out.getInfoProperty())


def test_classical_3d_on_the_server_equals_cli_and_keeps_z(config_dir, plugin_jar, tmp_path):
    """mode=3d reaches the server (three-beam, 5 phases by default in a macro) with the stack's z step."""
    raw = tmp_path / "raw3d.tif"
    run_cli("sim", "simulate", raw, "--mode", "3d", "--size", 48, "--planes", 6, "--photons", 500, "--seed", 4)
    frames = tifffile.imread(raw).astype(np.float32)
    frames = frames.reshape(-1, *frames.shape[-2:])
    assert frames.shape[0] == 3 * 5 * 6
    run_cli("sim", "reconstruct", raw, tmp_path / "cli.tif", "--mode", "3d", "--order", "angle-phase-z",
            "--pixel-nm", 80, "--z-step-nm", 125, "--device", "cpu")
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(frames, "ZYX", title="raw3d", pixel_size_um=0.08)
    imp.getCalibration().pixelDepth = 0.125
    opts = ijbridge.options_string(method="classical", mode="3d", order="angle-phase-z", angles=3, estimate=True,
                                   na=1.4, wavelength=520, pixel_size=0, line_spacing=210, angle_offset=8,
                                   wiener=0.05)
    plugin = run_plugin(plugin_jar, "SIM reconstruction...", imp, opts)
    out = plugin.getResult()
    assert (out.getWidth(), out.getHeight(), out.getNSlices()) == (96, 96, 6)
    assert out.getCalibration().pixelDepth == pytest.approx(0.125)
    spec = next(ln for ln in str(out.getInfoProperty()).splitlines() if ln.startswith("sim.spec = "))
    spec = json.loads(spec.removeprefix("sim.spec = "))
    assert (spec["mode"], spec["n_phases"], spec["z_step_nm"]) == ("3d", 5, pytest.approx(125))
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected.reshape(6, 96, 96))
    # without a z step (and none given): a clear message
    imp.getCalibration().pixelDepth = 1.0
    imp.getCalibration().setZUnit("pixel")
    with pytest.raises(Exception, match="without a z step"):
        run_plugin(plugin_jar, "SIM reconstruction...", imp, opts)
