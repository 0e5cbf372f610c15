"""OOD bench (issue 13): false alarms and detection rates of the out-of-distribution check (fluorecon.qc.ood),
calibrated as the shipped cards are, on held-out simulated data.

    .venv/bin/python bench/ood.py [--n-fresh 200] [--n-shift 40] [--parts denoiser,cross_class,cards]

1. The shipped ``care_denoise_2d`` card: the false-alarm rate on fresh draws of its recorded training simulation
   (seed 555: neither the card's reference/held-out seeds nor the training seed), and the detection rate per
   shift of tests/qc/ood_shifts.py (intensity ×1000 by photons and by camera gain, noise ×3 and /3, pixel size
   ×2 and ×0.5 from the pixels alone, ×2 with the image's calibration, structures ×3, diffuse cytoplasm).
2. Cross-class: statistics of vesicle inputs calibrated as in tests/qc/test_cross_class.py (32 + 32 inputs,
   256², 30 photons), the detection rate on filaments, nuclei, membranes and mixed phantoms, and the false-alarm
   rate on fresh vesicle fields.
3. cards: the false-alarm rate of every shipped card on fresh draws of its own training simulation.
Merges the parts run into bench/results/qc.json under ``ood_calibration`` (every other key and part kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "qc"))
sys.path.insert(0, str(ROOT / "bench"))

import ood_shifts  # noqa: E402
from harness import machine_load  # noqa: E402

from fluorecon.core.modelcard import read_card  # noqa: E402
from fluorecon.qc.ood import check_input, training_statistics  # noqa: E402
from fluorecon.qc.training_inputs import QC_SEED, training_inputs  # noqa: E402

RESULTS = Path(os.environ.get("FLUORECON_BENCH_RESULTS", ROOT / "bench" / "results")) / "qc.json"
NORM = "percentile:1:99.8"


def rate(images, qc, norm, **kw) -> dict:
    """Share of `images` flagged, with n and the spread of their distances."""
    reports = [check_input(im, qc, norm=norm, **kw) for im in images]
    d = [r.scores["distance"] for r in reports]
    return {"rate": round(float(np.mean([not r.in_distribution for r in reports])), 4), "n": len(reports),
            "distance_min_median_max": [round(float(v), 2) for v in np.percentile(d, [0, 50, 100])]}


def shipped_denoiser(n_fresh: int, n_shift: int) -> dict:
    card = read_card(ROOT / "models" / "care_denoise_2d.onnx")
    out = {"card": "care_denoise_2d.onnx", "threshold": float(card.qc["feature_threshold"]),
           "features": len(card.qc["features"].split(",")),
           "false_alarm": rate(training_inputs(card, n=n_fresh, seed=555), card.qc, card.norm), "detection": {}}
    for name, images in ood_shifts.shifts(card, n_shift, 556).items():
        out["detection"][name] = rate(images, card.qc, card.norm)
        print(name, out["detection"][name], flush=True)
    calibrated = ood_shifts.pixel_size(card, n_shift, 565, 2.0)
    out["detection"]["pixel size x2, calibrated image"] = rate(calibrated, card.qc, card.norm, pixel_size_nm=200.0)
    return out


def cross_class(n: int) -> dict:
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, simulate_pairs

    field = DenoiseSimulation(shape=(256, 256), seed=23, photons_low=30, photons_spread=1.0)

    def lows(kind, count, seed):
        return [p.low for p in simulate_pairs(field.model_copy(update={"kind": kind}), n=count, seed=seed)]

    ves = lows("vesicles", 64, 23)
    qc = training_statistics(ves[:32], norm=NORM, pixel_size_nm=100.0, calibration=ves[32:])
    out = {"statistics": "vesicles, 32 reference + 32 held-out inputs 256x256, 30 photons (tests/qc/test_cross_class.py)",
           "threshold": float(qc["feature_threshold"]), "false_alarm_vesicles": rate(lows("vesicles", 2 * n, 99), qc, NORM),
           "detection": {}}
    for kind in ("filaments", "nuclei", "membranes", "mixed"):
        out["detection"][kind] = rate(lows(kind, n, 24), qc, NORM)
        print(kind, out["detection"][kind], flush=True)
    return out


def every_card(n: int) -> dict:
    out = {}
    for path in sorted((ROOT / "models").glob("*.onnx")):
        card = read_card(path)
        t = time.time()
        out[path.name] = rate(training_inputs(card, n=n, seed=QC_SEED + 7), card.qc, card.norm)
        print(path.name, out[path.name], f"{time.time() - t:.0f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-fresh", type=int, default=200)
    parser.add_argument("--n-shift", type=int, default=40)
    parser.add_argument("--n-card", type=int, default=20, help="Fresh inputs per shipped card (part cards).")
    parser.add_argument("--parts", default="denoiser,cross_class,cards", help="Comma-separated parts to run.")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    figures = data.get("ood_calibration", {})
    figures.update({"load_start": machine_load(), "source": "bench/ood.py (seeded simulation)"})
    if "denoiser" in parts:
        figures["care_denoise_2d"] = shipped_denoiser(args.n_fresh, args.n_shift)
    if "cross_class" in parts:
        figures["cross_class"] = cross_class(args.n_shift // 2)
    if "cards" in parts:
        figures["false_alarm_per_card"] = every_card(args.n_card)
    figures["load_end"] = machine_load()
    data["ood_calibration"] = figures
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS} (ood_calibration)")


if __name__ == "__main__":
    main()
