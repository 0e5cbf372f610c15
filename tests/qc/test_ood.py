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
