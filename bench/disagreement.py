"""Disagreement bench (issue 13): does the re-noise check (fluorecon.qc.disagreement) mark texture a
denoiser invents, and stay quiet where the model is in distribution?

    .venv/bin/python bench/disagreement.py [--n-sim 40] [--threads 2]

Three sets, all with the shipped `care_denoise_2d` (trained on simulated filaments, vesicles and nuclei):
1. in distribution: fresh draws of its training simulation (seeds never trained on) → the
   false-alarm rate, and the flagged share of the image that calibrates ``AREA_THRESHOLD``;
2. diffuse cytoplasm-like simulation (tests/qc/ood_shifts.py) → the detection rate; and half
   structure / half diffuse images → the map's AUROC for the diffuse (invented-texture) half;
3. every real W2S/FMD file in data/realdata/denoise (frame average = reference): whether it warns,
   and the Spearman correlation of the map with (a) |CARE − average| and (b) the reference's own
   verdict on the texture, 1 − local correlation of CARE's fine detail with the average's (both over
   the same 9×9 windows; the average is affinely mapped onto CARE's units first).
With --n2v-steps N, also Noise2Void trained on the 11 real noisy frames (N steps × 8 patches of 64²,
seed 0; the way forward the warning offers) goes through the same check on every real file.
Writes bench/results/disagreement.json and docs/realdata/disagreement_<file>.png
(input | CARE | average | map) for the real file with the highest fraction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata, spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "qc"))
sys.path.insert(0, str(ROOT / "bench"))

from realdata import PICS, RESULTS, _gray, affine_fit, pairs_denoise, read  # noqa: E402

from fluorecon.qc.disagreement import DETAIL_SIGMA, WINDOW, renoise_disagreement, tta_disagreement  # noqa: E402

MODEL = ROOT / "models" / "care_denoise_2d.onnx"


def auroc(score: np.ndarray, mask: np.ndarray) -> float:
    ranks = rankdata(score.ravel())
    m = mask.ravel()
    n1, n0 = int(m.sum()), int((~m).sum())
    return float((ranks[m].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _box(a):
    return ndimage.uniform_filter(np.asarray(a, np.float64), WINDOW)


def _detail(a):
    return np.asarray(a, np.float64) - ndimage.gaussian_filter(np.asarray(a, np.float64), DETAIL_SIGMA)


def picture(path: Path, panels, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), dpi=100)
    for ax, (name, img, is_map) in zip(axes, panels):
        if is_map:
            im = ax.imshow(img, cmap="magma", vmin=0, vmax=1.2, interpolation="nearest")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        else:
            ax.imshow(_gray(img), cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=7)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path.relative_to(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-sim", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n2v-steps", type=int, default=0, help="also check N2V trained on the real frames (0: skip)")
    p.add_argument("--out", type=Path, default=RESULTS / "disagreement.json")
    args = p.parse_args(argv)
    from ood_shifts import diffuse
    from test_disagreement import _half_diffuse

    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import get_predictor
    from fluorecon.qc.training_inputs import training_inputs

    card = read_card(MODEL)
    predictor = get_predictor(MODEL, device="cpu", threads=args.threads)

    def predict(x):
        return predictor.predict(np.asarray(x, np.float32), axes="YX", tile=256)

    t0 = time.perf_counter()
    doc: dict = {"model": MODEL.name, "check": renoise_disagreement.__name__}
    ind = [renoise_disagreement(predict, x).summary["flagged_fraction"]
           for x in training_inputs(card, n=args.n_sim, seed=901)]
    dif = [renoise_disagreement(predict, x).summary["flagged_fraction"] for x in diffuse(card, args.n_sim // 2, 55)]
    from fluorecon.qc.disagreement import AREA_THRESHOLD as thr
    doc["in_distribution"] = {"n": len(ind), "fraction_p95": round(float(np.percentile(ind, 95)), 4),
                              "fraction_max": round(max(ind), 4), "false_alarm_rate": float(np.mean(np.array(ind) > thr)),
                              "fractions": [round(v, 4) for v in ind]}
    doc["diffuse"] = {"n": len(dif), "detection_rate": float(np.mean(np.array(dif) > thr)),
                      "fractions": [round(v, 4) for v in dif]}
    halves = []
    for seed in (3, 4, 5):
        image, right = _half_diffuse(card, seed)
        d = renoise_disagreement(predict, image)
        inner = ndimage.binary_erosion(right, iterations=8) | ndimage.binary_erosion(~right, iterations=8)
        halves.append(round(auroc(d.map[inner], right[inner]), 4))
    doc["half_diffuse_auroc"] = halves
    print(f"in distribution: p95 {doc['in_distribution']['fraction_p95']}, false alarms "
          f"{doc['in_distribution']['false_alarm_rate']:.3f}; diffuse detection {doc['diffuse']['detection_rate']:.3f}; "
          f"half-diffuse AUROC {halves}", flush=True)

    rows = []
    for stem, noisy, ref_path in pairs_denoise():
        x, ref = read(noisy).astype(np.float32), read(ref_path).astype(np.float32)
        care = predict(x)
        d = renoise_disagreement(predict, x, prediction=care)
        tta = tta_disagreement(predict, x)
        r = affine_fit(ref, care)  # the average in CARE's units
        var = np.maximum(_noise_var(x, care), 1e-9)
        err = np.sqrt(_box((care - r) ** 2) / _box(var))
        hc, hr = _detail(care), _detail(r)
        invented = 1 - _box(hc * hr) / np.sqrt(_box(hc * hc) * _box(hr * hr) + 1e-12)
        sub = (slice(None, None, 3), slice(None, None, 3))
        row = {"file": str(noisy.relative_to(ROOT)), "flagged_fraction": d.summary["flagged_fraction"],
               "detail_rms_over_noise": d.summary["detail_rms_over_noise"],
               "unreproducible_fraction": d.summary["unreproducible_fraction"],
               "warns": bool(d.warnings), "tta_p99_ratio": round(tta.summary["p99_ratio"], 4),
               "tta_warns": bool(tta.warnings),
               "spearman_map_vs_abs_error": round(float(spearmanr(d.map[sub].ravel(), err[sub].ravel())[0]), 3),
               "spearman_map_vs_reference_invented_detail":
                   round(float(spearmanr(d.map[sub].ravel(), invented[sub].ravel())[0]), 3),
               "reference_invented_detail_median": round(float(np.median(invented)), 3),
               "_panels": (x, care, ref, d.map)}
        rows.append(row)
        print(stem, {k: v for k, v in row.items() if not k.startswith("_")}, flush=True)
    worst = max(rows, key=lambda r: r["flagged_fraction"])
    x, care, ref, m = worst.pop("_panels")
    name = Path(worst["file"]).name.replace("_noisy.tif", "")
    worst["picture"] = picture(PICS / f"disagreement_{name}.png",
                               [("input (1 frame)", x, False), ("CARE 2D (shipped)", care, False),
                                ("reference (frame average)", ref, False),
                                ("disagreement map (1 = not reproducible)", m, True)],
                               f"{name}: CARE's fine detail mostly not reproducible under re-noising over "
                               f"{100 * worst['flagged_fraction']:.0f}% of the image (warns above {100 * thr:.0f}%)")
    for r in rows:
        r.pop("_panels", None)
    doc["real"] = {"files": rows, "warned": sum(r["warns"] for r in rows), "n": len(rows)}
    if args.n2v_steps:
        doc["real_n2v"] = n2v_rows(args)
    doc["wall_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out}")
    return 0


def n2v_rows(args) -> dict:
    import tempfile

    from fluorecon.infer import get_predictor
    from fluorecon.tasks.denoise.selfsupervised import train_selfsupervised
    from fluorecon.tasks.denoise.spec import DenoiseConfig
    from fluorecon.train import TrainConfig

    data = [(stem, n, read(n).astype(np.float32)) for stem, n, _ in pairs_denoise()]
    cfg = DenoiseConfig(method="n2v", name="N2V on the real-data set", train=TrainConfig(
        steps=args.n2v_steps, batch_size=8, patch_size=(64, 64), device="cpu", seed=0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, onnx = train_selfsupervised(cfg, Path(tmp) / "n2v.onnx", data=[x for _, _, x in data], progress=False)
        seconds = round(time.perf_counter() - t0, 1)
        predictor = get_predictor(onnx, device="cpu", threads=args.threads)
        for stem, n, x in data:
            s = renoise_disagreement(lambda v: predictor.predict(np.asarray(v, np.float32), axes="YX", tile=256),
                                     x).summary
            rows.append({"file": str(n.relative_to(ROOT)), "flagged_fraction": s["flagged_fraction"],
                         "detail_rms_over_noise": s["detail_rms_over_noise"], "warns": s["flagged_fraction"] > s["area_threshold"]})
            print("n2v", stem, rows[-1], flush=True)
    return {"steps": args.n2v_steps, "train_seconds": seconds, "files": rows, "warned": sum(r["warns"] for r in rows)}


def _noise_var(x, care):
    from fluorecon.qc.noise_estimate import estimate_noise

    return estimate_noise(x).variance(np.maximum(care, 0))


if __name__ == "__main__":
    raise SystemExit(main())
