"""Deep image prior: the discrepancy-principle stopping rule stops near the best iterate."""

import numpy as np
import pytest
import torch

from fluorecon.qc.metrics import psnr
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise
from fluorecon.tasks.denoise.learned import DenoiseSimulation, simulate_pairs
from fluorecon.tasks.denoise.dip import DIPConfig, deep_image_prior, stop_iteration

# Camera of DenoiseSimulation: gain 2 ADU/e, offset 100 ADU, read noise 1.5 e  ->  var = 2·mean + (9 − 200)
CAMERA = NoiseModel(a=2.0, b=2.0**2 * 1.5**2 - 2.0 * 100.0)


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_noise_estimate_feeds_the_rule_with_the_camera_model():
    pair = simulate_pairs(DenoiseSimulation(shape=(96, 96), seed=3, photons_low=30, photons_spread=1.0), n=1)[0]
    est = estimate_noise(pair.low)
    assert est.a == pytest.approx(CAMERA.a, rel=0.15)
    assert est.b == pytest.approx(CAMERA.b, rel=0.15)


def test_discrepancy_principle_stops_within_1db_of_the_best_iterate():
    pair = simulate_pairs(DenoiseSimulation(shape=(64, 64), seed=3, photons_low=30, photons_spread=1.0), n=1)[0]
    config = DIPConfig(num_iter=560, early_stop=False, check_every=20, lr=1e-3, filters=8, depth=3)
    run = deep_image_prior(pair.low, config=config, noise=CAMERA, progress=False, keep_snapshots=True)
    scores = {it: psnr(img, pair.clean) for it, img in run.snapshots.items()}
    best = max(scores, key=scores.get)
    stop = stop_iteration(run.discrepancy, tau=config.tau)
    assert stop is not None and stop < config.num_iter
    assert scores[stop] > scores[best] - 1.0, (stop, scores[stop], best, scores[best])
    assert scores[stop] > psnr(pair.low, pair.clean) + 5
    # later iterates overfit: the discrepancy keeps falling below 1 while the PSNR drops
    assert run.discrepancy[-1][1] < config.tau and scores[config.num_iter] < scores[best]


def test_early_stop_ends_the_run_and_keeps_shape_and_units():
    image = np.random.default_rng(0).poisson(50, (20, 30)).astype(np.float32) * 2 + 100
    run = deep_image_prior(image, config=DIPConfig(num_iter=200, tau=50.0, check_every=5, filters=4, depth=2),
                           progress=False)
    assert run.stopped_at == 5 and "tau" in run.reason  # a generous tau fires at the first check
    assert run.image.shape == image.shape and run.image.dtype == np.float32  # 20×30 is padded, then cropped
    assert deep_image_prior(image, config=DIPConfig(num_iter=7, check_every=5, filters=4, depth=2),
                            progress=False).stopped_at == 7
    with pytest.raises(ValueError, match="NaN"):
        deep_image_prior(np.full((16, 16), np.nan), progress=False)


def test_defaults_gain_3db_with_the_estimated_noise_and_stop_by_discrepancy():
    """Issue 16: `fluorecon dip --iterations 300` diverged (output ±5.9e7, PSNR −11 dB). With the
    default step size, centring and input scale, a seeded 96² image gains ≥ 3 dB, stopped by the
    discrepancy principle against the noise estimated from the image itself."""
    pair = simulate_pairs(DenoiseSimulation(shape=(96, 96), seed=3, photons_low=30, photons_spread=1.0), n=1)[0]
    # The path is chaotic across torch builds and thread schedules (a loss spike undoes a step and halves
    # the rate): measured stops at iteration 360 on one run and past 400 on another (torch 2.15, 2 cores),
    # so the cap leaves room and the assertion is that the discrepancy rule, not the cap, ends the run.
    run = deep_image_prior(pair.low, config=DIPConfig(num_iter=1000, depth=2, tau=1.2), progress=False)
    assert np.all(np.isfinite(run.image)) and run.image.min() > 0.5 * pair.low.min()
    assert run.image.max() < 1.5 * pair.low.max()
    assert run.stopped_at < 1000 and "tau" in run.reason, (run.discrepancy[-3:], run.backtracks)
    assert psnr(run.image, pair.clean) >= psnr(pair.low, pair.clean) + 3.0


def test_a_diverging_step_is_undone_and_the_rate_halved():
    image = np.random.default_rng(1).poisson(40, (32, 32)).astype(np.float32) * 2 + 100
    run = deep_image_prior(image, config=DIPConfig(num_iter=60, lr=0.5, filters=4, depth=2, early_stop=False),
                           progress=False)
    assert run.backtracks > 0
    assert np.all(np.isfinite(run.image)) and image.min() - 50 < run.image.min() and run.image.max() < image.max() + 50
