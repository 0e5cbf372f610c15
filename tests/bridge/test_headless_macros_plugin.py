"""Commands run from real headless macros (ij1-patcher's headless ImageJ, as Fiji's --headless), against the
shared `fluorecon serve`: what only shows under a running macro without a display (issue 16).

- `Unmix...` with `source=rois` reads the image's overlay (no ROI Manager headless; ImageJ's
  RoiManager.getInstance() would build a batch-mode one in a macro and throw a HeadlessException).
- Every table is available headless as CSV (`table=`): Localize's localisations, Correct drift's drift per
  frame, Check result's figures; each equals what the CLI computes.
"""

from __future__ import annotations

from pathlib import Path

import csv
import json

import numpy as np
import tifffile

import ijbridge
from fluorecon.core.io import TiffMeta, write_tiff
from ijbridge import run_cli

ROOT = Path(__file__).resolve().parents[2]

ijrun = ijbridge.ijrun


def run_macro(imagej_dir: Path, config_dir: Path, tmp_path: Path, text: str, *, timeout: float = 240) -> ijrun.Run:
    macro = tmp_path / "m.ijm"
    macro.write_text(text + f'\nprint("{ijrun.END_MARK}");\n')
    return ijrun.run(ijrun.headless_command(imagej_dir, [macro], heap="1g",
                                            extra=(f"-Dfluorecon.config_dir={config_dir}",)),
                     what=macro.name, timeout=timeout)


def test_unmix_rois_from_the_overlay_in_a_headless_macro(imagej_dir, config_dir, tmp_path):
    rng = np.random.default_rng(0)
    image = np.full((4, 24, 40), 100, np.float32)
    for label in range(3):  # label l bright in channel l (+ a little in l+1), in columns 8l..8l+7
        image[label, :, 8 * label:8 * label + 8] += 300
        image[label + 1, :, 8 * label:8 * label + 8] += 60
    image = rng.poisson(image).astype(np.float32)
    src = tmp_path / "lambda.tif"
    write_tiff(src, image, TiffMeta(axes="CYX", pixel_size_um=0.1))
    out = tmp_path / "out.tif"
    rois = "".join(f'makeRectangle({x}, 2, 6, 20); Roi.setName("{n}"); Overlay.addSelection;\n'
                   for x, n in [(1, "a"), (9, "b"), (17, "c"), (26, "bg")])
    run = run_macro(imagej_dir, config_dir, tmp_path, f'open("{src}");\n{rois}run("Select None");\n'
                    f'run("Unmix...", "method=nnls source=rois background=last_roi labels=0 offset=0 save=[{out}]");')
    assert run.failure() is None, run.failure()
    assert "HeadlessException" not in run.log, run.log
    got = tifffile.imread(out)
    assert got.shape[-3:] == (3, 24, 40), got.shape
    for label in range(3):  # each ROI's label dominates its own columns
        region = got[..., :, 2:22, 8 * label + 2:8 * label + 6].reshape(3, -1).mean(axis=1)
        assert region.argmax() == label, region


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_localize_table_saved_headless_equals_the_csv(imagej_dir, config_dir, tmp_path):
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv
    from fluorecon.tasks.localize.physics import simulate_smlm

    data = simulate_smlm(shape=(30, 34), num_frames=6, structure="uniform", density=1.5, camera="emccd", seed=3)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, data.frames.astype(np.float32), imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    locs, table = tmp_path / "locs.csv", tmp_path / "table.csv"
    opts = ijbridge.options_string(model_file=ROOT / "models" / "deepstorm_2d.onnx", threshold=0, camera_offset=100,
                                   camera_gain=0.1, em_gain=100, qe=0.9, save=locs, table=table)
    run = run_macro(imagej_dir, config_dir, tmp_path, f'open("{src}");\nrun("Localize (SMLM)...", "{opts}");')
    assert run.failure() is None, run.failure()
    want, rows = read_thunderstorm_csv(locs), read_csv(table)
    assert len(want["x_nm"]) > 10 and len(rows) == len(want["x_nm"])
    x_col = next(c for c in rows[0] if c.startswith("x"))
    np.testing.assert_allclose([float(r[x_col]) for r in rows], want["x_nm"], rtol=1e-5, atol=1e-3)


def test_localize_mle_from_a_headless_macro_equals_the_cli_fit(imagej_dir, config_dir, tmp_path):
    """`model=mle` in a real headless macro: the MLE fit on the server, its table saved with table= (issue 16)."""
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv
    from fluorecon.tasks.localize.physics import simulate_smlm

    data = simulate_smlm(shape=(30, 34), num_frames=6, structure="uniform", density=1.5, camera="emccd", seed=4)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, data.frames.astype(np.float32), imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    run_cli("localize", src, tmp_path / "cli.csv", "--method", "mle", "--background", 100, "--camera-gain", 0.1,
            "--em-gain", 100, "--qe", 0.9)
    table = tmp_path / "table.csv"
    opts = ijbridge.options_string(model="mle", camera_offset=100, camera_gain=0.1, em_gain=100, qe=0.9,
                                   save=tmp_path / "locs.csv", table=table)
    run = run_macro(imagej_dir, config_dir, tmp_path, f'open("{src}");\nrun("Localize (SMLM)...", "{opts}");')
    assert run.failure() is None, run.failure()
    want, rows = read_thunderstorm_csv(tmp_path / "cli.csv"), read_csv(table)
    assert len(want) > 10 and len(rows) == len(want)
    np.testing.assert_allclose([float(r["x [nm]"]) for r in rows], want["x_nm"], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose([float(r["intensity [photon]"]) for r in rows], want["photons"], rtol=1e-5)


def test_correct_drift_table_saved_headless_equals_cli(imagej_dir, config_dir, tmp_path):
    from fluorecon.tasks.register import table as RT
    from fluorecon.tasks.register.physics import simulate_drifting_localizations

    locs, _ = simulate_drifting_localizations(n_frames=1000, drift_nm=120, seed=5)
    n = len(locs["frame"])
    values = np.column_stack([np.arange(1, n + 1), locs["frame"] + 1, locs["x_nm"], locs["y_nm"]])
    src = tmp_path / "locs.csv"
    RT.write_table_csv(src, values, ["id", "frame", "x [nm]", "y [nm]"])
    run_cli("register-table", src, tmp_path / "cli.csv", "--segments", 10, "--pixel-nm", 20,
            "--drift-csv", tmp_path / "cli-drift.csv")
    drift = tmp_path / "drift.csv"
    opts = ijbridge.options_string(input="table_file", locs=src, segments=10, bin_nm=20, save=tmp_path / "out.csv",
                                   table=drift)
    run = run_macro(imagej_dir, config_dir, tmp_path, f'run("Correct drift...", "{opts}");')
    assert run.failure() is None, run.failure()
    rows = read_csv(drift)
    got = np.array([[float(r[c]) for c in ("frame", "dx_nm", "dy_nm")] for r in rows])
    np.testing.assert_allclose(got, np.loadtxt(tmp_path / "cli-drift.csv", delimiter=",", skiprows=1), atol=1e-3)


def test_check_result_table_saved_headless_equals_cli(imagej_dir, config_dir, tmp_path):
    rng = np.random.default_rng(2)
    truth = np.full((48, 64), 150, np.float32)
    truth[10:30, 12:40] = 400
    image = rng.poisson(truth).astype(np.uint16)
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    write_tiff(tmp_path / "res.tif", truth, TiffMeta(axes="YX", pixel_size_um=0.1))
    run_cli("qc", tmp_path / "in.tif", tmp_path / "res.tif", "--out", tmp_path / "cli")
    expected = json.loads((tmp_path / "cli" / "qc.json").read_text())
    table = tmp_path / "qc.csv"
    run = run_macro(imagej_dir, config_dir, tmp_path,
                    f'open("{tmp_path / "in.tif"}");\nopen("{tmp_path / "res.tif"}");\n'
                    f'run("Check result (QC)...", "input=in.tif result=res.tif table=[{table}]");')
    assert run.failure() is None, run.failure()
    (row,) = read_csv(table)
    assert row["input"] == "in.tif" and row["result"] == "res.tif"
    for key in ("residual_mean", "residual_std"):
        assert abs(float(row[key]) - expected[key]) <= 1e-5 * max(1.0, abs(expected[key])), (key, row[key])
