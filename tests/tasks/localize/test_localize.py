"""SMLM localisation: MLE fit statistics (bias, CRLB), detection on simulated stacks, ThunderSTORM
CSV, the CLI, training + ONNX export, and the shipped networks against the classical fit."""

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.tasks.localize.physics import AstigmaticPSF, SMLMConfig, make_table, render_emitters, simulate_smlm
from fluorecon.nets.localization import build_localization_net, decode_loss, deepstorm_loss
from fluorecon.qc.smlm_metrics import score_localizations
from fluorecon.tasks.localize.learned import (DEFAULT_MODELS, THUNDERSTORM_HEADER, TrainLocalizeConfig,
                                      export_localization_net, localization_card, localize, read_thunderstorm_csv,
                                      simulate_training_set, train_localization_net, write_thunderstorm_csv)
from fluorecon.tasks.localize.classical import mle_fit

torch.set_num_threads(1)
EMCCD = dict(camera_offset=100, camera_gain=0.1, em_gain=100, qe=0.9, read_noise_e=50)


def test_mle_is_unbiased_and_reaches_the_crlb():
    rng = np.random.default_rng(0)
    n, size, sigma, photons, bg = 1500, 11, 1.3, 1000.0, 10.0
    true_xy = 5.5 + rng.uniform(-0.5, 0.5, (n, 2))
    rois = np.stack([render_emitters([x], [y], [photons], shape=(size, size), pixel_size_nm=1.0,
                                     sigma_x_nm=sigma, sigma_y_nm=sigma) for x, y in true_xy]) + bg
    data = rng.poisson(rois).astype(np.float32)
    theta, crlb, _ = mle_fit(data, sigma_px=1.5)
    err = theta[:, :2] - true_xy
    rmse = np.sqrt((err**2).mean(0))
    bound = np.sqrt(crlb[:, :2].mean(0))
    np.testing.assert_array_less(np.abs(err.mean(0)), 3 * rmse / np.sqrt(n))  # unbiased
    assert np.all(rmse / bound > 0.85) and np.all(rmse / bound < 1.15), (rmse, bound)
    assert np.median(theta[:, 2]) == pytest.approx(photons, rel=0.03)
    assert np.median(theta[:, 3]) == pytest.approx(bg, rel=0.05)
    assert np.median(theta[:, 4]) == pytest.approx(sigma, rel=0.02)


def test_mle_on_a_low_density_emccd_stack():
    data = simulate_smlm(shape=(64, 64), num_frames=60, density=0.1, structure="uniform", seed=11)
    table = localize(data.frames, method="mle", pixel_size_nm=100, **EMCCD)
    score = score_localizations(data.truth, table)
    assert score.jaccard > 0.85
    matched = score_localizations(data.truth, table, radius_nm=50)
    assert matched.rmse_lateral_nm < 1.5 * np.median(table["uncertainty_nm"]) + 5
    assert np.median(table["photons"]) == pytest.approx(np.median(data.truth["photons"]), rel=0.1)
    assert np.median(table["background"]) == pytest.approx(20, rel=0.1)


def test_mle_3d_astigmatic_recovers_z():
    astig = AstigmaticPSF(sigma0_nm=120, focal_offset_nm=200, depth_nm=400)
    data = simulate_smlm(shape=(48, 48), num_frames=60, density=0.15, structure="uniform", psf="astigmatic",
                         astigmatism=astig, z_range_nm=400, camera="scmos", photons=4000, seed=12)
    table = localize(data.frames, method="mle", pixel_size_nm=100, camera_offset=100, camera_gain=0.5, qe=0.8,
                     astigmatism=astig)
    score = score_localizations(data.truth, table, radius_nm=150)
    assert score.jaccard > 0.7
    assert score.rmse_axial_nm < 60
    assert np.isfinite(table["uncertainty_z_nm"]).all()


def test_thunderstorm_csv_header_round_trip_and_atomic_write(tmp_path):
    table = make_table(frame=[0, 0, 4], x_nm=[10.5, 2000.25, 123456.7], y_nm=[1.0, 2.0, 3.0], z_nm=[0, -50, 80],
                       photons=[1000, 2000, np.nan], uncertainty_nm=[5.0, 6.0, 7.0])
    path = tmp_path / "out.csv"
    path.write_text("old")
    write_thunderstorm_csv(path, table)
    lines = path.read_text().splitlines()
    assert lines[0] == ('"id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]","offset [photon]",'
                        '"bkgstd [photon]","sigma [nm]","uncertainty [nm]"')
    assert lines[0] == THUNDERSTORM_HEADER
    assert lines[1].split(",")[:2] == ["1", "1"] and lines[3].split(",")[:2] == ["3", "5"]  # 1-based
    assert "NaN" in lines[3]
    back = read_thunderstorm_csv(path)
    np.testing.assert_array_equal(back["frame"], table["frame"])
    np.testing.assert_allclose(back["x_nm"], table["x_nm"], rtol=1e-6)
    np.testing.assert_allclose(back["z_nm"], table["z_nm"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind
    import csv

    with open(path, newline="") as fh:  # what ThunderSTORM's importer sees: named columns
        rows = list(csv.DictReader(fh))
    assert float(rows[1]["x [nm]"]) == pytest.approx(2000.25) and rows[0]["uncertainty [nm]"] == "5"
    with pytest.raises(ValueError, match="ThunderSTORM"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        read_thunderstorm_csv(tmp_path / "bad.csv")


def _cli():
    from fluorecon.tasks.localize.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keeps typer in multi-command mode, as in the real CLI
    return app


def test_cli_localize_writes_csv_and_rendering(tmp_path):
    data = simulate_smlm(shape=(40, 40), num_frames=30, density=0.2, structure="filaments", seed=21)
    stack = tmp_path / "stack.tif"
    write_tiff(stack, data.frames, TiffMeta(axes="TYX", pixel_size_um=0.1))
    out, render = tmp_path / "locs.csv", tmp_path / "render.tif"
    result = CliRunner().invoke(_cli(), ["localize", str(stack), str(out), "--render", str(render),
                                         "--render-pixel-nm", "20", "--background", "100", "--camera-gain", "0.1",
                                         "--em-gain", "100", "--qe", "0.9", "--read-noise", "50"])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0] == THUNDERSTORM_HEADER
    table = read_thunderstorm_csv(out)
    assert score_localizations(data.truth, table).jaccard > 0.8
    image, meta = read_tiff(render)
    assert image.shape == (200, 200) and meta.pixel_size_um == pytest.approx(0.02)
    assert image.sum() == pytest.approx(len(table), rel=0.02)
    assert '"method": "mle"' in meta.info


def _words(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


def test_cli_refuses_bad_input_with_clear_messages(tmp_path):
    runner = CliRunner(env={"COLUMNS": "250"})
    stack = tmp_path / "multi.tif"
    write_tiff(stack, np.zeros((2, 3, 2, 16, 16), np.float32), TiffMeta(axes="TZCYX"))
    result = runner.invoke(_cli(), ["localize", str(stack), str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "one time series" in _words(result.output)
    plain = tmp_path / "plain.tif"
    write_tiff(plain, np.zeros((3, 16, 16), np.float32), TiffMeta(axes="TYX"))
    result = runner.invoke(_cli(), ["localize", str(plain), str(tmp_path / "o.csv"), "--method", "magic"])
    assert result.exit_code != 0 and "mle, deepstorm or decode" in _words(result.output)
    assert not (tmp_path / "o.csv").exists()


def _training_loss(net, cfg) -> float:
    x, target, _ = simulate_training_set(cfg, seed=cfg.seed)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        if net.config.method == "deepstorm":
            return float(deepstorm_loss(net(xt), torch.from_numpy(target)))
        return float(decode_loss(net.forward_raw(xt), torch.from_numpy(target["emitters"]),
                                 torch.from_numpy(target["mask"]), torch.from_numpy(target["background"])))


@pytest.mark.parametrize("method", ["deepstorm", "decode"])
def test_tiny_training_exports_a_model_with_its_card(tmp_path, method):
    cfg = TrainLocalizeConfig(net={"method": method, "scale": 4 if method == "deepstorm" else 1, "filters": 8},
                              patch=16, num_samples=32, steps=40, batch_size=4, seed=1, device="cpu")
    net, net_cfg, losses = train_localization_net(cfg)
    torch.manual_seed(cfg.seed)  # the untrained network train_localization_net started from
    untrained = build_localization_net(net_cfg).eval()
    assert _training_loss(net, cfg) < _training_loss(untrained, cfg)
    card = localization_card(net_cfg, cfg, name="tiny", threshold=0.5)
    path = export_localization_net(net, net_cfg, tmp_path / "m.onnx", card)
    back = read_card(path)
    assert (back.task, back.method) == ("localize", method)
    assert back.scale == ((4, 4) if method == "deepstorm" else (1, 1))
    assert back.norm == "photons:100" and back.train["pixel_size_nm"] == "100"
    assert back.train["psf_sigma_nm"] == "130" and "density_per_um2" in back.train and "photons" in back.train
    frames = simulate_smlm(shape=(30, 34), num_frames=4, density=1.0, seed=3).frames
    table = localize(frames, method=method, model=str(path), pixel_size_nm=100, **EMCCD)
    assert table.dtype.names[0] == "frame" and (len(table) == 0 or table["frame"].max() < 4)
    with pytest.raises(ValueError, match="--method"):
        localize(frames, method="decode" if method == "deepstorm" else "deepstorm", model=str(path), **EMCCD)


JACCARD_TOL = 0.05


@pytest.mark.parametrize("method", ["deepstorm", "decode"])
def test_shipped_network_beats_the_fit_at_high_density_and_matches_it_at_low(method):
    model = DEFAULT_MODELS[method]
    assert model.is_file(), f"{model} is missing; run scripts/train_smlm_models.py"
    card = read_card(model)
    assert (card.task, card.method) == ("localize", method)
    results = {}
    for label, density, frames in (("high", 2.5, 12), ("low", 0.15, 40)):
        data = simulate_smlm(SMLMConfig(shape=(64, 64), num_frames=frames, density=density, structure="filaments",
                                        seed=500 + frames))
        fit = score_localizations(data.truth, localize(data.frames, method="mle", pixel_size_nm=100, **EMCCD))
        net = score_localizations(data.truth, localize(data.frames, method=method, pixel_size_nm=100, **EMCCD))
        results[label] = (fit, net)
    # The card's validation Jaccard (48 filament frames 64² at 2–3 and 0.1–0.3 /µm², scripts/train_smlm_models.py)
    # recomputed through localize() on fresh frames (measured: deepstorm 0.712 / 0.917, decode 0.587 / 0.890 vs
    # card 0.725 / 0.943, 0.589 / 0.929), within JACCARD_TOL; and the published lead over the MLE fit at 2.5 /µm²
    # (bench/results/localize.md, 100 frames: deepstorm 0.737 vs mle 0.409 = +0.33, decode 0.609 = +0.20;
    # measured here +0.37 / +0.24) held to the published lead − JACCARD_TOL.
    published_lead = {"deepstorm": 0.737 - 0.409, "decode": 0.609 - 0.409}[method]
    fit, net = results["high"]
    assert abs(net.jaccard - float(card.metrics["val_jaccard_high_density"])) <= JACCARD_TOL, (card.metrics, net)
    assert net.jaccard - fit.jaccard >= published_lead - JACCARD_TOL, (fit, net)
    assert net.rmse_lateral_nm < fit.rmse_lateral_nm, (fit, net)
    fit, net = results["low"]
    assert abs(net.jaccard - float(card.metrics["val_jaccard_low_density"])) <= JACCARD_TOL, (card.metrics, net)
    assert net.jaccard > fit.jaccard - JACCARD_TOL, (fit, net)
