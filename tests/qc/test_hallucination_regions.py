"""Connected-region hallucination warnings: one small invented spot warns, whatever its share of
pixels; AUROC of the local consistency score on planted spots of 1–3 PSF widths."""

import json

import numpy as np

from fluorecon.qc.noise_estimate import NoiseModel
from fluorecon.qc.report import check_result

GAIN, OFFSET, READ = 2.0, 100.0, 3.0
NOISE = NoiseModel(a=GAIN, b=READ ** 2 - GAIN * OFFSET)


def _scene(seed, shape=(128, 128)):
    """Expected image in ADU (smooth cell on a background) and one noisy camera reading of it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    cell = 20 * np.exp(-((y - 64) ** 2 + (x - 64) ** 2) / (2 * 40.0 ** 2))
    expected = OFFSET + GAIN * (5 + cell)
    measured = OFFSET + GAIN * rng.poisson((expected - OFFSET) / GAIN) + rng.normal(0, READ, shape)
    return expected.astype(np.float32), measured.astype(np.float32)


def _spot(shape, centre, sigma, amplitude):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return amplitude * np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * sigma ** 2))


def test_single_invented_spot_warns_and_a_faithful_result_does_not():
    expected, measured = _scene(0)
    clean = check_result(measured, expected, noise=NOISE)
    assert not clean.summary["regions_flagged"], clean.summary["regions_flagged"]
    assert not clean.warnings, clean.warnings
    fake = expected + _spot(expected.shape, (40, 80), 1.5, 60.0).astype(np.float32)
    report = check_result(measured, fake, noise=NOISE)
    peak = report.summary["local_max_abs"]
    assert 7 < peak < 12  # the spot is pinpointed at |z| ≈ 9 in the local map
    assert report.summary["local_flagged_fraction"] < 0.01  # the old > 1 % rule would stay silent
    assert any("connected region" in w and "invented" in w for w in report.warnings), report.warnings
    region = report.summary["regions_flagged"][0]
    assert abs(region["centre"][0] - 40) <= 3 and abs(region["centre"][1] - 80) <= 3


def _auroc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    return float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()))


def test_hallucination_auroc_small(tmp_path):
    """Planted spots of 1–3 PSF widths (PSF σ = 1 px), peak 1.5–3 noise SD: score = the largest
    |local| over the spot's disc; negatives are the same discs in faithful results."""
    rng = np.random.default_rng(7)
    pos, neg, warned = [], [], []
    for trial in range(40):
        expected, measured = _scene(100 + trial)
        sigma = float(rng.uniform(1.0, 3.0))
        centre = tuple(int(v) for v in rng.integers(24, 104, 2))
        noise_sd = float(np.sqrt(NOISE.variance(expected[centre])))
        amplitude = float(rng.uniform(1.5, 3.0)) * noise_sd
        yy, xx = np.mgrid[:128, :128]
        disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= (2 * sigma + 3) ** 2
        fake = check_result(measured, expected + _spot(expected.shape, centre, sigma, amplitude).astype(np.float32),
                            noise=NOISE)
        faithful = check_result(measured, expected, noise=NOISE)
        pos.append(float(np.abs(fake.local[disc]).max()))
        neg.append(float(np.abs(faithful.local[disc]).max()))
        warned.append(bool(fake.summary["regions_flagged"]))
    figures = {"hallucination_auroc_small": _auroc(pos, neg), "spots": len(pos),
               "spot_sigma_psf_widths": "1-3", "spot_peak_noise_sd": "1.5-3",
               "warned_fraction": float(np.mean(warned))}
    (tmp_path / "qc.json").write_text(json.dumps(figures, indent=2))
    print(figures)
    assert figures["hallucination_auroc_small"] >= 0.9
