"""Denoise task: simulation, TIFF pairs, config checks, registry, NLM baseline and end-to-end training."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.nets.unet import UNetConfig
from fluorecon.qc.metrics import psnr
from fluorecon.tasks import all_tasks, get_task
from fluorecon.tasks.denoise.learned import (DenoiseConfig, DenoiseSimulation, load_pairs, nlm, simulate_pairs,
                                     train_denoise, write_pairs)
from fluorecon.train import TrainConfig, normalize_pair

SIM = DenoiseSimulation(ndim=2, n_images=3, shape=(64, 64), seed=4)


def test_simulation_is_seeded_and_noisier_at_low_photons():
    a, b = simulate_pairs(SIM), simulate_pairs(SIM)
    np.testing.assert_array_equal(a[0].low, b[0].low)
    for pair in a:
        assert pair.low.dtype == np.float32 and pair.low.shape == (64, 64)
        x, y = normalize_pair(pair.low, pair.high)
        _, c = normalize_pair(pair.low, pair.clean, match=False)
        assert psnr(y, c) > psnr(x, c) + 10  # the target is far cleaner than the input
        # clean is the noise-free expectation of the input (camera offset 100 ADU)
        assert abs(float(pair.low.mean() - pair.clean.mean())) < 3 * pair.low.std() / 64
    assert not np.array_equal(simulate_pairs(SIM, seed=5)[0].low, a[0].low)


def test_3d_simulation_shape():
    pairs = simulate_pairs(DenoiseSimulation(ndim=3, shape=(8, 32, 32)), n=1)
    assert pairs[0].low.shape == (8, 32, 32)


def test_pairs_roundtrip_through_tiff_with_calibration(tmp_path):
    pairs = simulate_pairs(SIM)
    write_pairs(tmp_path, pairs, SIM)
    loaded = load_pairs(tmp_path)
    assert len(loaded) == 3
    np.testing.assert_array_equal(loaded[1][0], pairs[1].low)
    _, meta = read_tiff(tmp_path / "low" / "000.tif")
    assert meta.pixel_size_um == pytest.approx(0.1) and meta.axes == "YX"
    assert json.loads((tmp_path / "simulation.json").read_text())["seed"] == 4
    with pytest.raises(ValueError, match="3D model"):
        load_pairs(tmp_path, ndim=3)
    (tmp_path / "high" / "002.tif").unlink()
    with pytest.raises(FileNotFoundError, match="high/002.tif"):
        load_pairs(tmp_path)
    with pytest.raises(FileNotFoundError, match="low/"):
        load_pairs(tmp_path / "nothing")


def test_config_validation():
    cfg = DenoiseConfig(ndim=3)
    assert cfg.unet.ndim == 3 and len(cfg.train.patch_size) == 3 and cfg.simulation.ndim == 3
    with pytest.raises(ValidationError, match="multiples of 4"):
        DenoiseConfig(train=TrainConfig(patch_size=(30, 30)))
    with pytest.raises(ValidationError, match="unet.ndim"):
        DenoiseConfig(ndim=2, unet=UNetConfig(ndim=3))
    with pytest.raises(ValidationError):
        DenoiseConfig(epochs=3)
    assert DenoiseConfig(unet=UNetConfig(probabilistic=True)).train.loss == "laplace"


def test_registry_knows_denoise():
    task = get_task("denoise")
    assert task.config is DenoiseConfig and task.name and task.description and "care" in task.methods
    assert task in all_tasks()
    with pytest.raises(KeyError, match="Unknown task 'nope'"):
        get_task("nope")


def test_nlm_baseline_improves_on_the_input():
    pair = simulate_pairs(SIM)[0]
    x, y = normalize_pair(pair.low, pair.high)
    assert psnr(nlm(x), y) > psnr(x, y) + 3


def test_train_denoise_end_to_end(tmp_path):
    cfg = DenoiseConfig(ndim=2, unet=UNetConfig(ndim=2, depth=1, filters=8),
                        train=TrainConfig(steps=30, batch_size=4, patch_size=(32, 32), lr=3e-3),
                        simulation=DenoiseSimulation(ndim=2, n_images=4, shape=(64, 64), seed=1), val_fraction=0.25)
    card, path = train_denoise(cfg, tmp_path / "care.onnx", progress=False)
    assert path.is_file() and path.with_suffix(".pt").is_file()
    back = read_card(path)
    assert back.task == "denoise" and back.method == "care" and back.axes_in == "bcyx"
    for key in ("val_psnr_input", "val_psnr_nlm", "val_psnr_care", "val_ssim_care"):
        assert key in back.metrics
    assert float(back.metrics["val_psnr_care"]) > float(back.metrics["val_psnr_input"])
    assert "input_hi_median" in back.train and "psf" in back.train and back.train["steps"] == "30"
