"""Unmix… with spectra measured in ROIs, Spectral phasor… (plot + ROI mask) and Correct drift… on a
localisation table, the real plugin against a real `fluorecon serve`: each equals its CLI
(`fluorecon unmix --mixing --background`, `fluorecon phasor`, `fluorecon register-table`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import assert_matches, run_cli, run_plugin


from fluorecon.core.io import TiffMeta, write_tiff  # noqa: E402
from fluorecon.tasks.register.physics import simulate_drifting_localizations  # noqa: E402
from fluorecon.tasks.unmix.physics import Detector, mixing_matrix  # noqa: E402
from fluorecon.tasks.register import table as RT  # noqa: E402

LABELS = ["DAPI", "EGFP", "mCherry"]


def lambda_stack(seed: int = 0) -> np.ndarray:
    """(C=8, Y=40, X=48): three labels in their own regions (columns 0–11, 12–23, 24–35), an even
    mixture below them, empty background at x ≥ 36; offset 100 + a per-channel background, Poisson noise."""
    m = mixing_matrix(LABELS, Detector.lambda_stack(start_nm=430, stop_nm=710, channels=8))
    truth = np.zeros((3, 40, 48), np.float32)
    for label in range(3):
        truth[label, :20, 12 * label:12 * label + 12] = 400
    truth[:, 20:, :36] = 150
    background = np.linspace(5, 20, 8, dtype=np.float32)
    clean = np.tensordot(m, truth, axes=([1], [0])) + background[:, None, None]
    return np.random.default_rng(seed).poisson(clean).astype(np.float32) + 100


def test_unmix_with_roi_spectra_equals_cli(config_dir, plugin_jar, tmp_path):
    from jpype import JClass

    image = lambda_stack()
    imp = ijbridge.to_imageplus(image, "CYX", title="lambda", pixel_size_um=0.1)
    Roi, OvalRoi, Overlay = JClass("ij.gui.Roi"), JClass("ij.gui.OvalRoi"), JClass("ij.gui.Overlay")
    rois = [Roi(2, 2, 8, 14), OvalRoi(13, 3, 10, 12), Roi(26, 1, 8, 16), Roi(38, 5, 8, 30)]  # last: background
    for roi, name in zip(rois, ["nuclei", "green", "red", "background"]):
        roi.setName(name)
    overlay = Overlay()
    for roi in rois:
        overlay.add(roi)
    imp.setOverlay(overlay)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Unmix...", imp, ijbridge.options_string(
        method="nnls", source="rois", background="last_roi", labels=0, offset=100, save=save))
    out = plugin.getResult()
    assert out.getTitle() == "lambda-unmixed" and out.getNChannels() == 3
    assert [str(out.getStack().getSliceLabel(i + 1)) for i in range(3)] == ["nuclei", "green", "red"]

    # The same spectra measured here from the ROIs' masks, then the CLI.
    def mean_spectrum(roi):
        b = roi.getBounds()
        mask = roi.getMask()
        sel = np.ones((b.height, b.width), bool) if mask is None else (
            np.array(mask.getPixels(), np.uint8).reshape(b.height, b.width) != 0)
        region = image[:, b.y:b.y + b.height, b.x:b.x + b.width]
        return region[:, sel].astype(np.float64).mean(axis=1)

    background = mean_spectrum(rois[3]) - 100
    spectra = [np.clip(mean_spectrum(r) - 100 - background, 0, None) for r in rois[:3]]
    mixing = np.stack([s / s.sum() for s in spectra], axis=1)
    (tmp_path / "m.json").write_text(json.dumps(mixing.tolist()))
    src = tmp_path / "in.tif"
    write_tiff(src, image, TiffMeta(axes="CYX", pixel_size_um=0.1))
    run_cli("unmix", src, tmp_path / "cli.tif", "--mixing", tmp_path / "m.json",
            "--background", ",".join(repr(100 + float(v)) for v in background))  # offset + per-channel background
    expected = tifffile.imread(tmp_path / "cli.tif")
    got = ijbridge.from_imageplus(out)[0, 0]
    assert_matches(got, expected)
    # each label's own region is assigned to it (pure-region abundance ≫ the others)
    for label in range(3):
        region = got[:, :20, 12 * label + 2:12 * label + 10].mean(axis=(1, 2))
        assert region.argmax() == label and region[label] > 5 * np.delete(region, label).max(), region


def test_spectral_phasor_plot_and_roi_mask_equal_cli(config_dir, plugin_jar, tmp_path):
    from jpype import JArray, JClass, JFloat

    image = lambda_stack(seed=1)
    src = tmp_path / "in.tif"
    write_tiff(src, image, TiffMeta(axes="CYX", pixel_size_um=0.1))
    imp = ijbridge.to_imageplus(image, "CYX", title="lambda", pixel_size_um=0.1)
    plugin = run_plugin(plugin_jar, "Spectral phasor...", imp, "harmonic=1 offset=100 threshold=5 bins=64 log circle")
    plot = plugin.getResult()
    assert plot.getTitle() == "lambda-phasor" and (plot.getWidth(), plot.getHeight()) == (64, 64)
    got_plot = ijbridge.from_imageplus(plot)[0, 0, 0]
    # ROI around the green label's phasor, in ImageJ coordinates on the plot
    xs, ys = [30.0, 44.5, 44.0, 31.0], [6.0, 7.0, 22.0, 21.5]
    vertices = ";".join(f"{x * 2 / 64 - 1!r},{1 - y * 2 / 64!r}" for x, y in zip(xs, ys))
    run_cli("phasor", src, tmp_path / "plot.tif", "--background", 100, "--threshold", 5, "--bins", 64,
            "--roi", vertices, "--mask", tmp_path / "mask.tif")
    expected_plot = tifffile.imread(tmp_path / "plot.tif")
    # NumPy's float32 BLAS sums and Java's differ in the last bit of G, S: a phasor lying on a bin edge
    # may land in the neighbouring bin (the JUnit vector checks the plot bit for bit from equal G, S).
    differ = np.abs(got_plot - expected_plot) > 1e-6
    assert differ.sum() <= 4, np.argwhere(differ)
    assert np.isclose(np.expm1(got_plot[~differ]).sum(), np.expm1(expected_plot[~differ]).sum())

    polygon = JClass("ij.gui.PolygonRoi")(JArray(JFloat)(xs), JArray(JFloat)(ys), 4, JClass("ij.gui.Roi").POLYGON)
    plot.setRoi(polygon)
    masker = run_plugin(plugin_jar, "Spectral phasor...", plot, "save=" + str(tmp_path / "plugin_mask.tif"))
    mask = masker.getResult()
    assert mask.getTitle() == "lambda-phasor-mask" and mask.getCalibration().pixelWidth == pytest.approx(0.1)
    got_mask = ijbridge.from_imageplus(mask)[0, 0, 0]
    expected_mask = tifffile.imread(tmp_path / "mask.tif")
    np.testing.assert_array_equal(got_mask, expected_mask)
    assert 0.8 < (got_mask[:20, 14:22] == 255).mean() and (got_mask[:, 38:] == 255).mean() < 0.05
    assert (tmp_path / "plugin_mask.tif").is_file()


def _locs_table(n_frames: int, seed: int):
    locs, drift = simulate_drifting_localizations(n_frames=n_frames, drift_nm=120, seed=seed)
    n = len(locs["frame"])
    rng = np.random.default_rng(seed)
    values = np.column_stack([np.arange(1, n + 1), locs["frame"] + 1, locs["x_nm"], locs["y_nm"],
                              rng.uniform(500, 3000, n).round(1), np.full(n, 12.5)])
    return values, ["id", "frame", "x [nm]", "y [nm]", "intensity [photon]", "sigma [nm]"], drift


def test_correct_drift_of_a_table_file_equals_cli(config_dir, plugin_jar, tmp_path):
    values, columns, truth = _locs_table(1500, seed=21)
    locs = tmp_path / "locs.csv"
    RT.write_table_csv(locs, values, columns)
    run_cli("register-table", locs, tmp_path / "cli.csv", "--segments", 10, "--pixel-size-nm", 20,
            "--drift-csv", tmp_path / "drift.csv")
    save = tmp_path / "plugin.csv"
    plugin = run_plugin(plugin_jar, "Correct drift...", None, ijbridge.options_string(
        input="table_file", locs=locs, segments=10, bin_nm=20, save=save))
    assert plugin.getResult() is None and save.is_file()
    assert save.read_text() == (tmp_path / "cli.csv").read_text()  # same columns, same digits
    table = plugin.getDriftTable()
    got = np.array([[table.getValue(c, r) for c in ("frame", "dx_nm", "dy_nm")] for r in range(table.size())])
    cli_drift = np.loadtxt(tmp_path / "drift.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, cli_drift, atol=1e-3)
    rms = float(np.sqrt(np.mean(np.sum((got[:, 1:] - truth) ** 2, axis=1))))
    assert rms < 5.0, rms
    assert plugin.getDriftPlot().getTitle() == "Drift of locs"


def test_correct_drift_of_the_results_table_and_errors(config_dir, plugin_jar, tmp_path):
    from jpype import JArray, JClass, JDouble

    values, columns, _ = _locs_table(400, seed=22)
    rt = JClass("ij.measure.ResultsTable").getResultsTable()
    rt.reset()
    for j, name in enumerate(columns):
        rt.setValues(name, JArray(JDouble)(values[:, j].tolist()))
    plugin = run_plugin(plugin_jar, "Correct drift...", None, "input=results_table segments=5 bin_nm=20")
    out = plugin.getCorrectedTable()
    assert list(out.columns()) == columns and out.size() == len(values)
    expected, _ = RT.correct_table_drift(values, columns, segments=5, pixel_nm=20)
    got = np.array([[out.get(i, j) for j in range(len(columns))] for i in range(0, len(values), 97)])
    np.testing.assert_allclose(got, expected[::97], rtol=1e-12)
    rt.reset()
    with pytest.raises(Exception, match="has no 'x \\[nm\\]', 'y \\[nm\\]' column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("frame,x,y\n1,2,3\n")
        run_plugin(plugin_jar, "Correct drift...", None, f"input=table_file locs={bad}")


def test_spectral_phasor_macro_under_xvfb(imagej_dir, xvfb_run, tmp_path):
    """The user's path: an ImageJ macro (dialogs fed by macro options), a polygon drawn on the plot."""
    import subprocess

    src = tmp_path / "lambda.tif"
    write_tiff(src, lambda_stack(seed=2), TiffMeta(axes="CYX", pixel_size_um=0.1))
    xs, ys = [30, 44, 44, 31], [6, 7, 22, 21]
    macro = tmp_path / "phasor.ijm"
    macro.write_text(
        f'open("{src}");\n'
        f'run("Spectral phasor...", "harmonic=1 offset=100 threshold=5 bins=64 log circle save={tmp_path / "plot.tif"}");\n'
        f'print("plot=" + getTitle());\n'
        f'makePolygon({",".join(f"{x},{y}" for x, y in zip(xs, ys))});\n'
        f'run("Spectral phasor...", "save={tmp_path / "mask.tif"}");\n'
        f'print("mask=" + getTitle());\n')
    cp = ":".join(ijbridge.plugin_classpath(imagej_dir))
    proc = subprocess.run([xvfb_run, "-a", "java", "-Xmx1g", f"-Dplugins.dir={imagej_dir}", "-cp", cp, "ij.ImageJ",
                           "-ijpath", str(imagej_dir), "-batch", str(macro)], capture_output=True, text=True, timeout=180)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "plot=lambda-phasor" in log and "mask=lambda-phasor-mask" in log, log
    vertices = ";".join(f"{x * 2 / 64 - 1!r},{1 - y * 2 / 64!r}" for x, y in zip(xs, ys))
    run_cli("phasor", src, tmp_path / "cli_plot.tif", "--background", 100, "--threshold", 5, "--bins", 64,
            "--roi", vertices, "--mask", tmp_path / "cli_mask.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "mask.tif"), tifffile.imread(tmp_path / "cli_mask.tif"))
    differ = np.abs(tifffile.imread(tmp_path / "plot.tif") - tifffile.imread(tmp_path / "cli_plot.tif")) > 1e-6
    assert differ.sum() <= 4
