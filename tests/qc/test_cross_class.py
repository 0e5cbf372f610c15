"""A model trained on one structure class (vesicles) applied to another: the out-of-distribution
check must warn (issue 4, issue 18). The figures also go to qc.json (bench/results/ only when a
bench run sets FLUORECON_BENCH_RESULTS, else a temporary folder) under ``cross_class``.

The vesicle card is calibrated as the shipped cards are (scripts/add_qc_stats.py): the 25 features of
32 reference + 32 held-out simulated vesicle inputs (256², 30 photons, seed 23), threshold
``THRESHOLD_MARGIN`` (1.1) × the largest held-out Mahalanobis distance.

It catches vesicle model on membranes, nuclei and mixed phantoms, and on filaments. Filaments were a known miss
with the 19 features of the earlier cards (distance 14–16 < threshold 20.8, set by a sparse held-out vesicle
field whose acf_* features stray); the structure tensor's orientation coherence over 4 px (filaments keep their
direction, a vesicle's rim turns) and the spectral moments, floored so that a near-empty field stays tame, now
put filaments at ~30 against a threshold of ~22 (bench/ood.py, ``cross_class``). Sparse vesicle fields still
stray: the false-alarm rate on fresh vesicle fields is in the same bench.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fluorecon.core.normalize import denormalize, normalize, percentile_range
from fluorecon.export import unet_card
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.metrics import psnr
from fluorecon.qc.ood import check_input, training_statistics
from fluorecon.qc.report import check_result
from fluorecon.tasks.denoise.learned import DenoiseSimulation, simulate_pairs
from fluorecon.train import TrainConfig, normalize_pair, predict_torch, train_network

NORM = "percentile:1:99.8"
SIM = DenoiseSimulation(shape=(96, 96), seed=23, photons_low=30, photons_spread=1.0)
FIELD = SIM.model_copy(update={"shape": (256, 256)})  # the inputs the OOD statistics describe
BUDGET = dict(steps=150, batch_size=8, patch_size=(32, 32), lr=2e-3, seed=0, device="cpu", loss="l1")


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _lows(kind: str, n: int, seed: int) -> list[np.ndarray]:
    return [p.low for p in simulate_pairs(FIELD.model_copy(update={"kind": kind}), n=n, seed=seed)]


@pytest.fixture(scope="module")
def vesicle_qc() -> dict[str, str]:
    """Calibrated statistics of vesicle inputs, as scripts/add_qc_stats.py makes them."""
    ves = _lows("vesicles", 64, 23)
    return training_statistics(ves[:32], norm=NORM, pixel_size_nm=100.0, calibration=ves[32:])


def merge_into_results(results: Path, key: str, value: dict) -> None:
    """Add one key to qc.json, keeping every other key (hallucination_auroc, coverage_90, ...)."""
    data = json.loads(results.read_text()) if results.is_file() else {}
    data[key] = value
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(data, indent=1) + "\n")


def _apply(net, raw):
    lo, hi = percentile_range(raw, 1, 99.8)
    return denormalize(predict_torch(net, normalize(raw, lo, hi)), lo, hi)


def _figures(report, raw, result, clean):
    s = report.summary
    x, c = normalize_pair(raw, clean, norm=NORM, match=False)
    r = normalize(result, *percentile_range(raw, 1, 99.8))
    return {"residual_mean": round(s["residual_mean"], 4), "residual_var": round(s["residual_std"] ** 2, 4),
            "local_flagged_fraction": round(s["local_flagged_fraction"], 5),
            "local_max_abs": round(s["local_max_abs"], 2),
            "lag1_autocorrelation": [round(v, 4) for v in s["lag1_autocorrelation"]],
            "ood_distance": round(s["ood"]["scores"]["distance"], 2),
            "ood_threshold": round(s["ood"]["scores"]["threshold"], 2),
            "ood_warning": not s["ood"]["in_distribution"], "warnings": report.warnings,
            "psnr_input_db": round(psnr(x, c), 2), "psnr_result_db": round(psnr(r, c), 2)}


def test_vesicle_model_on_other_classes_report(qc_results, vesicle_qc):
    train = simulate_pairs(SIM.model_copy(update={"kind": "vesicles"}), n=3)
    vesicle = simulate_pairs(FIELD.model_copy(update={"kind": "vesicles"}), n=1, seed=99)[0]
    cfg = UNetConfig(ndim=2, depth=2, filters=8)
    torch.manual_seed(0)
    net = build_network(cfg)
    # CARE (clean targets) is the case the review warns about: it learns what vesicles look like.
    train_network(net, [normalize_pair(p.low, p.clean, norm=NORM) for p in train], TrainConfig(**BUDGET),
                  progress=False)
    card = unet_card(cfg, task="denoise", method="care", name="vesicles", norm=NORM, qc=vesicle_qc)
    figures = {}
    for label, kind in (("in_distribution_vesicles", None), ("vesicle_model_on_filaments", "filaments"),
                        ("vesicle_model_on_nuclei", "nuclei"), ("vesicle_model_on_membranes", "membranes")):
        pair = vesicle if kind is None else simulate_pairs(FIELD.model_copy(update={"kind": kind}), n=1, seed=24)[0]
        result = _apply(net, pair.low)
        report = check_result(pair.low, result, card=card, pixel_size_nm=100.0)
        figures[label] = _figures(report, pair.low, result, pair.clean)
    figures["model"] = ("CARE U-Net depth 2, 8 filters, 150 steps on 3 simulated vesicle images (96x96, 30 photons); "
                        "OOD statistics of 32 + 32 vesicle inputs 256x256")
    figures["source"] = "tests/qc/test_cross_class.py (seeded simulation)"
    merge_into_results(qc_results, "cross_class", figures)
    ind = figures["in_distribution_vesicles"]
    assert ind["psnr_result_db"] > ind["psnr_input_db"] + 3 and not ind["ood_warning"], ind
    # The classes the check catches, through the full report a user gets (predict --qc).
    for label in ("vesicle_model_on_nuclei", "vesicle_model_on_membranes", "vesicle_model_on_filaments"):
        assert figures[label]["ood_warning"], (label, figures[label])
        assert any("differs from the training data" in w for w in figures[label]["warnings"]), figures[label]


@pytest.mark.parametrize("kind", ["nuclei", "membranes", "mixed"])
def test_vesicle_model_warns_on_other_classes(vesicle_qc, kind):
    for image in _lows(kind, 3, 24):
        report = check_input(image, vesicle_qc, norm=NORM, pixel_size_nm=100.0)
        assert not report.in_distribution and report.scores["distance"] > report.scores["threshold"], report.scores


def test_vesicle_model_warns_on_filaments(vesicle_qc):
    """Failed with the 19 features of the earlier cards (a strict xfail until issue 13's scale features)."""
    for image in _lows("filaments", 3, 24):
        report = check_input(image, vesicle_qc, norm=NORM, pixel_size_nm=100.0)
        assert not report.in_distribution and report.scores["distance"] > report.scores["threshold"], report.scores
        assert any(w.startswith("Structure differs") for w in report.warnings), report.warnings
