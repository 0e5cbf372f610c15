"""bench/convergence.py: the plateau rule and the validation PSNR of bench/denoise.py's convergence mode."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_convergence", ROOT / "bench" / "convergence.py")
convergence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convergence)


def points(psnrs, every=50):
    return [{"step": every * (i + 1), "train_s": float(i), "psnr_db": p} for i, p in enumerate(psnrs)]


def test_psnr_is_scikit_images_with_the_truths_range():
    rng = np.random.default_rng(0)
    truth = rng.random((32, 32)).astype(np.float32) * 0.8
    pred = truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    expected = peak_signal_noise_ratio(truth.astype(np.float64), pred.astype(np.float64),
                                       data_range=float(truth.max() - truth.min()))
    assert convergence.psnr_db(pred, truth) == pytest.approx(expected, abs=1e-6)


def test_still_rising_is_not_a_plateau():
    curve = points([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31])  # +1 dB per point to the end
    # smoothed over 3 points: 19..30 from the third point on; last quarter (steps > 450 of 600) best 30, before 27
    assert convergence.gain_over_last_share(curve) == pytest.approx(3.0)
    assert not convergence.plateaued(curve)


def test_flat_last_quarter_is_a_plateau():
    curve = points([20, 24, 26, 27, 27.5, 27.5, 27.5, 27.5, 27.6, 27.6, 27.6, 27.6])
    # smoothed: ..., 27.5 (steps 300-400), 27.533 (450), 27.567 (500), 27.6 (550, 600); best before 27.533
    assert convergence.gain_over_last_share(curve) == pytest.approx(27.6 - 27.5 - 0.1 / 3)
    assert convergence.plateaued(curve)


def test_one_early_spike_does_not_end_a_run():
    """A batch-norm network's curve jumps early; unsmoothed, the spike at step 100 would be a 'best before'."""
    curve = points([15, 24, 16, 17, 18, 19, 20, 21, 21.5, 22, 22.5, 23])
    assert not convergence.plateaued(curve)


def test_too_early_or_too_few_points_is_not_judged():
    assert convergence.gain_over_last_share(points([20, 20, 20])) is None
    short = points([20] * 12, every=20)  # flat but only 240 steps
    assert not convergence.plateaued(short)


def test_curve_records_in_the_contenders_units_and_stops_only_peers(tmp_path):
    truth = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    lo, hi = 100.0, 300.0  # raw units: normalized = (raw - lo) / (hi - lo)
    path = convergence.write_validation(tmp_path / "val.npz", truth * (hi - lo) + lo, truth, lo=lo, hi=hi)
    for stop, expected in ((True, True), (False, False)):
        curve = convergence.Curve({"eval_every": 10, "val": str(path), "stop_on_plateau": stop})
        assert not curve.due(0) and curve.due(20) and not curve.due(25)
        answers = [curve.record(10 * (i + 1), lambda x: x + 2.0) for i in range(30)]  # 0.01 normalized off
        assert curve.points[0]["psnr_db"] == pytest.approx(40.0, abs=1e-6)  # 20 log10(1 / 0.01)
        assert answers[-1] is expected
