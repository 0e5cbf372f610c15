"""Every menu command of the plugin, run headless from macro options alone on a small input, with its output checked
(issue 16): the file `save=` writes (and `table=` where the command has a table) exists, has the expected shape and
calibration, and one cheap number agrees with the CLI, the Python reference or the planted truth.

The commands come from the jar's generated plugins.config, so a command added without an entry in
:data:`MENU_COMMANDS` fails :func:`test_every_menu_command_has_a_case`. To cover a new command, add one
``"Label...": Case(...)`` entry: ``image`` builds the current image (or None), ``options`` gives the macro options
for an output folder (``save=`` at least), ``check`` gets the plugin object and that folder; ``server=True`` when the
command needs the test server. Everything runs in this process's one headless JVM, as ImageJ's macro runner calls a
plugin (``Run$_`` thread + ``Macro.setOptions``; see ijbridge), against the shared test server.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ijbridge
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from ijbridge import ROOT, options_string, run_cli

MODELS = ROOT / "models"
PIXEL_UM = 0.1


@dataclass(frozen=True)
class Case:
    """How one menu command is run headless and what its output must be."""

    options: Callable[[Path], str]  # macro options, given the folder the outputs go to
    check: Callable[[Any, Path], None]  # (the plugin object after the run, that folder)
    image: Callable[[Path], Any] | None = None  # the current image (an ImagePlus), given the folder; None: no image
    server: bool = False  # runs (part of) its work on the model server


def saved(path: Path) -> tuple[np.ndarray, TiffMeta]:
    assert path.is_file(), f"{path.name} was not written"
    return read_tiff(path)


def rows(path: Path) -> list[dict[str, str]]:
    assert path.is_file(), f"{path.name} was not written"
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def image(array: np.ndarray, axes: str, title: str = "in", **cal):
    cal.setdefault("pixel_size_um", PIXEL_UM)
    return ijbridge.to_imageplus(array, axes, title=title, **cal)


def noisy(shape, seed=1, dtype=np.uint16):
    return ijbridge.noisy_planes(shape, seed=seed, dtype=dtype)


# --- the commands -------------------------------------------------------------------------------------------------

def _denoise_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (48, 48) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    expected = ijbridge.python_reference(noisy((48, 48))[None, None, None], MODELS / "care_denoise_2d.onnx", tile=0)
    ijbridge.assert_matches(data, expected[0, 0, 0])


def _train_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (48, 48) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    assert [p.name for p in (out / "models").glob("*.onnx")] == ["every_cmd_n2v.onnx"]


def _raw_frame(folder: Path):
    """A camera frame with shot noise (the fit needs it) and a pixel size."""
    from fluorecon.imaging.noise import CameraNoise, apply_noise
    from fluorecon.imaging.phantoms import phantom

    camera = CameraNoise(photons=60, gain=2.5, offset=100, read_noise_e=2)
    return image(apply_noise(phantom((96, 96), seed=2), camera, seed=2), "YX")


def _like_check(plugin, out: Path) -> None:
    from fluorecon.core.modelcard import read_card

    data, meta = saved(out / "out.tif")
    assert data.shape == (96, 96) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    assert [p.name for p in (out / "models").glob("*.onnx")] == ["every_cmd_like.onnx"]
    card = read_card(out / "models" / "every_cmd_like.onnx")
    assert card.train["fitted_pixel_size_source"] == "image calibration" and card.train["pixel_size_nm"] == "100"


def _deconvolve_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    write_tiff(out / "in.tif", noisy((40, 48)).astype(np.float32), TiffMeta(axes="YX", pixel_size_um=PIXEL_UM))
    run_cli("deconvolve", out / "in.tif", out / "cli.tif", "--method", "rl", "--num-iter", 3, "--na", 1.2,
            "--wavelength-nm", 520, "--ni", 1.515, "--ns", 1.33)
    assert data.shape == (40, 48) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    ijbridge.assert_matches(data, tifffile.imread(out / "cli.tif"))


def _superres_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (64, 64) and meta.pixel_size_um == pytest.approx(PIXEL_UM / 2)


def _image_to_image_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (32, 32) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    assert plugin.getResult().getTitle() == "in-crossmodal [OOD]"  # a synthetic input, unlike the training data


def _isotropic_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (24, 28, 24)  # 6 slices × z_factor 4
    assert meta.z_step_um == pytest.approx(meta.pixel_size_um) and meta.pixel_size_um == pytest.approx(PIXEL_UM)


def _sim_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (128, 128) and meta.pixel_size_um == pytest.approx(0.08 / 2)
    assert "sim.method = learned" in plugin.getResult().getInfoProperty()


def _white(folder: Path):
    from fluorecon.tasks.lightfield.calibration import white_image

    return image(white_image((96, 110), pitch_px=10.6, rotation_deg=0.8, origin_yx_px=(5.3, 6.1)), "YX", "white")


def _lightfield_check(plugin, out: Path) -> None:
    import json

    data, _ = saved(out / "out.tif")
    cal = json.loads((out / "cal.json").read_text())
    assert data.shape == (cal["n_lenslets"][0] * 11, cal["n_lenslets"][1] * 11)
    assert cal["pitch_px"] == pytest.approx(10.6, abs=0.05)  # the planted lenslet pitch


def _smlm(folder: Path):
    from fluorecon.tasks.localize.physics import simulate_smlm

    data = simulate_smlm(shape=(30, 34), num_frames=6, structure="uniform", density=1.5, camera="emccd", seed=3)
    frames = data.frames.astype(np.float32)
    tifffile.imwrite(folder / "smlm.tif", frames, imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    return image(frames, "TYX", "smlm")


def _localize_check(plugin, out: Path) -> None:
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv

    run_cli("localize", out / "smlm.tif", out / "cli.csv", "--method", "deepstorm", "--background", 100,
            "--camera-gain", 0.1, "--em-gain", 100, "--qe", 0.9)
    got, want = read_thunderstorm_csv(out / "locs.csv"), read_thunderstorm_csv(out / "cli.csv")
    assert len(want) > 5 and len(got) == len(want)
    np.testing.assert_allclose(got["x_nm"], want["x_nm"], rtol=1e-5, atol=1e-3)
    table = rows(out / "table.csv")
    assert len(table) == len(want) and {"id", "frame", "x [nm]", "y [nm]"} <= set(table[0])
    rendered, meta = saved(out / "render.tif")
    assert rendered.shape == (150, 170) and meta.pixel_size_um == pytest.approx(0.02)


def _lambda_data() -> np.ndarray:
    """4 channels over an offset of 100; label l bright in channel l and a little in l + 1, in columns 8l .. 8l + 7."""
    rng = np.random.default_rng(0)
    data = np.full((4, 24, 40), 100, np.float32)
    for label in range(3):
        data[label, :, 8 * label:8 * label + 8] += 300
        data[label + 1, :, 8 * label:8 * label + 8] += 60
    return rng.poisson(data).astype(np.float32)


def _lambda(folder: Path):
    return image(_lambda_data(), "CYX", "lambda")


def _unmix_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (3, 24, 40) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    regions = [data[:, 4:20, 8 * k + 2:8 * k + 6].reshape(3, -1).mean(1) for k in range(3)]
    assert sorted(int(r.argmax()) for r in regions) == [0, 1, 2]  # each planted region is one component


def _phasor_check(plugin, out: Path) -> None:
    assert (out / "out.tif").is_file()
    plot = tifffile.imread(out / "out.tif")  # calibrated in 'phasor' units (G, S), which read_tiff refuses
    assert plot.shape == (64, 64)
    from fluorecon.tasks.unmix.classical import phasor, phasor_plot

    g, s, intensity = phasor(_lambda_data(), offset=100)
    # linear counts, no circle: absent checkboxes are off in a macro
    expected = phasor_plot(g, s, intensity=intensity, threshold=5, bins=64, log=False, circle=False)
    assert plot.sum() > 24 * 24  # at least the three planted labels' pixels
    assert np.abs(plot - expected).sum() <= 4  # float32 sums may put a phasor on a bin edge into the next bin


def _drift(folder: Path):
    base = noisy((40, 40), seed=4).astype(np.float32)
    return image(np.stack([np.roll(base, (0, t), axis=(0, 1)) for t in range(4)]), "TYX", "movie")


def _drift_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (4, 40, 40) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    drift = rows(out / "drift.csv")
    dx = np.array([float(r["dx_px"]) for r in drift])
    np.testing.assert_allclose(dx - dx[0], [0, 1, 2, 3], atol=0.1)  # the planted shift of 1 px per frame


def _views(folder: Path):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(2)
    truth = np.zeros((12, 20, 20), np.float32)
    truth[rng.integers(2, 10, 8), rng.integers(2, 18, 8), rng.integers(2, 18, 8)] = 500
    view = gaussian_filter(truth, 1.0) + 5
    return image(np.stack([view, view], axis=1).astype(np.float32), "ZCYX", "views", z_step_um=0.2)


def _fuse_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert data.shape == (12, 20, 20) and meta.z_step_um == pytest.approx(0.2)
    assert np.isfinite(data).all() and data.min() >= 0


def _qc_images(folder: Path):
    from jpype import JClass

    rng = np.random.default_rng(2)
    truth = np.full((48, 64), 150, np.float32)
    truth[10:30, 12:40] = 400
    raw = image(rng.poisson(truth).astype(np.uint16), "YX", "raw.tif")
    write_tiff(folder / "raw.tif", ijbridge.from_imageplus(raw)[0, 0, 0], TiffMeta(axes="YX", pixel_size_um=PIXEL_UM))
    write_tiff(folder / "res.tif", truth, TiffMeta(axes="YX", pixel_size_um=PIXEL_UM))
    JClass("ij.macro.Interpreter").addBatchModeImage(raw)  # found by title, as an open image is
    return image(truth, "YX", "res.tif")


def _qc_check(plugin, out: Path) -> None:
    import json

    run_cli("qc", out / "raw.tif", out / "res.tif", "--out", out / "cli")
    expected = json.loads((out / "cli" / "qc.json").read_text())
    (row,) = rows(out / "qc.csv")
    assert abs(float(row["residual_std"]) - expected["residual_std"]) <= 1e-5 * max(1.0, expected["residual_std"])
    consistency, meta = saved(out / "out.tif")
    assert consistency.shape[-2:] == (48, 64) and meta.pixel_size_um == pytest.approx(PIXEL_UM)


def _models_check(plugin, out: Path) -> None:
    from fluorecon.core.modelcard import read_card

    table = {r["model"]: r for r in rows(out / "models.csv")}
    assert {p.stem for p in MODELS.glob("*.onnx")} <= set(table), sorted(table)
    assert table["care_denoise_2d"]["task"] == read_card(MODELS / "care_denoise_2d.onnx").task


def _big_file(folder: Path) -> None:
    """Process file… reads its input by path (never opened in ImageJ): written here, no current image."""
    write_tiff(folder / "big.tif", noisy((3, 40, 48), seed=9).astype(np.float32),
               TiffMeta(axes="ZYX", pixel_size_um=PIXEL_UM, z_step_um=0.3))
    return None


def _process_file_check(plugin, out: Path) -> None:
    data, meta = saved(out / "out.tif")
    assert str(plugin.getMessage()) == f"Wrote {out / 'out.tif'}."
    assert data.shape == (3, 40, 48) and meta.pixel_size_um == pytest.approx(PIXEL_UM)
    from fluorecon.tasks.denoise.streaming import denoise_image

    source, source_meta = read_tiff(out / "big.tif")
    np.testing.assert_array_equal(data, denoise_image(source, source_meta, "nlm"))


def _server_check(plugin, out: Path) -> None:
    import fluorecon

    # Server… writes no file: its report (the Log line headless) is the output.
    assert f"fluorecon server {fluorecon.__version__}" in plugin.getMessage()


#: Menu command (its plugins.config label) → how the every-command test runs and checks it. Extend for a new command.
MENU_COMMANDS: dict[str, Case] = {
    "Denoise...": Case(
        image=lambda d: image(noisy((48, 48)), "YX"),
        options=lambda d: options_string(model="[file]", model_file=MODELS / "care_denoise_2d.onnx", tile=0,
                                         threads=2, save=d / "out.tif"),
        check=_denoise_check),
    "Train on this image...": Case(
        image=lambda d: image(noisy((48, 48), seed=2).astype(np.float32), "YX"),
        options=lambda d: options_string(method="n2v", steps=3, ndim=2, name="every_cmd_n2v",
                                         models_dir=d / "models", save=d / "out.tif"),
        check=_train_check, server=True),
    "Train for my microscope...": Case(
        image=_raw_frame,
        options=lambda d: options_string(na=1.2, wavelength_nm=520, steps=2, name="every_cmd_like",
                                         models_dir=d / "models", save=d / "out.tif"),
        check=_like_check, server=True),
    "Deconvolve...": Case(
        image=lambda d: image(noisy((40, 48)).astype(np.float32), "YX"),
        options=lambda d: options_string(method="rl", iterations=3, psf="[theoretical]", na=1.2, wavelength_nm=520,
                                         ni=1.515, ns=1.33, save=d / "out.tif"),
        check=_deconvolve_check, server=True),
    "Super-resolve...": Case(
        image=lambda d: image(noisy((32, 32)), "YX"),
        options=lambda d: options_string(model="[file]", model_file=MODELS / "care_upsample2x_2d.onnx",
                                         save=d / "out.tif"),
        check=_superres_check),
    "Image-to-image...": Case(
        image=lambda d: image(noisy((32, 32)), "YX"),
        options=lambda d: options_string(model="[file]", model_file=MODELS / "care_crossmodal_2d.onnx",
                                         save=d / "out.tif"),
        check=_image_to_image_check),
    "Isotropic restoration...": Case(
        image=lambda d: image(noisy((6, 28, 24), seed=3), "ZYX", z_step_um=0.4),
        options=lambda d: options_string(model="[file]", model_file=MODELS / "care_isotropic_2d.onnx",
                                         save=d / "out.tif"),
        check=_isotropic_check),
    "SIM reconstruction...": Case(
        image=lambda d: image(noisy((9, 64, 64), seed=5).astype(np.float32), "ZYX", pixel_size_um=0.08),
        options=lambda d: options_string(method="learned", order="angle-phase-z", angles=3, phases=3, model="[file]",
                                         model_file=MODELS / "sim_2d_9frames.onnx", save=d / "out.tif"),
        check=_sim_check),
    "Light-field...": Case(
        image=_white,
        options=lambda d: options_string(action="calibrate", nnum=11, calibration=d / "cal.json", save=d / "out.tif"),
        check=_lightfield_check, server=True),
    "Localize (SMLM)...": Case(
        image=_smlm,
        options=lambda d: options_string(model_file=MODELS / "deepstorm_2d.onnx", threshold=0, camera_offset=100,
                                         camera_gain=0.1, em_gain=100, qe=0.9, render_pixel_nm=20,
                                         save=d / "locs.csv", table=d / "table.csv", render=d / "render.tif"),
        check=_localize_check),
    "Unmix...": Case(
        image=_lambda,
        options=lambda d: options_string(method="nmf", labels=3, offset=100, save=d / "out.tif"),
        check=_unmix_check, server=True),
    "Spectral phasor...": Case(
        image=_lambda,
        options=lambda d: options_string(harmonic=1, offset=100, threshold=5, bins=64, save=d / "out.tif"),
        check=_phasor_check),
    "Process file...": Case(
        image=_big_file,
        options=lambda d: options_string(file=d / "big.tif", command="denoise-classical", method="nlm",
                                         save=d / "out.tif"),
        check=_process_file_check, server=True),
    "Correct drift...": Case(
        image=_drift,
        options=lambda d: options_string(reference="first", channel=1, upsample=20, save=d / "out.tif",
                                         table=d / "drift.csv"),
        check=_drift_check, server=True),
    "Multiview fusion...": Case(
        image=_views,
        options=lambda d: options_string(num_iter=2, na=0.8, wavelength_nm=520, ni=1.33, view_axes="z,x",
                                         sheet_fwhm_nm=1500, background=5, save=d / "out.tif"),
        check=_fuse_check, server=True),
    "Check result (QC)...": Case(
        image=_qc_images,
        options=lambda d: options_string(input="raw.tif", result="res.tif", save=d / "out.tif", table=d / "qc.csv"),
        check=_qc_check, server=True),
    "Models...": Case(options=lambda d: options_string(save=d / "models.csv"), check=_models_check),
    "Server...": Case(options=lambda d: "action=status", check=_server_check, server=True),
}


def menu_labels(plugin_jar: Path) -> list[str]:
    """The command labels of the jar's generated plugins.config."""
    with zipfile.ZipFile(plugin_jar) as jar:
        config = jar.read("plugins.config").decode("utf-8")
    labels = []
    for line in config.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if line.strip() and not line.startswith("#") and len(parts) >= 3:
            labels.append(parts[1].strip('"'))
    return labels


def test_every_menu_command_has_a_case(plugin_jar):
    labels = set(menu_labels(plugin_jar))
    missing, stale = sorted(labels - set(MENU_COMMANDS)), sorted(set(MENU_COMMANDS) - labels)
    assert not missing, f"menu commands without a headless case in MENU_COMMANDS: {missing}"
    assert not stale, f"MENU_COMMANDS lists commands that plugins.config lacks: {stale}"


@pytest.mark.parametrize("label", sorted(MENU_COMMANDS))
def test_menu_command_headless(label, request, headless_jvm, plugin_jar, tmp_path):
    from jpype import JClass

    case = MENU_COMMANDS[label]
    if case.server:
        request.getfixturevalue("config_dir")
    System = JClass("java.lang.System")
    System.setProperty("fluorecon.models", str(MODELS))  # ModelLibrary.PROPERTY: Models… lists the shipped ones
    Interpreter, WindowManager = JClass("ij.macro.Interpreter"), JClass("ij.WindowManager")
    Interpreter.batchMode = True
    try:
        imp = case.image(tmp_path) if case.image is not None else None
        if imp is not None:
            Interpreter.addBatchModeImage(imp)
            WindowManager.setTempCurrentImage(imp)
        plugin = ijbridge.run_plugin(plugin_jar, label, None, case.options(tmp_path))
        case.check(plugin, tmp_path)
    finally:
        WindowManager.setTempCurrentImage(None)
        for title in list(WindowManager.getImageTitles() or []):  # drop this case's images (batch mode keeps them)
            found = WindowManager.getImage(title)
            if found is not None:
                Interpreter.removeBatchModeImage(found)
        System.clearProperty("fluorecon.models")
