"""Upsampling: the shipped ×2 model beats bicubic on held-out phantoms; tiled = whole image with
output scale 2; calibration / scale through `fluorecon predict`; 3D export; data consistency."""

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.export import export_onnx
from fluorecon.imaging.noise import apply_noise
from fluorecon.infer import Predictor
from fluorecon.nets.unet import UNetConfig
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.upsample.learned import (UpsampleNet, UpsampleSimulation, bicubic, consistency, degrade, interior,
                                      normalize_scaled_pair, output_meta, physics_for, simulate_pairs, upsample_card)

torch.set_num_threads(1)
MODEL = Path(__file__).resolve().parents[3] / "models" / "care_upsample2x_2d.onnx"


@pytest.fixture(scope="module")
def predictor():
    assert MODEL.is_file(), "models/care_upsample2x_2d.onnx is missing: run scripts/train_superres_models.py"
    return Predictor(MODEL, threads=1)


def test_shipped_model_beats_bicubic_on_held_out_phantoms(predictor):
    card = predictor.card
    assert card.task == "upsample" and card.scale == (2, 2)
    sim = UpsampleSimulation(ndim=2, factor=2, shape=(128, 128), seed=424242)  # seeds the model never saw
    gains = []
    for pair in simulate_pairs(sim, n=3):
        x, y = normalize_scaled_pair(pair.low, pair.high, factor=2, norm=card.norm)
        out = predictor.predict(pair.low)
        lo, hi = np.percentile(pair.low, [1, 99.8])
        out_n = (out - lo) / (hi - lo)
        assert out.shape == (128, 128)
        gains.append(psnr(out_n, y) - psnr(bicubic(x, factor=2), y))
    # Published (card, models/README): CARE 26.6 vs bicubic 21.2 dB, a 5.4 dB lead on 256² validation images;
    # these 128² images give 4.9 dB (3 images). Asserted: the published lead − 1 dB on the mean, and no image
    # below 3 dB. tests/test_card_metrics.py recomputes the card's own figures at 256².
    assert float(np.mean(gains)) >= 5.41 - 1.0 and min(gains) > 3.0, gains


def test_tiled_equals_whole_image_with_scale_2(predictor):
    image = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(180, 148), seed=7), n=1)[0].low
    whole = predictor.predict(image, tile=512)
    ticks = []
    tiled = predictor.predict(image, tile=48, progress=lambda i, n: ticks.append(n))
    assert whole.shape == (180, 148) and ticks[-1] > 4
    assert np.max(np.abs(whole - tiled)) <= 1e-4 * np.ptp(whole)


def test_predict_command_divides_calibration_by_scale(tmp_path):
    from fluorecon.cli import app

    image = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(96, 64), seed=3), n=1)[0].low
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    result = CliRunner().invoke(app, ["predict", str(MODEL), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    out, meta = read_tiff(tmp_path / "out.tif")
    assert out.shape == (96, 64)
    assert meta.pixel_size_um == pytest.approx(0.05, rel=1e-4)


def test_output_meta():
    meta = TiffMeta(axes="TZCYX", pixel_size_um=0.2, z_step_um=0.6)
    assert output_meta(meta, (2, 2), ndim=2) == TiffMeta(axes="TZCYX", pixel_size_um=0.1, z_step_um=0.6)
    m3 = output_meta(meta, (3, 4, 4), ndim=3)
    assert m3.pixel_size_um == pytest.approx(0.05) and m3.z_step_um == pytest.approx(0.2)
    with pytest.raises(ValueError, match="Y and X"):
        output_meta(meta, (2, 3), ndim=2)


@pytest.mark.parametrize("ndim,factor", [(3, 2), (2, 4)])
def test_export_and_tiling_of_other_shapes(tmp_path, ndim, factor):
    # depth 1 in 3D keeps the halo (and so the padded 3D tiles) small enough for a fast test
    unet = UNetConfig(ndim=ndim, depth=1 if ndim == 3 else 2, filters=4)
    torch.manual_seed(0)
    net = UpsampleNet(unet, factor)
    torch.nn.init.normal_(net.unet.head.weight, std=0.1)  # not the identity start: a real network
    card = upsample_card(unet, factor, task="upsample", method="care", name="t")
    path = export_onnx(net, tmp_path / "m.onnx", card)
    p = Predictor(path, threads=1)
    assert read_card(path).scale == (factor,) * ndim
    shape = (8, 22, 20) if ndim == 3 else (50, 44)
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    whole = p.predict(image, tile=256)
    tiled = p.predict(image, tile=card.tile_halo[0] * 2 + 4 * card.tile_multiple[0])  # several tiles per axis
    assert whole.shape == tuple(s * factor for s in shape)
    assert np.max(np.abs(whole - tiled)) <= 1e-4 * np.ptp(whole)


def test_consistency_map_is_white_for_truth_and_shows_planted_structure():
    sim = UpsampleSimulation(ndim=2, factor=2, shape=(128, 128), photons=100, photons_spread=1.0, seed=11)
    pair = simulate_pairs(sim, n=1)[0]
    cam = sim.camera.model_copy(update={"photons": pair.photons, "background": sim.background * pair.photons})
    physics = physics_for(pair.high.shape, factor=2, sigma_px=sim.sigma_extra_px)
    border = 6
    good = interior(consistency(pair.low, pair.high, physics=physics, noise=cam), border)
    assert abs(float(good.mean())) < 0.1 and 0.9 < float(good.std()) < 1.1
    # Estimated noise model (no camera given) standardises about as well.
    est = interior(consistency(pair.low, pair.high, physics=physics), border)
    assert 0.8 < float(est.std()) < 1.25
    # A bright blob that is not in the data stands out where it was planted.
    yy, xx = np.mgrid[:128, :128]
    blob = np.exp(-((yy - 64) ** 2 + (xx - 40) ** 2) / (2 * 3.0**2)).astype(np.float32)
    planted = pair.high + float(np.ptp(pair.high)) * blob
    bad = consistency(pair.low, planted, physics=physics, noise=cam)
    at_blob = bad[29:35, 17:23]
    assert float(at_blob.mean()) < -3  # data lower than the result predicts
    assert float(np.mean(at_blob**2)) > 9 * float(np.mean(good**2))  # far outside N(0, 1)
    assert float(np.abs(interior(bad, border)).std()) > float(np.abs(good).std())


def test_degrade_matches_physics_interior():
    rng = np.random.default_rng(0)
    x = rng.random((64, 64)).astype(np.float32)
    op = physics_for(x.shape, factor=2, sigma_px=(1.3, 1.3))
    np.testing.assert_allclose(interior(degrade(x, factor=2, sigma_px=(1.3, 1.3)), 4),
                               interior(op.A(torch.from_numpy(x)).numpy(), 4), atol=1e-5)


def test_check_superres_is_white_for_truth_and_flags_an_invented_spot():
    from fluorecon.core.modelcard import read_card
    from fluorecon.tasks.upsample.learned import check_superres

    card = read_card(MODEL)
    sim = UpsampleSimulation(ndim=2, factor=2, shape=(128, 128), photons=100, photons_spread=1.0, seed=12)
    pair = simulate_pairs(sim, n=1)[0]
    good = check_superres(pair.low, pair.high, card=card)  # the forward model's own truth: whole map, borders too
    assert good.consistency.shape == pair.low.shape
    assert abs(good.summary["residual_mean"]) < 0.1 and 0.85 < good.summary["residual_std"] < 1.2
    assert good.summary["local_flagged_fraction"] < 0.01
    yy, xx = np.mgrid[:128, :128]
    planted = pair.high + float(np.ptp(pair.high)) * np.exp(-((yy - 64) ** 2 + (xx - 40) ** 2) / 18.0).astype(np.float32)
    bad = check_superres(pair.low, planted, card=card)
    assert bad.local[32, 20] < -4 and any("invented" in w for w in bad.warnings)
    with pytest.raises(ValueError, match=r"maps input \(64, 64\) to \(128, 128\)"):
        check_superres(pair.low, pair.high[:100], card=card)


def test_unrepeat_inverts_nearest_neighbour_repetition_only():
    from fluorecon.tasks.upsample.learned import unrepeat

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    rep = np.repeat(np.repeat(x, 2, 0), 3, 1)
    np.testing.assert_array_equal(unrepeat(rep, [2, 3]), x)
    with pytest.raises(ValueError, match="not the input repeated"):
        unrepeat(rep + np.eye(6, 12, dtype=np.float32), [2, 3])
    with pytest.raises(ValueError, match="does not divide"):
        unrepeat(rep, [4, 3])


def test_predict_qc_reapplies_the_forward_model_on_the_input_grid(tmp_path):
    import json

    from fluorecon.cli import app

    image = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(96, 64), seed=5), n=1)[0].low
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    result = CliRunner().invoke(app, ["predict", str(MODEL), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--qc", str(tmp_path / "qc"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    consistency, meta = read_tiff(tmp_path / "qc" / "consistency.tif")
    assert consistency.shape == (48, 32) and meta.pixel_size_um == pytest.approx(0.1)
    report = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert report["forward_model"]["factor"] == [2, 2] and report["forward_model"]["sigma_px"][0] > 1
    assert 0.7 < report["residual_std"] < 1.6
