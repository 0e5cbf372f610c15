"""SMLM Challenge-style matching: Hungarian pairing, Jaccard, RMSE, efficiency."""

import numpy as np
import pytest

from fluorecon.tasks.localize.physics import make_table
from fluorecon.qc.smlm_metrics import match_localizations, score_localizations


def _table(frames, xs, ys, zs=None):
    n = len(frames)
    return make_table(frame=np.asarray(frames), x_nm=np.asarray(xs, float), y_nm=np.asarray(ys, float),
                      z_nm=np.zeros(n) if zs is None else np.asarray(zs, float))


def test_perfect_and_shifted_localizations():
    rng = np.random.default_rng(0)
    truth = _table(rng.integers(0, 10, 200), rng.uniform(0, 1e4, 200), rng.uniform(0, 1e4, 200))
    s = score_localizations(truth, truth)
    assert (s.jaccard, s.rmse_lateral_nm, s.fp, s.fn) == (1.0, 0.0, 0, 0)
    shifted = truth.copy()
    shifted["x_nm"] += 6.0
    shifted["y_nm"] += 8.0
    s = score_localizations(truth, shifted)
    assert s.rmse_lateral_nm == pytest.approx(10.0, abs=1e-3)
    # Challenge efficiency: 1 − sqrt((1 − J)² + (0.01/nm · RMSE)²).
    assert s.efficiency_lateral == pytest.approx(1 - 0.1, abs=1e-6)


def test_false_positives_negatives_and_radius():
    truth = _table([0, 0, 1], [0, 1000, 0], [0, 0, 0])
    found = _table([0, 0, 1, 2], [30, 1300, 10, 0], [0, 0, 0, 0])
    s = score_localizations(truth, found, radius_nm=250)
    # (0,0)↔(30,0) and frame 1 match; (1000,0) is 300 nm from (1300,0): FN + FP; frame 2: FP.
    assert (s.tp, s.fp, s.fn) == (2, 2, 1)
    assert s.jaccard == pytest.approx(2 / 5)
    assert s.recall == pytest.approx(2 / 3) and s.precision == pytest.approx(2 / 4)
    assert s.rmse_lateral_nm == pytest.approx(np.sqrt((30**2 + 10**2) / 2))
    assert score_localizations(truth, found, radius_nm=400).tp == 3


def test_matching_is_globally_optimal_not_greedy():
    # Greedy nearest-first pairs truth 1 with found 0 (distance 10) and leaves truth 0 unmatched
    # (found 1 is 300 nm away); the Hungarian pairing matches both.
    truth = _table([0, 0], [0, 200], [0, 0])
    found = _table([0, 0], [190, 400], [0, 0])
    pairs = match_localizations(truth, found, radius_nm=210)
    assert sorted(map(tuple, pairs)) == [(0, 0), (1, 1)]


def test_axial_radius_and_rmse():
    truth = _table([0, 0], [0, 1000], [0, 0], zs=[0, 0])
    found = _table([0, 0], [0, 1000], [0, 0], zs=[100, 600])
    s = score_localizations(truth, found, radius_nm=250, axial_radius_nm=500)
    assert s.tp == 1 and s.rmse_axial_nm == pytest.approx(100)
    assert score_localizations(truth, found, radius_nm=250).rmse_axial_nm == pytest.approx(np.sqrt((100**2 + 600**2) / 2))


def test_empty_inputs_and_bad_radius():
    truth = _table([0], [0], [0])
    s = score_localizations(truth, truth[:0])
    assert (s.jaccard, s.fn, s.efficiency_lateral) == (0.0, 1, 0.0) and np.isnan(s.rmse_lateral_nm)
    with pytest.raises(ValueError, match="radius_nm"):
        score_localizations(truth, truth, radius_nm=0)
