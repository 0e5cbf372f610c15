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
Noise2Void trained on the 11 real noisy frames (--n2v-steps N, default 200, × 8 patches of 64², seed 0;
the way forward the warning offers; 0 skips it) goes through the same checks on every real file.

Per-pixel localisation on every real file (the invented-detail map ``invented_detail``, invented.tif, and
the candidates it was chosen against), for CARE and for N2V: the truth per pixel is *invented* where the
result's fine detail (result − Gaussian σ 2 px) that the average's fine detail does not explain (local
least squares over 9×9 px) has an RMS above ``TRUTH_K`` × the average's own noise in that band (the
average mapped affinely into the result's units; its noise = the larger of what qc.noise_estimate
measures on it and the frame's noise / √frames). Per-file AUROC of each map against it:
``invented`` (the shipped map), ``disagreement`` (the re-noise fraction map), ``bm3d_unexplained``
(the result's detail power that VST-BM3D's detail does not explain, over the noise variance) and the
baseline ``detail_power`` (the result's local fine-detail power over the noise variance: where the
result has fine detail at all).
``ensemble_spread`` (--ensemble-steps, default 300): the local variance of the fine detail over a seeded
ensemble (the shipped model + 3 fine-tunes of it on fresh simulated pairs, seeds 11-13) over the noise variance.
Writes bench/results/disagreement.json, docs/realdata/disagreement_<file>.png (input | CARE | average |
map) for the real file with the highest fraction and docs/realdata/invented_all.png (every real file:
input | CARE | average | truth | invented.tif for CARE | invented.tif for N2V).
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

from fluorecon.qc.disagreement import (DETAIL_SIGMA, WINDOW, invented_detail, renoise_disagreement,  # noqa: E402
                                       tta_disagreement)

MODEL = ROOT / "models" / "care_denoise_2d.onnx"
#: Truth threshold: unexplained fine-detail RMS over the average's own noise RMS in the same band.
TRUTH_K = 2.0
BORDER = 8


def auroc(score: np.ndarray, mask: np.ndarray) -> float:
    ranks = rankdata(score.ravel())
    m = mask.ravel()
    n1, n0 = int(m.sum()), int((~m).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[m].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _band_gain() -> float:
    """Noise power gain of the detail filter (white noise of variance 1 → detail variance)."""
    impulse = np.zeros((41, 41))
    impulse[20, 20] = 1.0
    return float((_detail(impulse) ** 2).sum())


def invented_truth(result: np.ndarray, ref: np.ndarray, frame_noise, n_frames: int) -> np.ndarray:
    """Per pixel: the result's fine detail that the average's does not explain is above TRUTH_K × the
    average's own noise in that band (see the module docstring)."""
    from fluorecon.qc.noise_estimate import estimate_noise

    r = affine_fit(ref, result).astype(np.float64)
    var_ref = np.maximum(estimate_noise(r.astype(np.float32)).variance(np.maximum(r, 0)),
                         frame_noise.variance(np.maximum(r, 0)) / n_frames)
    hc, hr = _detail(result), _detail(r)
    pc, pr, pcr = _box(hc * hc), _box(hr * hr), _box(hc * hr)
    unexplained = np.maximum(pc - np.maximum(pcr, 0) ** 2 / np.maximum(pr, 1e-12), 0)
    return unexplained > TRUTH_K ** 2 * _box(var_ref) * _band_gain()


def candidate_maps(result, classical, noise, renoise_map, invented_map, ensemble_map=None) -> dict:
    var = _box(noise.variance(np.maximum(result, 0)))
    hc, hb = _detail(result), _detail(classical)
    pc, pb, pcb = _box(hc * hc), _box(hb * hb), _box(hc * hb)
    return {"invented": invented_map, "disagreement": renoise_map,
            "bm3d_unexplained": np.maximum(pc - np.maximum(pcb, 0) ** 2 / np.maximum(pb, 1e-12), 0) / var,
            "detail_power": pc / var, **({"ensemble_spread": ensemble_map} if ensemble_map is not None else {})}


def localisation(result, x, ref, n_frames, noise, classical, renoise_map, invented_map, ensemble_map=None) -> dict:
    truth = invented_truth(result, ref, noise, n_frames)
    inner = (slice(BORDER, -BORDER),) * 2
    maps = candidate_maps(result, classical, noise, renoise_map, invented_map, ensemble_map)
    return {"truth_fraction": round(float(truth[inner].mean()), 4),
            "auroc": {k: round(auroc(m[inner], truth[inner]), 4) for k, m in maps.items()}, "_truth": truth}


def _frames(ref_path: Path) -> int:
    return int(ref_path.stem.rsplit("avg", 1)[1])


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
    p.add_argument("--n2v-steps", type=int, default=200, help="also check N2V trained on the real frames (0: skip)")
    p.add_argument("--ensemble-steps", type=int, default=300,
                   help="a seeded ensemble: 3 fine-tunes of the shipped model (seeds 11-13, fresh simulated pairs), "
                        "this many steps each, plus the model itself; its per-pixel spread is scored too (0: skip)")
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
    ensemble, doc["ensemble"] = ensemble_members(args.ensemble_steps) if args.ensemble_steps else (None, None)
    from fluorecon.qc.report import psf_area_px

    psf_area = psf_area_px(card)
    ind, ind_inv = [], []
    for x in training_inputs(card, n=args.n_sim, seed=901):
        ind.append(renoise_disagreement(predict, x).summary["flagged_fraction"])
        ind_inv.append(invented_detail(predict, x, psf_area_px=psf_area).summary)
    dif, dif_inv = [], []
    for x in diffuse(card, args.n_sim // 2, 55):
        dif.append(renoise_disagreement(predict, x).summary["flagged_fraction"])
        dif_inv.append(invented_detail(predict, x, psf_area_px=psf_area).summary)
    from fluorecon.qc.disagreement import AREA_THRESHOLD as thr
    doc["in_distribution"] = {"n": len(ind), "fraction_p95": round(float(np.percentile(ind, 95)), 4),
                              "fraction_max": round(max(ind), 4), "false_alarm_rate": float(np.mean(np.array(ind) > thr)),
                              "fractions": [round(v, 4) for v in ind],
                              # regions of invented.tif alone (the report names them only when the whole-image
                              # check warns, so the warning's false-alarm rate is false_alarm_rate above)
                              "invented_regions": [s["regions"] for s in ind_inv],
                              "invented_region_rate_ungated": float(np.mean([s["regions"] > 0 for s in ind_inv])),
                              "invented_region_warning_rate": float(np.mean(
                                  [s["regions"] > 0 and f > thr for s, f in zip(ind_inv, ind)])),
                              "invented_p99": [s["p99"] for s in ind_inv]}
    doc["diffuse"] = {"n": len(dif), "detection_rate": float(np.mean(np.array(dif) > thr)),
                      "fractions": [round(v, 4) for v in dif],
                      "invented_region_warning_rate": float(np.mean(
                          [s["regions"] > 0 and f > thr for s, f in zip(dif_inv, dif)])),
                      "diffuse_invented_p99": [s["p99"] for s in dif_inv]}
    halves, halves_inv = [], []
    for seed in (3, 4, 5):
        image, right = _half_diffuse(card, seed)
        d = renoise_disagreement(predict, image)
        inv = invented_detail(predict, image, psf_area_px=psf_area)
        inner = ndimage.binary_erosion(right, iterations=8) | ndimage.binary_erosion(~right, iterations=8)
        halves.append(round(auroc(d.map[inner], right[inner]), 4))
        halves_inv.append(round(auroc(inv.map[inner], right[inner]), 4))
        if ensemble:
            doc["ensemble"]["half_diffuse_auroc"].append(
                round(auroc(ensemble_spread(ensemble, image)[inner], right[inner]), 4))
    doc["half_diffuse_auroc"] = halves
    doc["half_diffuse_auroc_invented"] = halves_inv
    print(f"in distribution: p95 {doc['in_distribution']['fraction_p95']}, false alarms "
          f"{doc['in_distribution']['false_alarm_rate']:.3f}; diffuse detection {doc['diffuse']['detection_rate']:.3f}; "
          f"half-diffuse AUROC {halves}", flush=True)

    from fluorecon.qc.classical import denoise_vst
    from fluorecon.qc.noise_estimate import estimate_noise

    n2v_predict, n2v_info = n2v_model(args) if args.n2v_steps else (None, None)
    rows, n2v = [], []
    for stem, noisy, ref_path in pairs_denoise():
        x, ref = read(noisy).astype(np.float32), read(ref_path).astype(np.float32)
        noise = estimate_noise(x)
        classical = denoise_vst(x, method="vst-bm3d", noise=noise)
        care = predict(x)
        d = renoise_disagreement(predict, x, prediction=care, noise=noise)
        inv = invented_detail(predict, x, prediction=care, noise=noise, psf_area_px=psf_area)
        tta = tta_disagreement(predict, x)
        r = affine_fit(ref, care)  # the average in CARE's units
        var = np.maximum(_noise_var(x, care), 1e-9)
        err = np.sqrt(_box((care - r) ** 2) / _box(var))
        hc, hr = _detail(care), _detail(r)
        invented = 1 - _box(hc * hr) / np.sqrt(_box(hc * hc) * _box(hr * hr) + 1e-12)
        loc = localisation(care, x, ref, _frames(ref_path), noise, classical, d.map, inv.map,
                           ensemble_spread(ensemble, x, noise) if ensemble else None)
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
               "truth_fraction": loc["truth_fraction"], "auroc": loc["auroc"],
               "invented_p99": inv.summary["p99"], "invented_regions": inv.summary["regions"],
               "invented_region_warning": bool(d.warnings) and inv.summary["regions"] > 0,
               "_panels": (x, care, ref, d.map), "_row": [x, care, ref, loc["_truth"], inv.map]}
        rows.append(row)
        print(stem, {k: v for k, v in row.items() if not k.startswith("_")}, flush=True)
        if n2v_predict is not None:
            out = n2v_predict(x)
            dn = renoise_disagreement(n2v_predict, x, prediction=out, noise=noise)
            invn = invented_detail(n2v_predict, x, prediction=out, noise=noise, psf_area_px=psf_area)
            locn = localisation(out, x, ref, _frames(ref_path), noise, classical, dn.map, invn.map)
            n2v.append({"file": row["file"], "flagged_fraction": dn.summary["flagged_fraction"],
                        "detail_rms_over_noise": dn.summary["detail_rms_over_noise"], "warns": bool(dn.warnings),
                        "truth_fraction": locn["truth_fraction"], "auroc": locn["auroc"],
                        "invented_p99": invn.summary["p99"], "invented_regions": invn.summary["regions"],
                        "invented_region_warning": bool(dn.warnings) and invn.summary["regions"] > 0})
            row["_row"].append(invn.map)
            print("n2v", stem, n2v[-1], flush=True)
    worst = max(rows, key=lambda r: r["flagged_fraction"])
    x, care, ref, m = worst.pop("_panels")
    name = Path(worst["file"]).name.replace("_noisy.tif", "")
    worst["picture"] = picture(PICS / f"disagreement_{name}.png",
                               [("input (1 frame)", x, False), ("CARE 2D (shipped)", care, False),
                                ("reference (frame average)", ref, False),
                                ("disagreement map (1 = not reproducible)", m, True)],
                               f"{name}: CARE's fine detail mostly not reproducible under re-noising over "
                               f"{100 * worst['flagged_fraction']:.0f}% of the image (warns above {100 * thr:.0f}%)")
    doc["invented_picture"] = all_files_picture(PICS / "invented_all.png", rows)
    for r in rows:
        r.pop("_panels", None)
        r.pop("_row", None)
    doc["real"] = {"files": rows, "warned": sum(r["warns"] for r in rows), "n": len(rows),
                   "truth": f"result's fine detail (result - gaussian sigma {DETAIL_SIGMA:g}) not explained by the "
                            f"average's (local least squares, {WINDOW}x{WINDOW}), RMS > {TRUTH_K:g} x the average's own "
                            "noise in that band", **_auroc_means(rows)}
    if n2v_predict is not None:
        doc["real_n2v"] = {**n2v_info, "files": n2v, "warned": sum(r["warns"] for r in n2v), **_auroc_means(n2v)}
    doc["wall_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out}")
    return 0


def ensemble_members(steps: int):
    """The shipped model and 3 fine-tunes of it (seeds 11-13, 16 fresh pairs of its own training simulation each,
    `steps` steps of fluorecon.train_like.fine_tune_same_grid); returns (torch networks, facts)."""
    import torch

    from fluorecon.export import unet_from_onnx
    from fluorecon.qc.training_inputs import _denoise_sim
    from fluorecon.tasks.denoise.simulate import simulate_pairs
    from fluorecon.train import normalize_pair
    from fluorecon.train_like import LikeSettings, fine_tune_same_grid

    torch.set_num_threads(1)
    base, card = unet_from_onnx(MODEL)
    sim = _denoise_sim(card)
    members, t0 = [base], time.perf_counter()
    for seed in (11, 12, 13):
        pairs = [normalize_pair(p.low, p.high, norm=card.norm) for p in simulate_pairs(sim, n=16, seed=1000 + seed)]
        settings = LikeSettings(steps=steps, seed=seed, device="cpu", na=1.0, wavelength_nm=520)  # optics unused here
        members.append(fine_tune_same_grid(base, pairs, settings, sim.image_shape, cancel=lambda: False,
                                           progress=False, report=lambda *a: None)[0])
    return (members, card.norm), {"members": "the shipped model + 3 fine-tunes (seeds 11-13)", "steps": steps,
                                  "train_seconds": round(time.perf_counter() - t0, 1), "half_diffuse_auroc": []}


def ensemble_spread(ensemble, x, noise=None) -> np.ndarray:
    """Local variance over the members of their fine detail, over the local noise variance (9×9 px)."""
    import torch

    from fluorecon.core.normalize import denormalize, norm_range, normalize
    from fluorecon.qc.noise_estimate import estimate_noise
    from fluorecon.train import predict_torch

    members, norm = ensemble
    noise = noise or estimate_noise(x)
    lo, hi = norm_range(x, norm)
    with torch.no_grad():
        outs = [denormalize(predict_torch(m, normalize(x, lo, hi)), lo, hi) for m in members]
    detail = np.stack([_detail(o) for o in outs])
    return _box(detail.var(axis=0)) / _box(noise.variance(np.maximum(np.mean(outs, axis=0), 0)))


def _auroc_means(rows) -> dict:
    names = rows[0]["auroc"].keys()
    return {"auroc_mean": {k: round(float(np.nanmean([r["auroc"][k] for r in rows])), 4) for k in names},
            "auroc_min": {k: round(float(np.nanmin([r["auroc"][k] for r in rows])), 4) for k in names},
            "invented_region_warnings": sum(r["invented_region_warning"] for r in rows)}


def all_files_picture(path: Path, rows) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["input (1 frame)", "CARE 2D (shipped)", "frame average", "truth: invented by CARE",
              "invented.tif, CARE", "invented.tif, N2V"]
    ncol = len(rows[0]["_row"])
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.6 * ncol, 1.6 * len(rows)), dpi=55)
    for i, row in enumerate(rows):
        for j, img in enumerate(row["_row"]):
            ax = axes[i, j]
            if j == 3:
                ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            elif j >= 4:
                ax.imshow(img, cmap="magma", vmin=0, vmax=0.06, interpolation="nearest")
            else:
                ax.imshow(_gray(img), cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=6)
        axes[i, 0].set_ylabel(Path(row["file"]).name.replace("_noisy.tif", "") +
                              f"\nAUROC {row['auroc']['invented']:.2f}", fontsize=6)
    fig.tight_layout(pad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    from PIL import Image

    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)  # 11 rows: keep the PNG small
    return str(path.relative_to(ROOT))


def n2v_model(args):
    """Noise2Void trained on the 11 real noisy frames; returns (predict, facts)."""
    import tempfile

    from fluorecon.infer import get_predictor
    from fluorecon.tasks.denoise.selfsupervised import train_selfsupervised
    from fluorecon.tasks.denoise.spec import DenoiseConfig
    from fluorecon.train import TrainConfig

    data = [read(n).astype(np.float32) for _, n, _ in pairs_denoise()]
    cfg = DenoiseConfig(method="n2v", name="N2V on the real-data set", train=TrainConfig(
        steps=args.n2v_steps, batch_size=8, patch_size=(64, 64), device="cpu", seed=0))
    tmp = tempfile.mkdtemp()
    t0 = time.perf_counter()
    _, onnx = train_selfsupervised(cfg, Path(tmp) / "n2v.onnx", data=data, progress=False)
    seconds = round(time.perf_counter() - t0, 1)
    predictor = get_predictor(onnx, device="cpu", threads=args.threads)
    return (lambda v: predictor.predict(np.asarray(v, np.float32), axes="YX", tile=256),
            {"steps": args.n2v_steps, "train_seconds": seconds})


def _noise_var(x, care):
    from fluorecon.qc.noise_estimate import estimate_noise

    return estimate_noise(x).variance(np.maximum(care, 0))


if __name__ == "__main__":
    raise SystemExit(main())
