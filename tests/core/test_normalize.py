import json

import numpy as np
import pytest

from fluorecon.core.normalize import MAX_SAMPLES, denormalize, normalize, parse_norm, percentile_range


def _values(case):
    if "values" in case:
        return np.asarray(case["values"], dtype=np.float32)
    g = case["generator"]
    return ((np.arange(g["n"], dtype=np.int64) * g["a"]) % g["m"]).astype(np.float32)


def test_percentiles_match_shared_vectors(vectors):
    for case in json.loads((vectors / "normalize.json").read_text())["cases"]:
        lo, hi = percentile_range(_values(case), case["low"], case["high"])
        assert lo == pytest.approx(case["expected_lo"], rel=1e-9, abs=1e-9)
        assert hi == pytest.approx(case["expected_hi"], rel=1e-9, abs=1e-9)


def test_small_blocks_use_numpy_percentiles_and_large_ones_a_fixed_stride():
    rng = np.random.default_rng(0)
    small = rng.random(1000)
    assert percentile_range(small, 2, 98) == pytest.approx(tuple(np.percentile(small, [2, 98])))
    big = rng.random(MAX_SAMPLES + 10).astype(np.float32)
    lo, hi = percentile_range(big, 1, 99)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(big[::2].astype(np.float64), [1, 99])))


def test_round_trip_and_scale_outputs():
    x = np.linspace(10, 500, 100, dtype=np.float32)
    y = normalize(x, 10, 500)
    assert y.dtype == np.float32 and y.min() == 0 and y.max() == pytest.approx(1)
    np.testing.assert_allclose(denormalize(y, 10, 500), x, rtol=1e-6)
    np.testing.assert_allclose(denormalize(np.full(3, 0.5), 10, 500, is_scale=True), 245.0)


def test_constant_image_does_not_divide_by_zero():
    y = normalize(np.full(10, 7.0), 7.0, 7.0)
    assert np.all(np.isfinite(y)) and np.all(y == 0)


@pytest.mark.parametrize("bad", ["minmax", "percentile:99:1", "percentile:1", "percentile:-1:50"])
def test_parse_norm_refuses_unknown_schemes(bad):
    with pytest.raises(ValueError, match="percentile"):
        parse_norm(bad)


def test_empty_block_is_refused():
    with pytest.raises(ValueError, match="empty"):
        percentile_range(np.zeros(0), 1, 99)
