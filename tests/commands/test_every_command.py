"""Every `fluorecon` command, run on small inputs, its output checked (issue 16).

The command tree is walked (typer → click): ``test_every_command_has_a_case`` fails when a command has no entry in
``CASES`` (run here) or ``ELSEWHERE`` (a long-running server and the benchmarks, which write to bench/results, are
run by the named tests), so a new command without a test fails this module. Inputs are tiny and seeded, training runs
1–2 steps: the cases check shapes, calibration, the files a command promises, and a number against a reference where
that is cheap (the drift that was simulated, the abundances that were mixed, a library call).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import read_card

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
runner = CliRunner()


def leaves(command=None, path=()):
    """(path, click command) of every leaf command of the `fluorecon` app."""
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield " ".join(path), command


def ok(*args, env=None) -> str:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("every")


def _noisy(ws: Path) -> Path:
    """A 64² calibrated noisy widefield image (the shipped 2D denoiser's kind of input)."""
    path = ws / "noisy.tif"
    if not path.exists():
        ok("simulate", "denoise", "--out", ws / "den", "--n", 2, "--size", 64, "--seed", 3)
        path.write_bytes((ws / "den" / "low" / "000.tif").read_bytes())
    return path


def _tif(path: Path, shape=None) -> tuple[np.ndarray, TiffMeta]:
    image, meta = read_tiff(path)
    if shape is not None:
        assert image.shape == tuple(shape), (path.name, image.shape)
    return image, meta


# --------------------------------------------------------------------------- cross-task commands

def case_models(ws):
    out = ok("models", MODELS)
    for name in ("care_denoise_2d.onnx", "deepstorm_2d.onnx", "unmix_4label.onnx"):
        assert name in out


def case_export(ws):
    d = ws / "export"
    if not (d / "m.pt").exists():
        _noisy(ws)
        ok("train", "denoise", "--data", ws / "den", "--out", d / "m.onnx", "--steps", 1, "--patch", 32, "--depth", 1,
           "--filters", 4, "--batch-size", 1, "--device", "cpu")
    ok("export", d / "m.pt", "--out", d / "again.onnx")
    a, b = read_card(d / "m.onnx"), read_card(d / "again.onnx")
    assert (b.task, b.method, b.axes_in) == (a.task, a.method, a.axes_in) == ("denoise", "care", "bcyx")


def case_predict(ws):
    noisy = _noisy(ws)
    ok("predict", MODELS / "care_denoise_2d.onnx", noisy, ws / "pred.tif", "--tile", 64, "--threads", 1)
    out, meta = _tif(ws / "pred.tif", (64, 64))
    assert meta.pixel_size_um == pytest.approx(_tif(noisy)[1].pixel_size_um) and "care_denoise_2d" in meta.info
    from fluorecon.infer import predict

    np.testing.assert_allclose(out, predict(_tif(noisy)[0], MODELS / "care_denoise_2d.onnx", tile=64), rtol=1e-5,
                               atol=1e-4)


def case_qc(ws):
    noisy = _noisy(ws)
    if not (ws / "pred.tif").exists():
        case_predict(ws)
    ok("qc", noisy, ws / "pred.tif", "--out", ws / "qc", "--model", MODELS / "care_denoise_2d.onnx")
    report = json.loads((ws / "qc" / "qc.json").read_text())
    assert "consistency" in json.dumps(report)
    _tif(ws / "qc" / "consistency.tif", (64, 64))


def case_cache_list(ws):
    env = {"FLUORECON_CACHE_DIR": str(ws / "cache")}
    (ws / "cache").mkdir(exist_ok=True)
    (ws / "cache" / "x.npz").write_bytes(b"0" * 2048)
    assert "1 file(s)" in ok("cache", "list", env=env)


def case_cache_clear(ws):
    env = {"FLUORECON_CACHE_DIR": str(ws / "cache2")}
    (ws / "cache2").mkdir(exist_ok=True)
    (ws / "cache2" / "x.npz").write_bytes(b"0" * 2048)
    assert "Removed 1 file(s)" in ok("cache", "clear", env=env)
    assert not list((ws / "cache2").iterdir())


def case_bioimageio_export(ws):
    ok("bioimageio", "export", MODELS / "care_denoise_2d.onnx", ws / "pkg.zip")
    import zipfile

    names = zipfile.ZipFile(ws / "pkg.zip").namelist()
    assert "rdf.yaml" in names and any(n.endswith(".onnx") for n in names)


def case_bioimageio_import(ws):
    if not (ws / "pkg.zip").exists():
        case_bioimageio_export(ws)
    ok("bioimageio", "import", ws / "pkg.zip", ws / "imported.onnx")
    noisy, _ = _tif(_noisy(ws))
    from fluorecon.infer import predict

    np.testing.assert_allclose(predict(noisy, ws / "imported.onnx", tile=64),
                               predict(noisy, MODELS / "care_denoise_2d.onnx", tile=64), rtol=1e-4, atol=1e-3)


# --------------------------------------------------------------------------- denoise

def case_simulate_denoise(ws):
    ok("simulate", "denoise", "--out", ws / "sd", "--n", 2, "--size", 32, "--seed", 1)
    low, meta = _tif(ws / "sd" / "low" / "000.tif", (32, 32))
    _tif(ws / "sd" / "clean" / "000.tif", (32, 32))
    assert meta.pixel_size_um == pytest.approx(0.1)


def case_train_denoise(ws):
    if not (ws / "sd").exists():
        case_simulate_denoise(ws)
    ok("train", "denoise", "--data", ws / "sd", "--out", ws / "n2v.onnx", "--method", "n2v", "--steps", 2,
       "--patch", 16, "--depth", 1, "--filters", 4, "--batch-size", 2, "--device", "cpu",
       "--struct-n2v-axis", "horizontal", "--struct-n2v-span", 3)
    card = read_card(ws / "n2v.onnx")
    assert (card.task, card.method, card.name) == ("denoise", "n2v", "structN2V denoising")
    masking = json.loads(card.train["masking"])
    assert (masking["struct_axis"], masking["struct_length"]) == (-1, 3)


def case_denoise_classical(ws):
    noisy = _noisy(ws)
    ok("denoise-classical", noisy, ws / "nlm.tif", "--method", "nlm")
    out, meta = _tif(ws / "nlm.tif", (64, 64))
    image = _tif(noisy)[0]
    assert out.std() < image.std() and meta.pixel_size_um == pytest.approx(0.1)


def case_dip(ws):
    noisy = _noisy(ws)
    ok("dip", noisy, ws / "dip.tif", "--num-iter", 2, "--device", "cpu", "--seed", 0)
    _tif(ws / "dip.tif", (64, 64))


# --------------------------------------------------------------------------- deconvolve

def case_simulate_deconvolve(ws):
    ok("simulate", "deconvolve", "--out", ws / "sdc", "--n", 1, "--size", 64, "--seed", 2)
    params = json.loads((ws / "sdc" / "simulation.json").read_text())
    assert params["task"] == "deconvolve" and params["files"]["ground_truth"] == "clean/*.tif"
    _tif(ws / "sdc" / "low" / "000.tif", (64, 64))


def case_deconvolve(ws):
    if not (ws / "sdc").exists():
        case_simulate_deconvolve(ws)
    low = ws / "sdc" / "low" / "000.tif"
    ok("deconvolve", low, ws / "rl.tif", "--method", "rl", "--num-iter", 3, "--psf", ws / "sdc" / "psf.tif",
       "--background", 100, "--device", "cpu")
    out, meta = _tif(ws / "rl.tif", (64, 64))
    assert meta.pixel_size_um == pytest.approx(0.1) and np.isfinite(out).all()


def case_train_deconvolve(ws):
    ok("train", "deconvolve", "--out", ws / "dc.onnx", "--steps", 1, "--n", 2, "--size", 64, "--filters", 4)
    card = read_card(ws / "dc.onnx")
    assert card.task == "deconvolve" and "val_psnr_rl" in card.metrics
    # --like (run end to end in tests/tasks/deconvolve/test_deconvolve_like.py): NA is never defaulted there.
    r = runner.invoke(app, ["train", "deconvolve", "--like", str(_noisy(ws)), "--wavelength-nm", "520", "--out",
                            str(ws / "dcl.onnx")])
    assert r.exit_code == 2 and "--like needs --na" in r.output and not (ws / "dcl.onnx").exists()


# --------------------------------------------------------------------------- upsample, isotropic, crossmodal

def case_simulate_upsample(ws):
    ok("simulate", "upsample", "--out", ws / "su", "--n", 2, "--size", 64, "--seed", 1)
    low, lm = _tif(sorted((ws / "su" / "low").glob("*.tif"))[0])
    high, hm = _tif(sorted((ws / "su" / "high").glob("*.tif"))[0])
    assert high.shape == tuple(2 * s for s in low.shape) and lm.pixel_size_um == pytest.approx(2 * hm.pixel_size_um)


def case_train_upsample(ws):
    if not (ws / "su").exists():
        case_simulate_upsample(ws)
    ok("train", "upsample", "--data", ws / "su", "--out", ws / "up.onnx", "--steps", 1, "--patch", 16, "--filters", 4,
       "--batch-size", 1, "--device", "cpu")
    assert read_card(ws / "up.onnx").scale == (2, 2)
    # --like (run end to end in tests/tasks/upsample/test_upsample_like.py) refuses pairs it would not use.
    r = runner.invoke(app, ["train", "upsample", "--like", str(_noisy(ws)), "--data", str(ws / "su"), "--na", "0.8",
                            "--wavelength-nm", "520", "--out", str(ws / "upl.onnx")])
    assert r.exit_code == 2 and "--like simulates its training data; drop --data" in r.output


def case_simulate_isotropic(ws):
    ok("simulate", "isotropic", "--out", ws / "si", "--n", 1, "--size", 32, "--seed", 1)
    stack, meta = _tif(sorted((ws / "si").rglob("*.tif"))[0])
    assert stack.ndim == 3 and meta.z_step_um > meta.pixel_size_um


def case_train_isotropic(ws):
    if not (ws / "si").exists():
        case_simulate_isotropic(ws)
    ok("train", "isotropic", "--data", ws / "si", "--out", ws / "iso.onnx", "--steps", 1, "--patch", 16,
       "--filters", 4, "--batch-size", 1, "--device", "cpu")
    assert read_card(ws / "iso.onnx").task == "isotropic"


def case_simulate_crossmodal(ws):
    ok("simulate", "crossmodal", "--out", ws / "sx", "--n", 2, "--size", 64, "--seed", 1)
    files = sorted((ws / "sx").rglob("*.tif"))
    assert len(files) >= 4 and _tif(files[0])[0].shape == (64, 64)


def case_train_crossmodal(ws):
    if not (ws / "sx").exists():
        case_simulate_crossmodal(ws)
    ok("train", "crossmodal", "--data", ws / "sx", "--out", ws / "cm.onnx", "--steps", 1, "--patch", 32,
       "--filters", 4, "--batch-size", 1, "--device", "cpu")
    assert read_card(ws / "cm.onnx").task == "crossmodal"


# --------------------------------------------------------------------------- localize

def case_simulate_localize(ws):
    ok("simulate", "localize", "--out", ws / "sl", "--n", 30, "--size", 32, "--density", 0.3, "--structure", "uniform",
       "--seed", 1)
    frames, meta = _tif(ws / "sl" / "frames.tif", (30, 32, 32))
    assert meta.pixel_size_um == pytest.approx(0.1)
    params = json.loads((ws / "sl" / "simulation.json").read_text())
    assert params["simulation"]["density"] == 0.3 and params["camera"]["em_gain"] == 100


def case_localize(ws):
    if not (ws / "sl").exists():
        case_simulate_localize(ws)
    camera = json.loads((ws / "sl" / "simulation.json").read_text())["camera"]  # the EMCCD the frames were made with
    ok("localize", ws / "sl" / "frames.tif", ws / "locs.csv", "--method", "mle", "--render", ws / "render.tif",
       "--background", camera["offset"], "--camera-gain", camera["gain"], "--em-gain", camera["em_gain"],
       "--qe", camera["qe"], "--read-noise", camera["read_noise_e"])
    from fluorecon.qc.smlm_metrics import score_localizations
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv

    found, truth = read_thunderstorm_csv(ws / "locs.csv"), read_thunderstorm_csv(ws / "sl" / "truth.csv")
    score = score_localizations(truth, found)
    # median error ~8 nm; the RMSE is set by the few emitters that overlap a neighbour and are fitted as one
    assert score.jaccard > 0.8 and score.rmse_lateral_nm < 100, score
    _, meta = _tif(ws / "render.tif")
    assert meta.pixel_size_um == pytest.approx(0.01)


def case_train_localize(ws):
    ok("train", "localize", "--out", ws / "ds.onnx", "--steps", 1, "--samples", 4, "--validation-frames", 2,
       "--qc-inputs", 4, "--pixel-size-nm", 110, "--device", "cpu")
    card = read_card(ws / "ds.onnx")
    assert (card.task, card.method, card.train["pixel_size_nm"]) == ("localize", "deepstorm", "110")
    assert "feature_threshold" in card.qc and "val_jaccard_low_density" in card.metrics


# --------------------------------------------------------------------------- registration

def case_simulate_register(ws):
    ok("simulate", "register", "--out", ws / "sr", "--n", 5, "--size", 64, "--seed", 1)
    _, meta = _tif(ws / "sr" / "drifting.tif", (5, 64, 64))
    assert meta.axes == "TYX" and meta.pixel_size_um == pytest.approx(0.1)


def case_register(ws):
    if not (ws / "sr").exists():
        case_simulate_register(ws)
    ok("register", ws / "sr" / "drifting.tif", ws / "reg.tif", "--drift-csv", ws / "drift.csv")
    _tif(ws / "reg.tif", (5, 64, 64))

    def drift(path):
        return np.array([[float(r["dy_px"]), float(r["dx_px"])] for r in csv.DictReader(path.open())])

    np.testing.assert_allclose(drift(ws / "drift.csv"), drift(ws / "sr" / "drift.csv"), atol=0.15)


def case_register_table(ws):
    from fluorecon.tasks.register.physics import simulate_drifting_localizations
    from fluorecon.tasks.register.table import FRAME_COLUMN, X_COLUMN, Y_COLUMN, read_table_csv, write_table_csv

    table, drift = simulate_drifting_localizations(n_frames=400, n_sites=300, drift_nm=100, seed=1)
    values = np.column_stack([table["frame"] + 1, table["x_nm"], table["y_nm"]])
    write_table_csv(ws / "table.csv", values, [FRAME_COLUMN, X_COLUMN, Y_COLUMN])
    ok("register-table", ws / "table.csv", ws / "table_corr.csv", "--segments", 4, "--drift-csv", ws / "tdrift.csv")
    corrected, columns = read_table_csv(ws / "table_corr.csv")
    assert corrected.shape == values.shape
    # the correction removes most of the simulated drift: corrected − measured ≈ −drift (to the first frame)
    shift = corrected[:, columns.index(X_COLUMN)] - values[:, 1]
    true = -(drift[table["frame"], 0] - drift[0, 0])
    assert np.sqrt(np.mean((shift - true - np.mean(shift - true)) ** 2)) < 15, "drift not recovered within 15 nm"


def case_train_register(ws):
    ok("train", "register", "--out", ws / "reg.onnx", "--steps", 1, "--validation-size", 64, "--qc-inputs", 4)
    card = read_card(ws / "reg.onnx")
    assert (card.task, card.method) == ("register", "voxelmorph") and "field_rmse_px_tvl1" in card.metrics


# --------------------------------------------------------------------------- unmixing

def case_simulate_unmix(ws):
    ok("simulate", "unmix", "--out", ws / "sun", "--n", 1, "--size", 32, "--labels", "EGFP,mCherry", "--channels", 6,
       "--photons", 300, "--seed", 1)
    _, meta = _tif(ws / "sun" / "spectral" / "000.tif", (6, 32, 32))
    assert meta.axes == "CYX"
    _tif(ws / "sun" / "abundances" / "000.tif", (2, 32, 32))


def case_unmix(ws):
    if not (ws / "sun").exists():
        case_simulate_unmix(ws)
    ok("unmix", ws / "sun" / "spectral" / "000.tif", ws / "unmixed.tif", "--spectra", "EGFP,mCherry",
       "--background", 100)
    out, _ = _tif(ws / "unmixed.tif", (2, 32, 32))
    truth, _ = _tif(ws / "sun" / "abundances" / "000.tif")
    from fluorecon.tasks.unmix.classical import abundance_error

    assert abundance_error(out, truth) < 0.35  # NNLS at 300 photons: the mixing the simulation used, recovered


def case_phasor(ws):
    if not (ws / "sun").exists():
        case_simulate_unmix(ws)
    ok("phasor", ws / "sun" / "spectral" / "000.tif", ws / "phasor.tif", "--background", 100, "--bins", 64)
    plot, _ = _tif(ws / "phasor.tif", (64, 64))
    assert plot.max() > 0


def case_train_unmix(ws):
    ok("train", "unmix", "--out", ws / "unmix.onnx", "--steps", 1, "--labels", "EGFP,mCherry", "--channels", 4,
       "--validation-size", 32, "--qc-inputs", 4)
    card = read_card(ws / "unmix.onnx")
    assert card.task == "unmix" and card.train["labels"] == "EGFP,mCherry" and card.channels_in == 4
    assert "feature_threshold" in card.qc and "error_nnls_30ph" in card.metrics


# --------------------------------------------------------------------------- fusion

def case_simulate_fuse(ws):
    ok("simulate", "fuse", "--out", ws / "sf", "--size", 24, "--seed", 1)
    _, meta = _tif(ws / "sf" / "views.tif", (12, 2, 24, 24))
    assert meta.axes == "ZCYX" and meta.z_step_um == pytest.approx(0.2)


def case_fuse(ws):
    if not (ws / "sf").exists():
        case_simulate_fuse(ws)
    ok("fuse", ws / "sf" / "views.tif", ws / "fused.tif", "--psf", ws / "sf" / "psfs.tif", "--num-iter", 3,
       "--background", 100, "--no-register")
    fused, meta = _tif(ws / "fused.tif", (12, 24, 24))
    truth, _ = _tif(ws / "sf" / "truth.tif")
    assert np.corrcoef(fused.ravel(), truth.ravel())[0, 1] > 0.5


# --------------------------------------------------------------------------- SIM

def case_sim_simulate(ws):
    ok("sim", "simulate", ws / "sim_raw.tif", "--size", 64, "--photons", 500, "--seed", 1)
    raw, meta = _tif(ws / "sim_raw.tif")
    assert raw.shape[-2:] == (64, 64) and raw.size // (64 * 64) == 9


def case_simulate_sim(ws):
    ok("simulate", "sim", ws / "sim_raw2.tif", "--size", 64, "--photons", 500, "--seed", 1)
    if not (ws / "sim_raw.tif").exists():
        case_sim_simulate(ws)
    np.testing.assert_array_equal(_tif(ws / "sim_raw2.tif")[0], _tif(ws / "sim_raw.tif")[0])


def case_sim_estimate(ws):
    if not (ws / "sim_raw.tif").exists():
        case_sim_simulate(ws)
    out = ok("sim", "estimate", ws / "sim_raw.tif")
    assert "angle_deg" in out


def case_sim_reconstruct(ws):
    if not (ws / "sim_raw.tif").exists():
        case_sim_simulate(ws)
    ok("sim", "reconstruct", ws / "sim_raw.tif", ws / "sim_rec.tif")
    rec, meta = _tif(ws / "sim_rec.tif")
    raw_meta = _tif(ws / "sim_raw.tif")[1]
    assert rec.shape[-2:] == (128, 128) and meta.pixel_size_um == pytest.approx(raw_meta.pixel_size_um / 2)


def case_sim_learned(ws):
    if not (ws / "sim_raw.tif").exists():
        case_sim_simulate(ws)
    ok("sim", "learned", MODELS / "sim_2d_9frames.onnx", ws / "sim_raw.tif", ws / "sim_learned.tif", "--threads", 1)
    _, meta = _tif(ws / "sim_learned.tif", (128, 128))
    assert meta.pixel_size_um == pytest.approx(_tif(ws / "sim_raw.tif")[1].pixel_size_um / 2)


def case_train_sim(ws):
    ok("train", "sim", "--out", ws / "sim3.onnx", "--frames", 3, "--steps", 1, "--stacks", 2, "--raw-size", 32,
       "--batch-size", 1, "--patch", 16, "--validation-stacks", 1, "--qc-inputs", 2, "--device", "cpu")
    card = read_card(ws / "sim3.onnx")
    assert (card.task, card.channels_in, card.scale) == ("sim", 3, (2, 2)) and "val_psnr_classical" in card.metrics


# --------------------------------------------------------------------------- light field

LF = ("--nnum", 5, "--z-range", "-4:4:4", "--beads", 3, "--n-lenslets", 6, "--device", "cpu", "--seed", 1)


def _lf(ws):
    if not (ws / "lf").exists():
        ok("lightfield", "simulate", ws / "lf", *LF)
    return ws / "lf"


def case_lightfield_simulate(ws):
    lf = _lf(ws)
    _, meta = _tif(lf / "lightfield.tif")
    assert (lf / "grid.json").exists() and (lf / "truth.tif").exists()


def case_simulate_lightfield(ws):
    ok("simulate", "lightfield", ws / "lf2", *LF)
    np.testing.assert_array_equal(_tif(ws / "lf2" / "lightfield.tif")[0], _tif(_lf(ws) / "lightfield.tif")[0])


def case_lightfield_calibrate(ws):
    lf = _lf(ws)
    out = ok("lightfield", "calibrate", lf / "white.tif", ws / "lfcal.json", "--nnum", 5)
    assert "6 × 6 lenslets" in out


def case_lightfield_reconstruct(ws):
    lf = _lf(ws)
    if not (ws / "lfcal.json").exists():
        case_lightfield_calibrate(ws)
    ok("lightfield", "reconstruct", lf / "lightfield.tif", ws / "lfvol.tif", "--calibration", ws / "lfcal.json",
       "--num-iter", 1, "--optics", lf / "optics.json", "--z-range", "-4:4:4", "--device", "cpu")
    vol, meta = _tif(ws / "lfvol.tif", (3, 30, 30))
    assert meta.z_step_um == pytest.approx(4.0)


def _lf_train(ws, *command):
    out = ws / f"{'_'.join(command)}.onnx"
    ok(*command, "--out", out, "--steps", 1, "--batch-size", 1, "--patch", 4, "--filters", 4, "--nnum", 5,
       "--z-min", -2, "--z-max", 2, "--z-step", 2, "--volumes", 2, "--lenslets", 4, "--rl-iter", 0, "--device", "cpu")
    card = read_card(out)
    assert (card.task, card.channels_in, card.channels_out) == ("lightfield", 25, 3)
    return out


def case_train_lightfield(ws):
    _lf_train(ws, "train", "lightfield")


def case_lightfield_learned_train(ws):
    _lf_train(ws, "lightfield-learned", "train")


def case_lightfield_learned_predict(ws):
    model = ws / "lightfield-learned_train.onnx"
    if not model.exists():
        model = _lf_train(ws, "lightfield-learned", "train")
    from fluorecon.core.io import TiffMeta as M

    lf = np.random.default_rng(0).poisson(20, (20, 20)).astype(np.float32)
    write_tiff(ws / "lf_rect.tif", lf, M(axes="YX"))
    ok("lightfield-learned", "predict", ws / "lf_rect.tif", ws / "lf_pred.tif", "--model", model)
    _tif(ws / "lf_pred.tif", (3, 20, 20))


# --------------------------------------------------------------------------- the registry

CASES = {name[len("case_"):].replace("_", " "): fn for name, fn in dict(globals()).items() if name.startswith("case_")}
# a command name with a dash (denoise-classical, register-table, lightfield-learned) is spelt with "_" above
CASES = {{"denoise classical": "denoise-classical", "register table": "register-table"}.get(k, k)
         .replace("lightfield learned", "lightfield-learned"): fn for k, fn in CASES.items()}

#: Commands run by another test: (module, test function). `serve` runs until stopped: the server tests start it as
#: a process (tests/server/server_helpers.py) and drive it; `bench` runs minutes-long peer comparisons that write
#: bench/results (`make bench`); its test checks the choice of benchmarks.
ELSEWHERE = {
    "serve": ("tests.server.test_cli", "test_cli_local_equals_server"),
    "bench": ("tests.commands.test_bench_cli", "test_unknown_benchmark_is_refused_with_the_list"),
}


def test_every_command_has_a_case():
    commands = {path for path, _ in leaves()}
    missing = sorted(commands - set(CASES) - set(ELSEWHERE))
    assert not missing, f"commands without a case in {__name__}: {missing}"
    stale = sorted((set(CASES) | set(ELSEWHERE)) - commands)
    assert not stale, f"cases for commands that do not exist: {stale}"
    for module, test in ELSEWHERE.values():
        path = ROOT / (module.replace(".", "/") + ".py")
        assert f"def {test}(" in path.read_text(), f"{module}.{test} is gone"


def test_train_and_simulate_list_every_learned_and_physics_task():
    commands = {path for path, _ in leaves()}
    ten = ("denoise", "deconvolve", "upsample", "isotropic", "crossmodal", "localize", "sim", "lightfield", "unmix",
           "register")
    assert {f"train {t}" for t in ten} <= commands
    assert {f"simulate {t}" for t in (*ten, "fuse")} <= commands


@pytest.mark.parametrize("command", sorted(CASES))
def test_command(command, ws):
    CASES[command](ws)
