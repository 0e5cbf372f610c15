import numpy as np
import pytest

from fluorecon.qc.ood import check_input, ensemble_disagreement, training_statistics

NORM = "percentile:1:99.8"


def _cells(seed, photons=50.0, background=10.0, gain=2.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:128, 0:128]
    obj = np.zeros((128, 128))
    for cy, cx in rng.uniform(20, 108, (6, 2)):
        obj += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 60.0)
    return gain * rng.poisson(background + photons * obj) + 100 + rng.normal(0, 2, obj.shape)


@pytest.fixture(scope="module")
def qc():
    return training_statistics([_cells(s) for s in range(4)], norm=NORM, pixel_size_nm=100)


def test_similar_image_passes(qc):
    report = check_input(_cells(10), qc, norm=NORM, pixel_size_nm=100)
    assert report.in_distribution, report.warnings
    assert 0.5 < report.scores["noise_ratio"] < 2


def test_much_noisier_image_is_flagged_with_the_reason(qc):
    report = check_input(_cells(11, photons=3.0, background=1.0), qc, norm=NORM)
    assert not report.in_distribution
    assert any("Noise level" in w for w in report.warnings)


def test_mostly_empty_image_and_other_pixel_size_are_flagged(qc):
    image = _cells(12)
    image[:, 40:] = np.random.default_rng(0).normal(120, 3, (128, 88))
    report = check_input(image, qc, norm=NORM, pixel_size_nm=50)
    text = " ".join(report.warnings)
    assert "Pixel size 50 nm" in text


def test_card_without_statistics_says_so():
    report = check_input(_cells(1), {}, norm=NORM)
    assert "no training statistics" in report.warnings[0]


def test_ensemble_spread():
    preds = np.stack([np.zeros((8, 8)), np.ones((8, 8)) * 2])
    spread, rel = ensemble_disagreement(preds, noise_std=0.5)
    assert np.allclose(spread, 1.0) and rel == pytest.approx(2.0)


def test_large_unit_is_examined_on_16_evenly_spread_windows():
    from fluorecon.qc import ood

    planes = np.arange(2 * 2100 * 1300, dtype=np.float32).reshape(2, 2100, 1300)  # each value names its pixel
    windows = ood._windows(planes)
    # 2 planes x a 5 x 3 grid of 512² windows at offsets round(linspace(0, 2100 - 512, 5)), (0, 394, 788)
    assert windows.shape == (16, 512, 512)
    ys, xs = np.linspace(0, 1588, 5).round().astype(int), np.array([0, 394, 788])
    picked = np.linspace(0, 29, 16).round().astype(int)  # of the 30 windows in (plane, row, column) order
    for w, i in zip(windows, picked):
        p, r = divmod(i, 15)
        y, x = ys[r // 3], xs[r % 3]
        assert w[0, 0] == planes[p, y, x] and w[-1, -1] == planes[p, y + 511, x + 511]
    assert windows[0][0, 0] == 0 and windows[-1][-1, -1] == planes.ravel()[-1]  # both far corners are looked at


def test_windowed_features_describe_the_whole_plane(monkeypatch):
    """A 2176² field of cells (above the 2048² budget) is checked on 16 windows of 512²; its features stay within
    half the training spread of those of the whole plane, and the verdict is the same."""
    from fluorecon.qc import ood

    qc = training_statistics([_cells(s) for s in range(4)], norm=NORM,
                             calibration=[_cells(s) for s in range(4, 8)])
    field = np.block([[_cells(100 + 17 * i + j) for j in range(17)] for i in range(17)]).astype(np.float32)
    assert field.size > ood._MAX_PIXELS
    windowed = ood.image_features(field, NORM)
    report = check_input(field, qc, norm=NORM)
    monkeypatch.setattr(ood, "_MAX_PIXELS", field.size)  # the whole plane, as before the budget
    whole = ood.image_features(field, NORM)
    names = qc["features"].split(",")
    scale = dict(zip(names, (float(v) for v in qc["feature_scale"].split(","))))
    dz = {n: abs(windowed[n] - whole[n]) / scale[n] for n in names}
    assert max(dz.values()) < 0.5, {n: round(v, 3) for n, v in dz.items()}
    assert report.in_distribution == check_input(field, qc, norm=NORM).in_distribution
