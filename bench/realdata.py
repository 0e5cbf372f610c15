"""Real-data bench (issue 14): every shipped learned model beside the strongest classical method and
the QC verdict, on public real microscopy data committed under data/realdata/ (provenance and
licences: data/realdata/SOURCES.md, sources.json). Every file of a set is reported; nothing is tuned
on the data except where a row says so (the Gaussian's σ is chosen by leave-one-file-out over the
set, so no file's own reference picks its σ).

    .venv/bin/python bench/realdata.py [--tasks denoise,n2v,like,upsample,deconvolve,isotropic,localize,register,lightfield]
                                       [--n2v-steps 300] [--like-steps 60] [--threads 2]

Writes bench/results/realdata.json (a ``tasks`` object, one entry per task), bench/results/realdata.md
and the picture strips docs/realdata/<task>_<file>.png (input | classical | learned | consistency map
[| reference]). Not part of `make test` (minutes on 2 cores; `make realdata`).

Scores against a reference (denoise, upsample, isotropic, register) are computed after the
least-squares affine map of each estimate onto the reference (the W2S/FMD files were min–max scaled
to 8 bits by their authors, so absolute intensities carry no meaning); PSNR uses the reference's
range. The same map is applied to every method, the raw input included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
DATA = ROOT / "data" / "realdata"
MODELS = ROOT / "models"
RESULTS = Path(os.environ.get("FLUORECON_BENCH_RESULTS", ROOT / "bench" / "results"))
PICS = ROOT / "docs" / "realdata"

ALL_TASKS = ("denoise", "n2v", "like", "like_bead", "upsample", "deconvolve", "isotropic", "localize", "register",
             "lightfield")
#: Entries stored inside another task's entry: task → (entry, key).
NESTED = {"like_bead": ("like", "deconvolve_bead")}


# --------------------------------------------------------------------------- helpers

def sources() -> dict[str, dict]:
    return {f["file"]: f for f in json.loads((DATA / "sources.json").read_text())["files"]}


def source_of(path: Path) -> dict:
    rel = str(path.relative_to(ROOT))
    s = sources()[rel]
    return {k: s[k] for k in ("source", "path", "commit", "licence")}


def affine_fit(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """a·estimate + b with a, b minimising the squared error to the reference."""
    e = np.asarray(estimate, np.float64).ravel()
    r = np.asarray(reference, np.float64).ravel()
    A = np.stack([e, np.ones_like(e)], 1)
    (a, b), *_ = np.linalg.lstsq(A, r, rcond=None)
    return (a * np.asarray(estimate, np.float64) + b).astype(np.float32)


def scores(estimate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    from fluorecon.qc.metrics import psnr, ssim

    ref = np.asarray(reference, np.float32)
    fit = affine_fit(estimate, ref)
    rng = float(ref.max() - ref.min())
    return {"psnr": round(psnr(fit, ref, data_range=rng), 3), "ssim": round(ssim(fit, ref, data_range=rng), 4)}


def qc_summary(report) -> dict:
    s = report.summary
    out = {"residual_std": round(s["residual_std"], 3), "residual_mean": round(s["residual_mean"], 3),
           "local_max_abs_z": round(s["local_max_abs"], 2),
           "flagged_percent": round(100 * s["local_flagged_fraction"], 3),
           "warnings": list(report.warnings)}
    if "ood" in s:
        out["ood_in_distribution"] = bool(s["ood"].get("in_distribution", not s["ood"].get("warnings")))
    consistency_warnings = [w for w in report.warnings if not w.startswith("Out of distribution")]
    out["consistency_verdict"] = "warn" if consistency_warnings else "pass"
    ood = [w for w in report.warnings if w.startswith("Out of distribution")]
    out["ood_verdict"] = ("unknown (card has no training statistics)" if any("no training statistics" in w for w in ood)
                          else "out of distribution" if ood else "in distribution" if "ood_in_distribution" in out else "n/a")
    out["verdict"] = "warn" if report.warnings else "pass"
    return out


def tta_disagreement(x: np.ndarray, model: Path, threads: int) -> tuple[np.ndarray, float]:
    """Spread of the 8 flip/rotation variants of one model's prediction (test-time augmentation),
    and its median over the noise std: texture the model invents differently per orientation."""
    from fluorecon.infer import predict
    from fluorecon.qc.noise_estimate import estimate_noise
    from fluorecon.qc.ood import ensemble_disagreement

    preds = []
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(x, k)
            v = v[:, ::-1] if flip else v
            out = predict(np.ascontiguousarray(v), model, threads=threads)
            out = out[:, ::-1] if flip else out
            preds.append(np.rot90(out, -k))
    preds = np.stack(preds)
    noise = estimate_noise(np.asarray(x, np.float32))
    std = float(np.sqrt(max(float(np.median(noise.variance(preds.mean(0)))), 1e-12)))
    return ensemble_disagreement(preds, noise_std=std)


def _gray(image, lo=None, hi=None):
    a = np.asarray(image, np.float32)
    if lo is None:
        lo, hi = np.percentile(a, [0.5, 99.8])
    return np.clip((a - lo) / max(hi - lo, 1e-9), 0, 1)


def strip(path: Path, panels: list[tuple[str, np.ndarray]], *, consistency: np.ndarray | None = None,
          title: str = "") -> str:
    """One PNG row: grey panels (each scaled to its own 0.5/99.8 percentiles) and, last, the local
    consistency score (blue: result above the data, red: below; ±6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels) + (consistency is not None)
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 2.35), dpi=90)
    axes = np.atleast_1d(axes)
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(_gray(img), cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=7)
    if consistency is not None:
        ax = axes[-1]
        ax.imshow(np.asarray(consistency, np.float32), cmap="RdBu_r", vmin=-6, vmax=6, interpolation="nearest")
        ax.set_title("consistency (local z, ±6)", fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=7, y=0.995)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.9 if title else 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path.relative_to(ROOT))


def read(path: Path) -> np.ndarray:
    import tifffile

    return tifffile.imread(path)


# --------------------------------------------------------------------------- classical denoisers

def gat_forward(x: np.ndarray, a: float, b: float) -> tuple[np.ndarray, float]:
    """Generalised Anscombe transform for var = a·mean + b (Mäkitalo & Foi 2013), after scaling to
    'photons' p = x/a (var p = mean p + b/a²): 2·sqrt(p + 3/8 + σ²), σ² = max(b/a², 0)."""
    s2 = max(b / (a * a), 0.0)
    p = np.asarray(x, np.float64) / a
    return (2.0 * np.sqrt(np.maximum(p + 0.375 + s2, 0.0))).astype(np.float32), s2


def gat_inverse(d: np.ndarray, a: float, s2: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Mäkitalo & Foi 2011/2013)."""
    d = np.maximum(np.asarray(d, np.float64), 0.8)
    r = np.sqrt(1.5)
    p = 0.25 * d ** 2 + 0.25 * r / d - 1.375 / d ** 2 + 0.625 * r / d ** 3 - 0.125 - s2
    return (a * np.maximum(p, 0.0)).astype(np.float32)


def vst_denoise(x: np.ndarray, method: str) -> tuple[np.ndarray, dict]:
    """VST + BM3D / NLM with the Poisson–Gaussian model estimated from the image itself."""
    from fluorecon.qc.noise_estimate import estimate_noise

    noise = estimate_noise(np.asarray(x, np.float32))
    a = max(float(noise.a), 1e-3)
    d, s2 = gat_forward(x, a, float(noise.b))
    if method == "bm3d":
        import bm3d

        out = np.asarray(bm3d.bm3d(d, sigma_psd=1.0), np.float32)
    else:
        from skimage.restoration import denoise_nl_means

        out = denoise_nl_means(d, h=0.8, sigma=1.0, patch_size=5, patch_distance=6, fast_mode=True).astype(np.float32)
    return gat_inverse(out, a, s2), {"a": round(a, 4), "b": round(float(noise.b), 4)}


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(np.asarray(x, np.float32), sigma, mode="reflect")


SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


# --------------------------------------------------------------------------- tasks

def pairs_denoise() -> list[tuple[str, Path, Path]]:
    out = []
    for noisy in sorted((DATA / "denoise").glob("*_noisy.tif")):
        stem = noisy.name[: -len("_noisy.tif")]
        ref = [p for p in (DATA / "denoise").glob(stem + "_avg*.tif")][0]
        out.append((stem, noisy, ref))
    return out


def task_denoise(args) -> dict:
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict
    from fluorecon.qc.report import check_result

    model = MODELS / "care_denoise_2d.onnx"
    card = read_card(model)
    rows, gauss_table = [], {}
    data = [(stem, read(n).astype(np.float32), read(r).astype(np.float32), n) for stem, n, r in pairs_denoise()]
    for stem, x, ref, _ in data:
        gauss_table[stem] = {s: scores(gaussian(x, s), ref)["psnr"] for s in SIGMAS}
    for stem, x, ref, path in data:
        t0 = time.perf_counter()
        care = predict(x, model, task="denoise", threads=args.threads)
        t_care = time.perf_counter() - t0
        # σ by leave-one-file-out: the σ with the best mean PSNR over the OTHER files of the set.
        others = [k for k in gauss_table if k != stem]
        sigma = max(SIGMAS, key=lambda s: np.mean([gauss_table[k][s] for k in others]))
        g = gaussian(x, sigma)
        t0 = time.perf_counter()
        vb, nm = vst_denoise(x, "bm3d")
        t_bm3d = time.perf_counter() - t0
        vn, _ = vst_denoise(x, "nlm")
        from fluorecon.tasks.denoise.classical import denoise_classical
        plain_nlm = denoise_classical(x, method="nlm")
        res = {"input": scores(x, ref), "care": scores(care, ref), f"gaussian_sigma{sigma:g}_loo": scores(g, ref),
               "vst_bm3d": scores(vb, ref), "vst_nlm": scores(vn, ref), "nlm_plain_h0.8": scores(plain_nlm, ref)}
        qc_care = check_result(x, care, card=card)
        qc_bm3d = check_result(x, vb)
        _, tta = tta_disagreement(x, model, args.threads)
        best_classical = max(("vst_bm3d", "vst_nlm", f"gaussian_sigma{sigma:g}_loo"), key=lambda k: res[k]["psnr"])
        row = {"file": str(path.relative_to(ROOT)), "reference": "frame average (see sources.json)",
               "noise_model_estimated": nm, "scores_after_affine_fit": res,
               "learned": {"method": "care_denoise_2d", **res["care"], "seconds": round(t_care, 2)},
               "classical": {"method": best_classical, **res[best_classical], "seconds_vst_bm3d": round(t_bm3d, 2)},
               "learned_minus_classical_psnr": round(res["care"]["psnr"] - res[best_classical]["psnr"], 3),
               "qc_learned": {**qc_summary(qc_care), "tta_spread_over_noise_std": round(tta, 3)},
               "qc_classical_vst_bm3d": qc_summary(qc_bm3d),
               "source": source_of(path)}
        pic = strip(PICS / f"denoise_{stem}.png",
                    [("input (1 frame)", x), (f"classical: {best_classical}", res and (vb if best_classical == "vst_bm3d" else vn if best_classical == "vst_nlm" else g)),
                     ("learned: CARE 2D (shipped)", care), ("reference (average)", ref)],
                    consistency=qc_care.local, title=f"denoise {stem}: CARE {res['care']['psnr']:.1f} dB, "
                    f"{best_classical} {res[best_classical]['psnr']:.1f} dB")
        row["picture"] = pic
        rows.append(row)
        print(f"denoise {stem}: input {res['input']['psnr']:.2f} care {res['care']['psnr']:.2f} "
              f"gauss({sigma}) {res[f'gaussian_sigma{sigma:g}_loo']['psnr']:.2f} vst-bm3d {res['vst_bm3d']['psnr']:.2f} "
              f"vst-nlm {res['vst_nlm']['psnr']:.2f} | QC care: {rows[-1]['qc_learned']['verdict']}", flush=True)
    return summarize("denoise", rows, "W2S (10 fields) + FMD (1 field): real single frames vs frame averages",
                     learned="care_denoise_2d.onnx (trained on simulation only)",
                     classical="best of VST+BM3D, VST+NLM (generalised Anscombe, Poisson–Gaussian a, b estimated from "
                     "the image) and a Gaussian blur with σ chosen leave-one-file-out", extra={"gaussian_psnr_by_sigma": gauss_table})


def task_like(args) -> dict:
    """Train for my microscope (`fluorecon train denoise --like`): the simulation fitted to ONE real frame (fixed
    rule: the first W2S file by name; its optics are not recorded with these crops, so NA, wavelength and pixel
    size are stated by --like-na/--like-wavelength-nm/--like-pixel-size-nm, not measured), the shipped CARE model
    fine-tuned on it for a short budget, then shipped CARE, fitted CARE and VST+BM3D on EVERY file of the set, with
    the OOD verdict of each file against the shipped and the fitted card. VST+BM3D scores are taken from this
    bench's denoise entry when it is in the results file (same function, same files), else computed."""
    import tempfile

    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict
    from fluorecon.qc.ood import check_input
    from fluorecon.qc.report import check_result
    from fluorecon.tasks.denoise.like import LikeSettings, train_like

    shipped = MODELS / "care_denoise_2d.onnx"
    shipped_card = read_card(shipped)
    data = [(stem, n, read(n).astype(np.float32), read(r).astype(np.float32)) for stem, n, r in pairs_denoise()]
    fit_stem, fit_path, fit_x, _ = next(d for d in data if d[0].startswith("w2s_"))
    previous = json.loads(args.out.read_text()).get("tasks", {}).get("denoise", {}) if args.out.is_file() else {}
    bm3d_scores = {r["file"]: r["scores_after_affine_fit"]["vst_bm3d"] for r in previous.get("files", [])}
    settings = LikeSettings(na=args.like_na, wavelength_nm=args.like_wavelength_nm, pixel_size_nm=args.like_pixel_size_nm,
                            steps=args.like_steps, batch_size=8, device="cpu", seed=0)
    rows = []

    def ood(x, card) -> dict:
        r = check_input(x, card.qc, norm=card.norm)
        return {"in_distribution": r.in_distribution, "distance": round(r.scores.get("distance", float("nan")), 2),
                "threshold": round(r.scores.get("threshold", float("nan")), 2),
                "groups": [w.split(" differs")[0] for w in r.warnings]}

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        card, onnx, fit = train_like(fit_x, Path(tmp) / "like.onnx", settings, image_name=fit_path.name, progress=False)
        t_train = time.perf_counter() - t0
        for stem, n, x, ref in data:
            care = predict(x, shipped, task="denoise", threads=args.threads)
            fitted = predict(x, onnx, task="denoise", threads=args.threads)
            rel = str(n.relative_to(ROOT))
            bm = bm3d_scores.get(rel) or scores(vst_denoise(x, "bm3d")[0], ref)
            res_s, res_f = scores(care, ref), scores(fitted, ref)
            qc = check_result(x, fitted, card=card)
            rows.append({"file": rel, "fitted_to_this_file": stem == fit_stem,
                         "learned": {"method": "CARE fitted to " + fit_path.name, **res_f},
                         "shipped_care": res_s, "classical": {"method": "vst_bm3d", **bm},
                         "learned_minus_classical_psnr": round(res_f["psnr"] - bm["psnr"], 3),
                         "fitted_minus_shipped_psnr": round(res_f["psnr"] - res_s["psnr"], 3),
                         "ood_shipped": ood(x, shipped_card), "ood_fitted": ood(x, card),
                         "qc_learned": qc_summary(qc), "source": source_of(n),
                         "picture": strip(PICS / f"like_{stem}.png", [("input (1 frame)", x), ("shipped CARE", care),
                                          (f"CARE fitted to {fit_stem}", fitted), ("reference (average)", ref)],
                                          consistency=qc.local, title=f"like {stem}: fitted {res_f['psnr']:.1f} dB, "
                                          f"shipped {res_s['psnr']:.1f} dB, VST+BM3D {bm['psnr']:.1f} dB")})
            print(f"like {stem}: fitted {res_f['psnr']:.2f} shipped {res_s['psnr']:.2f} vst-bm3d {bm['psnr']:.2f} | OOD "
                  f"{rows[-1]['ood_shipped']['distance']} -> {rows[-1]['ood_fitted']['distance']}", flush=True)
    out = summarize("like", rows, "same files as denoise; the simulation fitted to " + fit_path.name,
                    learned=f"shipped CARE fine-tuned on a simulation {fit.provenance()} ({args.like_steps} steps × 8 "
                            f"patches, CPU, {t_train:.0f} s including the fit and the card's QC statistics)",
                    classical="VST+BM3D (noise model estimated from the image)")
    out["mean_psnr"]["shipped_care"] = round(float(np.mean([r["shipped_care"]["psnr"] for r in rows])), 3)
    out["mean_ssim"] = {k: round(float(np.mean([r[f]["ssim"] for r in rows])), 4)
                        for k, f in (("fitted", "learned"), ("shipped_care", "shipped_care"), ("classical", "classical"))}
    out["files_where_fitted_beats_shipped"] = int(sum(r["fitted_minus_shipped_psnr"] > 0 for r in rows))
    out["ood_in_distribution"] = {"shipped": int(sum(r["ood_shipped"]["in_distribution"] for r in rows)),
                                  "fitted": int(sum(r["ood_fitted"]["in_distribution"] for r in rows)), "files": len(rows)}
    out["fit"] = fit.train_info()
    out["validation_on_fitted_simulation"] = {k: v for k, v in card.metrics.items() if k.startswith("val_")}
    return out


def summarize(task: str, rows: list[dict], data: str, *, learned: str, classical: str, extra: dict | None = None) -> dict:
    out = {"data": data, "learned_method": learned, "classical_method": classical, "files": rows}
    lm = [r["learned"].get("psnr") for r in rows if r.get("learned", {}).get("psnr") is not None]
    cm = [r["classical"].get("psnr") for r in rows if r.get("classical", {}).get("psnr") is not None]
    if lm and cm:
        out["mean_psnr"] = {"learned": round(float(np.mean(lm)), 3), "classical": round(float(np.mean(cm)), 3)}
        out["files_where_learned_wins"] = int(sum(a > b for a, b in zip(lm, cm)))
    verdicts = [r.get("qc_learned", {}).get("verdict") for r in rows]
    out["qc_learned_verdicts"] = {v: verdicts.count(v) for v in set(verdicts) if v}
    if extra:
        out.update(extra)
    return out


def fit_like(task: str, image: np.ndarray, name: str, args, tmp: Path, *, na: float, pixel_size_nm: float):
    """`fluorecon train <task> --like` on one real frame (fixed rule: the first W2S file by name): the shipped model
    fine-tuned for --like-steps on the simulation fitted to it. Returns (card, onnx, fit, seconds)."""
    from fluorecon.like_tasks import train_like_for
    from fluorecon.train_like import LikeSettings

    settings = LikeSettings(na=na, wavelength_nm=args.like_wavelength_nm, pixel_size_nm=pixel_size_nm,
                            steps=args.like_steps, batch_size=8, device="cpu", seed=0)
    t0 = time.perf_counter()
    card, onnx, fit = train_like_for(task, image, tmp / f"like_{task}.onnx", settings, image_name=name, progress=False)
    return card, onnx, fit, round(time.perf_counter() - t0, 1)


def ood_of(x: np.ndarray, card) -> dict:
    from fluorecon.qc.ood import check_input

    r = check_input(x, card.qc, norm=card.norm)
    return {"in_distribution": r.in_distribution, "distance": round(r.scores.get("distance", float("nan")), 2),
            "threshold": round(r.scores.get("threshold", float("nan")), 2)}


def task_n2v(args) -> dict:
    """Noise2Void trained once on the set's own noisy frames (no clean data; the way forward the OOD
    warning offers), then applied to every file. One model for the set: per-image training costs
    ~15 min per file on this shared 2-core machine."""
    import tempfile

    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict
    from fluorecon.qc.report import check_result
    from fluorecon.tasks.denoise.spec import DenoiseConfig
    from fluorecon.tasks.denoise.selfsupervised import train_selfsupervised
    from fluorecon.train import TrainConfig

    data = [(stem, n, read(n).astype(np.float32), read(r).astype(np.float32)) for stem, n, r in pairs_denoise()]
    cfg = DenoiseConfig(method="n2v", name="N2V on the real-data set",
                        train=TrainConfig(steps=args.n2v_steps, batch_size=args.n2v_batch, patch_size=(64, 64), device="cpu", seed=0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, onnx = train_selfsupervised(cfg, Path(tmp) / "n2v.onnx", data=[x for _, _, x, _ in data], progress=False)
        t_train = time.perf_counter() - t0
        card = read_card(onnx)
        for stem, n, x, ref in data:
            out = predict(x, onnx, task="denoise", threads=args.threads)
            vb, _ = vst_denoise(x, "bm3d")
            qc = check_result(x, out, card=card)
            res_l, res_c = scores(out, ref), scores(vb, ref)
            rows.append({"file": str(n.relative_to(ROOT)),
                         "learned": {"method": f"n2v trained on the 11 noisy frames, {args.n2v_steps} steps", **res_l},
                         "classical": {"method": "vst_bm3d", **res_c},
                         "learned_minus_classical_psnr": round(res_l["psnr"] - res_c["psnr"], 3),
                         "qc_learned": qc_summary(qc), "source": source_of(n),
                         "picture": strip(PICS / f"n2v_{stem}.png", [("input (1 frame)", x), ("classical: VST+BM3D", vb),
                                          ("learned: N2V on these frames", out), ("reference (average)", ref)],
                                          consistency=qc.local, title=f"N2V {stem}: {res_l['psnr']:.1f} dB, VST+BM3D {res_c['psnr']:.1f} dB")})
            print(f"n2v {stem}: n2v {res_l['psnr']:.2f} vst-bm3d {res_c['psnr']:.2f}", flush=True)
    return summarize("n2v", rows, "same files as denoise",
                     learned=f"Noise2Void trained on the set's 11 noisy frames ({args.n2v_steps} steps × {args.n2v_batch} patches of 64², "
                             f"CPU, {t_train:.0f} s on a shared 2-core machine)",
                     classical="VST+BM3D (noise model estimated from the image)")


def bin2(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, np.float32)
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))


def lateral_fwhm_um(plane: np.ndarray, pixel_um: float) -> float:
    """Full width at half maximum of the brightest spot of `plane` (above its median), mean of the x and y profiles
    through the brightest pixel, half-maximum crossings interpolated linearly."""
    y0, x0 = np.unravel_index(np.argmax(plane), plane.shape)
    widths = []
    for prof in (plane[y0, :], plane[:, x0]):
        prof = prof.astype(np.float64) - np.median(plane)
        half, c = prof.max() / 2, int(np.argmax(prof))
        left, right = c, c
        while left > 0 and prof[left - 1] > half:
            left -= 1
        while right < len(prof) - 1 and prof[right + 1] > half:
            right += 1
        lo = left - 1 + (half - prof[left - 1]) / (prof[left] - prof[left - 1]) if left > 0 else left
        hi = right + (prof[right] - half) / (prof[right] - prof[right + 1]) if right < len(prof) - 1 else right
        widths.append((hi - lo) * pixel_um)
    return round(float(np.mean(widths)), 4)


def task_like_bead(args) -> dict:
    """`fluorecon train deconvolve --like` on a real light-sheet bead stack (the measured lattice light-sheet bead of
    data/realdata/isotropic, 61 planes of 64², 0.1 µm pixels from its calibration): the camera estimated from every
    plane (one 64² plane of a bead shows no shot noise: refused), the structure and light level from the brightest
    plane; NA and wavelength are not recorded with the file and are stated (--bead-na, water immersion,
    --like-wavelength-nm). Then, on every plane: the fitted model, the shipped one and Richardson–Lucy with the
    stated PSF, each judged by data consistency with that PSF and the camera noise fitted to the stack (no ground
    truth; one plane's own noise estimate would be the Gaussian fallback), the lateral FWHM of the bead in
    the brightest plane, and the OOD verdict of that plane against the shipped and the fitted card."""
    import tempfile

    from fluorecon.core.io import TiffMeta
    from fluorecon.core.modelcard import read_card
    from fluorecon.imaging.forward import Blur
    from fluorecon.infer import predict
    from fluorecon.like_tasks import train_like_for
    from fluorecon.qc.noise_estimate import estimate_noise_spread
    from fluorecon.qc.report import check_result
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams, build_psf, deconvolve_image
    from fluorecon.train_like import LikeSettings, fit_plane

    from fluorecon.core.io import read_tiff

    path = DATA / "isotropic" / "lls_bead_psf.tif"
    stack, stack_meta = read_tiff(path)
    stack = stack.astype(np.float32)
    pixel_um = stack_meta.pixel_size_um
    shipped = MODELS / "care_deconvolve_2d.onnx"
    shipped_card = read_card(shipped)
    focus, z = fit_plane(stack)
    one_plane = estimate_noise_spread(focus)
    try:
        train_like_for("deconvolve", focus, Path("/nonexistent.onnx"), LikeSettings(na=args.bead_na,
                       wavelength_nm=args.like_wavelength_nm, pixel_size_nm=100.0, steps=1), progress=False)
        refused = None
    except ValueError as err:
        refused = str(err)
    settings = LikeSettings(na=args.bead_na, wavelength_nm=args.like_wavelength_nm, ni=1.33, steps=args.like_steps,
                            batch_size=8, device="cpu", seed=0)  # pixel size from the file's calibration
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        card, onnx, fit = train_like_for("deconvolve", stack, Path(tmp) / "bead.onnx", settings, meta=stack_meta,
                                         image_name=path.name, progress=False)
        t_fit = round(time.perf_counter() - t0, 1)
        psf_cfg = json.loads(card.train["psf"])
        params = PSFParams(na=psf_cfg["na"], wavelength_nm=psf_cfg["wavelength_nm"], ni=psf_cfg["ni"], ns=psf_cfg["ns"],
                           pixel_size_nm=psf_cfg["pixel_size_nm"])
        meta = TiffMeta(axes="YX", pixel_size_um=pixel_um)
        spec = DeconvolveSpec(method="rl", num_iter=args.rl_iter, psf=params)
        physics = Blur(np.asarray(build_psf(focus.shape, meta, spec), np.float32), image_shape=focus.shape)
        planes = {"fitted": [], "shipped": [], "classical": []}
        for i, x in enumerate(stack):
            outs = {"fitted": predict(x, onnx, task="deconvolve", threads=args.threads),
                    "shipped": predict(x, shipped, task="deconvolve", threads=args.threads),
                    "classical": deconvolve_image(x, meta, spec)[0]}
            for k, out in outs.items():
                planes[k].append(qc_summary(check_result(x, out, physics=physics, noise=fit.camera.noise)))
            if i == z:
                focus_out = outs
    cards = {"fitted": card, "shipped": shipped_card, "classical": None}
    qc_focus = {k: check_result(focus, focus_out[k], card=cards[k], physics=physics, noise=fit.camera.noise)
                for k in focus_out}
    row = {"file": str(path.relative_to(ROOT)), "plane_fitted_to": z, "planes": len(stack),
           "lateral_fwhm_um_brightest_plane": {"input": lateral_fwhm_um(focus, pixel_um),
                                               **{k: lateral_fwhm_um(v, pixel_um) for k, v in focus_out.items()}},
           "qc_brightest_plane": {k: qc_summary(q) for k, q in qc_focus.items()},
           "qc_every_plane": {k: {"mean_residual_std": round(float(np.mean([q["residual_std"] for q in v])), 3),
                                  "mean_flagged_percent": round(float(np.mean([q["flagged_percent"] for q in v])), 3),
                                  "verdicts": {w: sum(q["verdict"] == w for q in v) for w in sorted({q["verdict"] for q in v})}}
                              for k, v in planes.items()},
           "ood_brightest_plane": {"shipped": ood_of(focus, shipped_card), "fitted": ood_of(focus, card)},
           "source": source_of(path),
           "picture": strip(PICS / "like_bead_deconvolve.png",
                            [("input (brightest plane)", focus), (f"classical: RL {args.rl_iter}", focus_out["classical"]),
                             ("shipped CARE deconv.", focus_out["shipped"]), ("CARE deconv. fitted to the bead", focus_out["fitted"])],
                            consistency=qc_focus["fitted"].local,
                            title=f"like: lattice light-sheet bead, plane {z}; consistency of the fitted model's result")}
    print(f"like bead: fwhm {row['lateral_fwhm_um_brightest_plane']} | flagged "
          f"{ {k: v['mean_flagged_percent'] for k, v in row['qc_every_plane'].items()} } | OOD "
          f"{row['ood_brightest_plane']['shipped']['distance']} -> {row['ood_brightest_plane']['fitted']['distance']}",
          flush=True)
    return {"data": f"{path.name}: a measured lattice light-sheet bead, {len(stack)} planes of 64², 0.1 µm pixels "
                    f"(calibration); NA {args.bead_na} (water) and {args.like_wavelength_nm:g} nm stated, not recorded",
            "learned_method": f"`train deconvolve --like {path.name}` ({args.like_steps} steps × 8 patches, CPU, {t_fit:.0f} s "
                              f"including the fit and the card's QC statistics): {fit.provenance()}",
            "classical_method": f"Richardson–Lucy ({args.rl_iter} it.) with the stated PSF",
            "one_plane_camera_fit": {"noise_a": round(one_plane.model.a, 4), "a_sd": round(one_plane.a_sd, 3),
                                     "blocks": one_plane.blocks, "refused": refused},
            "fit": fit.train_info(),
            "validation_on_fitted_simulation": {k: v for k, v in card.metrics.items() if k.startswith("val_")},
            "files": [row]}


def task_upsample(args) -> dict:
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict
    from fluorecon.tasks.upsample.learned import bicubic
    from fluorecon.tasks.upsample.learned import check_superres
    from fluorecon.imaging.sampling import degrade
    from fluorecon.tasks.upsample.learned import forward_model_from_card
    from fluorecon.tasks.upsample.learned import richardson_lucy_sr

    import tempfile

    model = MODELS / "care_upsample2x_2d.onnx"
    card = read_card(model)
    sigma_px = tuple(forward_model_from_card(card, 2).sigma_px)
    rows = []
    files = pairs_denoise()
    tmp_dir = tempfile.TemporaryDirectory()
    # Train for my microscope: fitted to the first W2S single frame binned 2×2 (its real camera noise; the degraded
    # averages are nearly noise-free, so a camera fit to them means nothing). Its input pixels are 2× the stated size.
    fit_stem, fit_noisy, _ = next(f for f in files if f[0].startswith("w2s_"))
    like_card, like_onnx, fit, t_fit = fit_like("upsample", bin2(read(fit_noisy).astype(np.float32)), fit_noisy.name,
                                                args, Path(tmp_dir.name), na=args.like_na,
                                                pixel_size_nm=2 * args.like_pixel_size_nm)
    for stem, n, r in files:
        high = read(r).astype(np.float32)
        res_all = {}
        for kind, low in (("card_blur_and_bin", degrade(high, factor=2, sigma_px=sigma_px)), ("bin_only", bin2(high)),
                          ("noisy_frame_binned", bin2(read(n).astype(np.float32)))):
            learned = predict(low, model, task="upsample", threads=args.threads)
            bc = bicubic(low, factor=2)
            rl = richardson_lucy_sr(low, factor=2, sigma_px=sigma_px, num_iter=10)
            fitted = predict(low, like_onnx, task="upsample", threads=args.threads)
            res = {"bicubic": scores(bc, high), "rl_tv_10": scores(rl, high), "care": scores(learned, high),
                   "care_fitted": scores(fitted, high)}
            res_all[kind] = res
            if kind == "noisy_frame_binned":
                noisy_panels = (low, bc, learned, fitted)
            if kind == "card_blur_and_bin":
                best = max(("bicubic", "rl_tv_10"), key=lambda k: res[k]["psnr"])
                qc = check_superres(low, learned, card=card)
                keep = (low, learned, bc if best == "bicubic" else rl, qc, best)
        low, learned, classical, qc, best = keep
        res = res_all["card_blur_and_bin"]
        rows.append({"file": str(r.relative_to(ROOT)),
                     "input": f"the average degraded by the card's forward model (Gaussian σ {sigma_px} fine px, then 2×2 mean); "
                              "also scored: plain 2×2 binning (bin_only)",
                     "learned": {"method": "care_upsample2x_2d", **res["care"]}, "classical": {"method": best, **res[best]},
                     "scores_after_affine_fit": res_all, "learned_minus_classical_psnr": round(res["care"]["psnr"] - res[best]["psnr"], 3),
                     "fitted": {"method": f"care_upsample2x_2d fitted to {fit_noisy.name} (binned 2×2)",
                                "fitted_to_this_file": stem == fit_stem,
                                **{k: {"psnr": v["care_fitted"]["psnr"], "ssim": v["care_fitted"]["ssim"],
                                       "minus_shipped_psnr": round(v["care_fitted"]["psnr"] - v["care"]["psnr"], 3),
                                       "minus_best_classical_psnr": round(v["care_fitted"]["psnr"] - max(v["bicubic"]["psnr"], v["rl_tv_10"]["psnr"]), 3)}
                                   for k, v in res_all.items()},
                                "ood_noisy_frame_binned": {"shipped": ood_of(noisy_panels[0], card),
                                                           "fitted": ood_of(noisy_panels[0], like_card)}},
                     "qc_learned": qc_summary(qc), "source": source_of(r),
                     **({} if not (stem == fit_stem or stem.startswith("fmd")) else {"picture_fitted": strip(PICS / f"upsample_fitted_{stem}.png",
                                             [("input: 1 noisy frame, 2×2 binned", np.kron(noisy_panels[0], np.ones((2, 2)))),
                                              ("bicubic", noisy_panels[1]), ("shipped CARE ×2", noisy_panels[2]),
                                              (f"CARE ×2 fitted to {fit_stem}", noisy_panels[3]), ("reference (the average)", high)],
                                             title=f"upsample {stem}, real noise: fitted {res_all['noisy_frame_binned']['care_fitted']['psnr']:.1f} dB, "
                                             f"shipped {res_all['noisy_frame_binned']['care']['psnr']:.1f} dB, bicubic "
                                             f"{res_all['noisy_frame_binned']['bicubic']['psnr']:.1f} dB")}),
                     "picture": strip(PICS / f"upsample_{stem}.png", [("input (blurred, 2×2 binned)", np.kron(low, np.ones((2, 2)))),
                                      (f"classical: {best}", classical), ("learned: CARE ×2", learned),
                                      ("reference (the average)", high)], consistency=np.kron(qc.local, np.ones((2, 2))),
                                      title=f"upsample {stem}: CARE {res['care']['psnr']:.1f} dB, {best} {res[best]['psnr']:.1f} dB")})
        print(f"upsample {stem}: " + " | ".join(f"{k}: bicubic {v['bicubic']['psnr']:.2f} rl {v['rl_tv_10']['psnr']:.2f} "
              f"care {v['care']['psnr']:.2f} fitted {v['care_fitted']['psnr']:.2f}" for k, v in res_all.items()), flush=True)
    tmp_dir.cleanup()
    out = summarize("upsample", rows, "W2S/FMD averages degraded ×2 (the card's blur + 2×2 mean) → the average itself "
                    "(real images, synthetic degradation); also plain 2×2 binning of the average and one real noisy frame "
                    "binned 2×2 (real camera noise) → the average",
                    learned="care_upsample2x_2d.onnx", classical="best of bicubic and RL-TV (10 it., the card's forward model)")
    out["fitted"] = {"method": f"`train upsample --like` on {fit_noisy.name} binned 2×2: {fit.provenance()} "
                               f"({args.like_steps} steps × 8 patches, CPU, {t_fit:.0f} s including the fit and QC statistics)",
                     "fit": fit.train_info(),
                     "validation_on_fitted_simulation": {k: v for k, v in like_card.metrics.items() if k.startswith("val_")},
                     "mean_psnr": {kind: {m: round(float(np.mean([r["scores_after_affine_fit"][kind][m]["psnr"] for r in rows])), 3)
                                          for m in ("bicubic", "rl_tv_10", "care", "care_fitted")}
                                   for kind in ("card_blur_and_bin", "bin_only", "noisy_frame_binned")},
                     "files_where_fitted_beats_shipped": {kind: int(sum(r["fitted"][kind]["minus_shipped_psnr"] > 0 for r in rows))
                                                          for kind in ("card_blur_and_bin", "bin_only", "noisy_frame_binned")},
                     "files": len(rows)}
    return out


def task_deconvolve(args) -> dict:
    """No ground truth: the result is judged by re-blurring it with the PSF (data consistency)."""
    from fluorecon.core.io import TiffMeta
    from fluorecon.core.modelcard import read_card
    from fluorecon.imaging.forward import Blur
    from fluorecon.infer import predict
    from fluorecon.qc.report import check_result
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec
    from fluorecon.tasks.deconvolve.classical import PSFParams
    from fluorecon.tasks.deconvolve.classical import build_psf
    from fluorecon.tasks.deconvolve.classical import deconvolve_image

    model = MODELS / "care_deconvolve_2d.onnx"
    card = read_card(model)
    psf_cfg = json.loads(card.train["psf"])
    params = PSFParams(na=psf_cfg["na"], wavelength_nm=psf_cfg["wavelength_nm"], ni=psf_cfg["ni"], ns=psf_cfg["ns"],
                       pixel_size_nm=psf_cfg["pixel_size_nm"])
    import tempfile

    meta = TiffMeta(axes="YX")
    rows = []
    files = pairs_denoise()
    tmp_dir = tempfile.TemporaryDirectory()
    # Train for my microscope: fitted to the first W2S single frame (real camera noise), optics as stated for the set.
    fit_stem, fit_noisy, _ = next(f for f in files if f[0].startswith("w2s_"))
    like_card, like_onnx, fit, t_fit = fit_like("deconvolve", read(fit_noisy).astype(np.float32), fit_noisy.name, args,
                                                Path(tmp_dir.name), na=args.like_na, pixel_size_nm=args.like_pixel_size_nm)
    like_psf = json.loads(like_card.train["psf"])
    like_params = PSFParams(na=like_psf["na"], wavelength_nm=like_psf["wavelength_nm"], ni=like_psf["ni"],
                            ns=like_psf["ns"], pixel_size_nm=like_psf["pixel_size_nm"])
    for stem, n, r in files:
        for label, path in (("average", r), ("single frame", n)):
            x = read(path).astype(np.float32)
            learned = predict(x, model, task="deconvolve", threads=args.threads)
            fitted = predict(x, like_onnx, task="deconvolve", threads=args.threads)
            fit_psf = build_psf(x.shape, meta, DeconvolveSpec(method="rl", num_iter=args.rl_iter, psf=like_params))
            qc_f = check_result(x, fitted, card=like_card, physics=Blur(np.asarray(fit_psf, np.float32), image_shape=x.shape))
            spec = DeconvolveSpec(method="rl", num_iter=args.rl_iter, psf=params)
            rl, _ = deconvolve_image(x, meta, spec)
            psf = build_psf(x.shape, meta, spec)

            physics = Blur(np.asarray(psf, np.float32), image_shape=x.shape)
            qc_l = check_result(x, learned, card=card, physics=physics)
            qc_c = check_result(x, rl, physics=physics)
            rows.append({"file": str(path.relative_to(ROOT)), "input_kind": label,
                         "learned": {"method": "care_deconvolve_2d"}, "classical": {"method": f"Richardson–Lucy {args.rl_iter} it., card PSF"},
                         "qc_learned": qc_summary(qc_l), "qc_classical": qc_summary(qc_c), "source": source_of(path),
                         "fitted": {"method": f"care_deconvolve_2d fitted to {fit_noisy.name}",
                                    "fitted_to_this_file": path == fit_noisy, "qc": qc_summary(qc_f),
                                    "ood_shipped": ood_of(x, card), "ood_fitted": ood_of(x, like_card)},
                         "picture": strip(PICS / f"deconvolve_{stem}_{'avg' if label == 'average' else 'frame'}.png",
                                          [(f"input ({label})", x), (f"classical: RL {args.rl_iter}", rl), ("learned: CARE deconv.", learned)],
                                          consistency=qc_l.local, title=f"deconvolve {stem} ({label}); consistency of the learned result")})
            if path == fit_noisy or (stem.startswith("fmd") and label == "single frame"):
                rows[-1]["picture_fitted"] = strip(
                    PICS / f"deconvolve_fitted_{stem}_{'avg' if label == 'average' else 'frame'}.png",
                    [(f"input ({label})", x), (f"classical: RL {args.rl_iter}", rl), ("shipped CARE deconv.", learned),
                     (f"CARE deconv. fitted to {fit_stem}", fitted)], consistency=qc_f.local,
                    title=f"deconvolve {stem} ({label}); consistency of the fitted model's result")
            print(f"deconvolve {stem} {label}: resid std learned {qc_l.summary['residual_std']:.2f} fitted "
                  f"{qc_f.summary['residual_std']:.2f} RL {qc_c.summary['residual_std']:.2f}", flush=True)
    tmp_dir.cleanup()
    out = summarize("deconvolve", rows, "W2S/FMD averages and single frames (no ground truth; pixel size not recorded, "
                    "the card's PSF — NA 1.2, 520 nm, 100 nm pixels — is assumed)",
                    learned="care_deconvolve_2d.onnx", classical=f"Richardson–Lucy ({args.rl_iter} it.) with the same PSF")
    out["fitted"] = {"method": f"`train deconvolve --like` on {fit_noisy.name}: {fit.provenance()} ({args.like_steps} "
                               f"steps × 8 patches, CPU, {t_fit:.0f} s including the fit and QC statistics)",
                     "fit": fit.train_info(),
                     "validation_on_fitted_simulation": {k: v for k, v in like_card.metrics.items() if k.startswith("val_")}}
    for kind in ("single frame", "average"):
        sel = [r for r in rows if r["input_kind"] == kind]
        out["fitted"][kind] = {
            "mean_residual_std": {k: round(float(np.mean([q(r)["residual_std"] for r in sel])), 3) for k, q in
                                  (("shipped", lambda r: r["qc_learned"]), ("fitted", lambda r: r["fitted"]["qc"]),
                                   ("classical", lambda r: r["qc_classical"]))},
            "mean_flagged_percent": {k: round(float(np.mean([q(r)["flagged_percent"] for r in sel])), 3) for k, q in
                                     (("shipped", lambda r: r["qc_learned"]), ("fitted", lambda r: r["fitted"]["qc"]),
                                      ("classical", lambda r: r["qc_classical"]))},
            "ood_in_distribution": {"shipped": int(sum(r["fitted"]["ood_shipped"]["in_distribution"] for r in sel)),
                                    "fitted": int(sum(r["fitted"]["ood_fitted"]["in_distribution"] for r in sel)),
                                    "files": len(sel)}}
    return out


def task_isotropic(args) -> dict:
    from fluorecon.core.io import TiffMeta
    from fluorecon.core.modelcard import read_card
    from fluorecon.tasks.isotropic.learned import restore_isotropic
    from fluorecon.tasks.isotropic.learned import stretch
    from fluorecon.tasks.upsample.learned import check_superres

    model = MODELS / "care_isotropic_2d.onnx"
    card = read_card(model)
    f = int(card.train["z_factor"])
    path = DATA / "isotropic" / "lls_bead_psf.tif"
    full = read(path).astype(np.float32)
    nz = (full.shape[0] // f) * f
    full = full[:nz]
    coarse = full.reshape(nz // f, f, *full.shape[1:]).mean(1)  # block mean along z = a z step 4× the pixel
    meta = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.1 * f)
    learned, _ = restore_isotropic(coarse, model, meta=meta, threads=args.threads)
    interp = stretch(coarse, f, axis=0)
    res = {"z_interpolation": scores(interp, full), "care": scores(learned, full)}

    def fwhm_x(stack):
        zc, yc, xc = np.unravel_index(np.argmax(full), full.shape)
        prof = stack[zc * stack.shape[0] // full.shape[0], yc, :] - np.median(stack)
        return float((prof > prof.max() / 2).sum() * 0.1)

    def fwhm_z(stack):
        zc, yc, xc = np.unravel_index(np.argmax(full), full.shape)
        prof = stack[:, yc, xc] - np.median(stack)
        half = prof.max() / 2
        return float((prof > half).sum() * 0.1)

    qc = check_superres(coarse, learned, card=card)
    yc = int(np.unravel_index(np.argmax(full), full.shape)[1])
    row = {"file": str(path.relative_to(ROOT)), "input": f"the measured 3D bead, z block-averaged ×{f} (0.4 µm steps); reference: the 0.1 µm stack",
           "learned": {"method": "care_isotropic_2d", **res["care"], "axial_fwhm_um": fwhm_z(learned)},
           "classical": {"method": "linear z interpolation", **res["z_interpolation"], "axial_fwhm_um": fwhm_z(interp)},
           "reference_axial_fwhm_um": fwhm_z(full), "reference_lateral_fwhm_um": fwhm_x(full), "learned_minus_classical_psnr": round(res["care"]["psnr"] - res["z_interpolation"]["psnr"], 3),
           "qc_learned": qc_summary(qc), "source": source_of(path),
           "picture": strip(PICS / "isotropic_lls_bead.png", [("input XZ (z ×4 coarser)", np.repeat(coarse[:, yc], f, 0)),
                            ("classical: z interpolation", interp[:, yc]), ("learned: CARE isotropic", learned[:, yc]),
                            ("reference XZ (0.1 µm)", full[:, yc])], consistency=np.repeat(qc.local[:, yc], f, 0),
                            title="isotropic: XZ slice through a measured lattice light-sheet bead")}
    print(f"isotropic: interp {res['z_interpolation']['psnr']:.2f} care {res['care']['psnr']:.2f}", flush=True)
    return summarize("isotropic", [row], "one measured lattice light-sheet bead PSF (pycudadecon test data)",
                     learned="care_isotropic_2d.onnx", classical="linear interpolation along z")


def task_localize(args) -> dict:
    from fluorecon.tasks.localize.learned import localize

    path = DATA / "localize" / "storm_scmos_sample.tif"
    frames = read(path).astype(np.float32)
    cal = np.load(DATA / "localize" / "storm_scmos_calib.npz")
    gain = float(np.median(cal["gain"]))
    read_e = float(np.sqrt(np.median(cal["variance"]))) / gain
    # Per-pixel offset removed here; the methods then see a uniform offset of 100 ADU.
    corrected = frames - cal["offset"][None] + 100.0
    common = dict(pixel_size_nm=160.0, camera_offset=100.0, camera_gain=gain, read_noise_e=read_e, em_gain=None)
    tables, secs = {}, {}
    for m in ("mle", "deepstorm", "decode"):
        t0 = time.perf_counter()
        tables[m] = localize(corrected, method=m, **common)
        secs[m] = time.perf_counter() - t0
    # An expert would also feed the networks their training pixel size: resample 160 → 100 nm
    # (linear, photons conserved per area), localise, and map the positions back.
    from scipy import ndimage

    z = 160.0 / 100.0
    zoomed = np.stack([ndimage.zoom(f - 100.0, z, order=1) / z ** 2 + 100.0 for f in corrected])
    for m in ("deepstorm", "decode"):
        t0 = time.perf_counter()
        tables[m + "_resampled100nm"] = localize(zoomed, method=m, **{**common, "pixel_size_nm": 100.0})
        secs[m + "_resampled100nm"] = time.perf_counter() - t0

    def matched(a, b, radius=160.0):
        from scipy.spatial import cKDTree

        hits = 0
        for fr in np.unique(a["frame"]):
            pa = np.stack([a["x_nm"][a["frame"] == fr], a["y_nm"][a["frame"] == fr]], 1)
            pb = np.stack([b["x_nm"][b["frame"] == fr], b["y_nm"][b["frame"] == fr]], 1)
            if len(pa) and len(pb):
                d, _ = cKDTree(pb).query(pa)
                hits += int((d < radius).sum())
        return hits

    nf = len(frames)
    per_frame = {m: [int((t["frame"] == i).sum()) for i in range(nf)] for m, t in tables.items()}
    rows = []
    for m in ("deepstorm", "decode", "deepstorm_resampled100nm", "decode_resampled100nm"):
        n_net, n_fit = len(tables[m]), len(tables["mle"])
        agree = matched(tables["mle"], tables[m])
        verdict = "warn" if (n_net > 2 * max(n_fit, 1) or agree < 0.5 * max(n_fit, 1)) else "pass"
        rows.append({"file": str(path.relative_to(ROOT)), "learned": {"method": m, "localizations": n_net,
                     "per_frame": per_frame[m], "seconds": round(secs[m], 2)},
                     "classical": {"method": "MLE Gaussian fit (σ 130 nm, threshold 5)", "localizations": n_fit,
                                   "per_frame": per_frame["mle"], "seconds": round(secs["mle"], 2)},
                     "fit_localizations_matched_by_network_within_160nm": agree,
                     "qc_learned": {"verdict": verdict, "warnings": [
                         f"pixel size 160 nm vs the card's {100} nm training pixels; sCMOS camera vs EMCCD training data"]
                         + ([f"{m} returns {n_net} localisations where the fit finds {n_fit}"] if verdict == "warn" else [])},
                     "source": source_of(path)})
    pic = _smlm_picture(corrected[0], {m: t[t["frame"] == 0] for m, t in tables.items()}, gain)
    for r in rows:
        if r["learned"]["method"].endswith("100nm"):
            r["learned"]["method"] += " (input resampled 160 → 100 nm, positions in the original frame)"
    for r in rows:
        r["picture"] = pic
    print("localize:", {m: len(t) for m, t in tables.items()}, flush=True)
    return summarize("localize", rows, "11 real sCMOS STORM frames, 160 nm pixels, per-pixel camera calibration (no ground truth)",
                     learned="deepstorm_2d.onnx and decode_2d.onnx", classical="MLE Gaussian fit (fluorecon localize --method mle)",
                     extra={"camera": {"gain_adu_per_e": round(gain, 3), "read_noise_e": round(read_e, 3),
                                       "offset": "per-pixel map from the calibration file"}})


def _smlm_picture(frame, tables, gain) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [("input frame 0", None), ("classical: MLE fit", "mle"), ("Deep-STORM", "deepstorm"), ("DECODE-style", "decode"),
             ("Deep-STORM, 100 nm resampled", "deepstorm_resampled100nm"), ("DECODE, 100 nm resampled", "decode_resampled100nm")]
    fig, axes = plt.subplots(1, 6, figsize=(12.6, 2.45), dpi=90)
    crop = (slice(64, 192), slice(64, 192))
    img = _gray(frame[crop])
    for ax, (title, key) in zip(axes, names):
        ax.imshow(img, cmap="gray", interpolation="nearest")
        if key:
            t = tables[key]
            x, y = t["x_nm"] / 160.0 - 0.5 - 64, t["y_nm"] / 160.0 - 0.5 - 64
            keep = (x > -0.5) & (x < 127.5) & (y > -0.5) & (y < 127.5)
            ax.scatter(x[keep], y[keep], s=6, facecolors="none", edgecolors="r", linewidths=0.6)
            title += f" ({int(keep.sum())})"
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("localize: real sCMOS STORM frame 0 (central 128² crop), localisations circled", fontsize=7, y=0.995)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.9))
    out = PICS / "localize_storm_frame0.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return str(out.relative_to(ROOT))


def task_register(args) -> dict:
    """Real image pairs of one field (single frame vs average) with a known applied shift."""
    from scipy import ndimage

    from fluorecon.tasks.register.classical import estimate_drift
    from fluorecon.tasks.register.learned import register_learned

    rng = np.random.default_rng(14)
    model = MODELS / "register_deform_2d.onnx"
    rows = []
    for stem, n, r in pairs_denoise():
        ref, frame = read(r).astype(np.float32), read(n).astype(np.float32)
        shift = rng.uniform(-2, 2, 2)
        moving = np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(frame), shift))).astype(np.float32)
        drift = estimate_drift(np.stack([ref, moving]))[1]
        field = register_learned(ref, moving, model)
        inner = (slice(16, -16), slice(16, -16))
        learned = np.array([np.median(field[0][inner]), np.median(field[1][inner])])
        # Sign conventions differ between the two; each is compared with ±shift and the better sign is
        # reported with its convention (a convention check, not tuning: the magnitude is what is scored).
        def err(v):
            return min(float(np.hypot(*(v - shift))), float(np.hypot(*(v + shift))))

        back = lambda img, v: np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(img), v))).astype(np.float32)  # noqa: E731
        sign_c = 1.0 if np.hypot(*(drift[:2] + shift)) < np.hypot(*(drift[:2] - shift)) else -1.0
        sign_l = 1.0 if np.hypot(*(learned + shift)) < np.hypot(*(learned - shift)) else -1.0
        fixed_c, fixed_l = back(moving, sign_c * np.asarray(drift[:2])), back(moving, sign_l * learned)
        picture = strip(PICS / f"register_{stem}.png", [("reference (average)", ref), (f"moving: frame shifted {shift.round(2)} px", moving),
                        ("classical: cross-correlation, undone", fixed_c), ("learned: deform net (median), undone", fixed_l),
                        ("|learned − classical| corrected", np.abs(fixed_l - fixed_c))],
                        title=f"register {stem}: error classical {err(np.asarray(drift[:2])):.2f} px, learned {err(learned):.2f} px")
        rows.append({"file": str(n.relative_to(ROOT)), "applied_shift_yx_px": [round(float(s), 3) for s in shift], "picture": picture,
                     "learned_minus_classical_error_px": round(err(learned) - err(np.asarray(drift[:2])), 3),
                     "learned": {"method": "register_deform_2d (median displacement)", "estimate_yx_px": [round(float(v), 3) for v in learned],
                                 "error_px": round(err(learned), 3)},
                     "classical": {"method": "estimate_drift (cross-correlation, sub-pixel)", "estimate_yx_px": [round(float(v), 3) for v in drift[:2]],
                                   "error_px": round(err(np.asarray(drift[:2])), 3)},
                     "qc_learned": {"verdict": "n/a", "warnings": []}, "source": source_of(n)})
        print(f"register {stem}: shift {shift.round(2)} drift err {rows[-1]['classical']['error_px']} learned err {rows[-1]['learned']['error_px']}", flush=True)
    out = summarize("register", rows, "W2S/FMD single frame shifted by a known sub-pixel translation, registered to the average of the same field",
                    learned="register_deform_2d.onnx", classical="fluorecon register (estimate_drift)")
    out["mean_error_px"] = {"learned": round(float(np.mean([r["learned"]["error_px"] for r in rows])), 3),
                            "classical": round(float(np.mean([r["classical"]["error_px"] for r in rows])), 3)}
    return out


def task_lightfield(args) -> dict:
    from fluorecon.core.modelcard import read_card
    from fluorecon.tasks.lightfield.calibration import calibrate

    model = MODELS / "lightfield_vcd.onnx"
    card = read_card(model)
    lf = read(DATA / "lightfield" / "Lightfield_GUVExperim1.tif").astype(np.float32)
    white = read(DATA / "lightfield" / "Radiometry_GUVExperim1.tif").astype(np.float32)
    dark = read(DATA / "lightfield" / "DarkFrame_GUVExperim1.tif").astype(np.float32)
    grid = calibrate(white - dark)
    card_nnum = card.train.get("nnum") or json.loads(card.train.get("optics", "{}")).get("nnum")
    row = {"file": "data/realdata/lightfield/Lightfield_GUVExperim1.tif",
           "calibration_from_radiometry": {k: (round(float(v), 3) if np.isscalar(v) else str(v)) for k, v in vars(grid).items()
                                           if k in ("pitch_px", "rotation_deg", "nnum")},
           "learned": {"method": "lightfield_vcd", "applied": False,
                       "reason": f"the model was trained for its card's optics (nnum {card_nnum}, 20×/0.5 NA, 100 µm lenslets f 2 mm); "
                                 "this light field has 60×/1.2 W optics and 100/6.5 = 15.4 camera pixels per lenslet. The raw "
                                 "image is refused by the shape check (not a whole number of 11-px lenslets); rectifying it to "
                                 "11 px per lenslet would let it run, but the network's learned inverse belongs to other optics "
                                 "and depth planes, so its output would not be a reconstruction of this sample"},
           "classical": {"method": "not run", "reason": "a wave-optics projector for 60×/1.2, f 2.5 mm lenslets is not built here"},
           "qc_learned": {"verdict": "refused", "warnings": ["optics differ from the model card"]},
           "source": source_of(DATA / "lightfield" / "Lightfield_GUVExperim1.tif")}
    row["picture"] = strip(PICS / "lightfield_guv.png", [("raw light field (GUV)", lf - dark), ("radiometry (white) frame", white - dark)],
                           title="light field: real data with its optics; the shipped VCD model does not apply")
    return summarize("lightfield", [row], "napari-LF GUVExperim1 (raw light field + radiometry + dark frame, optics in metadata)",
                     learned="lightfield_vcd.onnx", classical="Richardson–Lucy on the wave-optics projector (not run, see reason)")


NO_DATA = {
    "sim": "no raw SIM frames under 4 MiB reachable (fairSIM test-datasets are release assets; ML-SIM Test_data, OpenSIM "
           "sim01z4.tif and Soubies' Acqdata.tif are ≥ 4 MiB)",
    "unmix": "no real spectral (lambda) stack found in a reachable repository or package",
    "crossmodal": "no real widefield/confocal pair of one field found",
    "denoise_3d": "no real noisy/clean 3D stack pair found",
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(ALL_TASKS))
    p.add_argument("--n2v-steps", type=int, default=200)
    p.add_argument("--n2v-batch", type=int, default=8)
    p.add_argument("--like-steps", type=int, default=60, help="fine-tuning steps of the `like` entry")
    p.add_argument("--like-na", type=float, default=1.2, help="`like`: NA stated for the W2S crops (not recorded with them)")
    p.add_argument("--like-wavelength-nm", type=float, default=520.0, help="`like`: emission wavelength stated, nm")
    p.add_argument("--like-pixel-size-nm", type=float, default=100.0, help="`like`: pixel size stated, nm")
    p.add_argument("--bead-na", type=float, default=1.1, help="`like_bead`: detection NA stated for the lattice "
                   "light-sheet bead (water; not recorded with the file)")
    p.add_argument("--rl-iter", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--all-pictures", action="store_true", help="keep a strip for every file (default: per task the "
                   "files where the learned method does worst and best against the classical one)")
    p.add_argument("--out", type=Path, default=RESULTS / "realdata.json")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    wanted = [t for t in args.tasks.split(",") if t]
    unknown = set(wanted) - set(ALL_TASKS)
    if unknown:
        p.error(f"unknown task(s) {sorted(unknown)}; choose from {', '.join(ALL_TASKS)}")
    previous = json.loads(args.out.read_text()).get("tasks", {}) if args.out.is_file() else {}
    tasks = dict(previous)
    for t in wanted:
        t0 = time.perf_counter()
        result = globals()[f"task_{t}"](args)
        result["wall_seconds"] = round(time.perf_counter() - t0, 1)
        if t in NESTED:
            entry, key = NESTED[t]
            tasks.setdefault(entry, {})[key] = result
        else:
            tasks[t] = result
    for key, why in NO_DATA.items():
        tasks[key] = {"data": None, "reason": why}
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, {args.threads} threads",
           "note": "every file of each set is reported; scores after a least-squares affine map onto the reference",
           "tasks": tasks}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    if not args.all_pictures:
        keep_pictures(doc)
    args.out.with_suffix(".md").write_text(markdown(doc))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def keep_pictures(doc: dict) -> None:
    """Keep, per task, the strips of the file where the learned result is furthest behind the
    classical one and of the file where it does best (by PSNR difference; for deconvolution by the
    learned result's flagged share, single frames and averages apart); drop the other strips from
    docs/realdata/ and reduce the kept ones to a 64-colour palette. The scores of every file stay in
    the JSON; only pictures are selected, by this fixed rule."""
    from PIL import Image

    keep = set()
    for key, t in doc["tasks"].items():
        rows = t.get("files") or []
        if not rows:
            continue
        if all("learned_minus_classical_psnr" in r for r in rows):
            ranked = sorted(rows, key=lambda r: r["learned_minus_classical_psnr"])
            chosen = [ranked[0], ranked[-1]]
        elif key == "register":
            ranked = sorted(rows, key=lambda r: r["learned_minus_classical_error_px"])
            chosen = [ranked[0], ranked[-1]]
        elif key == "deconvolve":
            chosen = [max((r for r in rows if r["input_kind"] == k), key=lambda r: r["qc_learned"]["flagged_percent"])
                      for k in ("single frame", "average")]
        else:
            chosen = rows
        for r in chosen:
            if r.get("picture"):
                keep.add(r["picture"])
        keep |= {r["picture_fitted"] for r in rows if r.get("picture_fitted")}  # the fitted-model strips (few by rule)
        for r in rows:
            if r.get("picture") and r["picture"] not in keep:
                r["picture_dropped"] = r.pop("picture")
    dropped = {r["picture_dropped"] for t in doc["tasks"].values() for r in t.get("files") or [] if "picture_dropped" in r}
    for png in PICS.glob("*.png"):
        rel = str(png.relative_to(ROOT))
        if rel in dropped - keep:
            png.unlink()
        elif rel in keep and Image.open(png).mode != "P":
            Image.open(png).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)


def _fig(d: dict) -> str:
    if "psnr" in d:
        return f"{d['psnr']:.2f} dB / {d['ssim']:.3f}"
    if "localizations" in d:
        return f"{d['localizations']} locs"
    if "error_px" in d:
        return f"{d['error_px']:.3f} px error"
    return d.get("reason", "")[:60] or "—"


def markdown(doc: dict) -> str:
    """bench/results/realdata.md: one table per task, one row per file (generated from the JSON)."""
    lines = ["# Real-data bench (`bench/realdata.py`)", "",
             "Shipped learned models vs the strongest classical method and the QC verdict, on public real data "
             "(`data/realdata/SOURCES.md`). Every file of each set; scores after a least-squares affine map onto "
             "the reference. Pictures and discussion: `docs/realdata.md`.", "", f"Machine: {doc['machine']}.", ""]
    for key, t in doc["tasks"].items():
        lines.append(f"## {key}")
        lines.append("")
        if not t.get("data"):
            lines += [f"No public real data here: {t.get('reason', '')}", ""]
            continue
        lines += [f"Data: {t['data']}. Learned: {t['learned_method']}. Classical: {t['classical_method']}.", ""]
        if "mean_psnr" in t:
            lines += [f"Mean PSNR learned {t['mean_psnr']['learned']:.2f} dB vs classical {t['mean_psnr']['classical']:.2f} dB; "
                      f"learned better on {t['files_where_learned_wins']} of {len(t['files'])} files.", ""]
        if "mean_error_px" in t:
            lines += [f"Mean error learned {t['mean_error_px']['learned']} px vs classical {t['mean_error_px']['classical']} px.", ""]
        lines += ["| file | learned | classical | QC of the learned result |", "|---|---|---|---|"]
        for r in t["files"]:
            qc = r.get("qc_learned", {})
            extra = ""
            if "residual_std" in qc:
                extra = f" (resid. std {qc['residual_std']}, max local z {qc['local_max_abs_z']}, {qc['flagged_percent']}% flagged)"
            name = Path(r["file"]).name + (f" ({r['input_kind']})" if "input_kind" in r else "")
            learned, classical = r["learned"], r["classical"]
            if "qc_classical" in r:  # deconvolution: no reference, consistency only
                learned = {"reason": f"resid. std {qc.get('residual_std')}"}
                classical = {"reason": f"resid. std {r['qc_classical']['residual_std']}"}
            lines.append(f"| {name} | {learned['method'] if 'method' in learned and 'psnr' not in learned and 'localizations' not in learned and 'error_px' not in learned and 'reason' not in learned else _fig(learned)} "
                         f"| {_fig(classical)} ({r['classical'].get('method', '')}) | {qc.get('verdict', '')}{extra} |")
        lines.append("")
        if "deconvolve_bead" in t:
            lines += bead_lines(t["deconvolve_bead"])
    return "\n".join(lines) + "\n"


def bead_lines(b: dict) -> list[str]:
    """The `train deconvolve --like` bead rows of realdata.md."""
    r = b["files"][0]
    fwhm, every, focus = r["lateral_fwhm_um_brightest_plane"], r["qc_every_plane"], r["qc_brightest_plane"]
    ood = r["ood_brightest_plane"]
    lines = ["### like: deconvolution fitted to a light-sheet bead stack", "",
             f"Data: {b['data']}. Learned: {b['learned_method']}. Classical: {b['classical_method']}.", "",
             f"One plane alone: {b['one_plane_camera_fit']['refused'] or 'not refused'}", "",
             f"| method | lateral FWHM, plane {r['plane_fitted_to']} (µm) | QC there | mean resid. std, {r['planes']} planes | "
             "mean % flagged | verdicts |", "|---|---|---|---|---|---|",
             f"| input | {fwhm['input']} | — | — | — | — |"]
    for k, label in (("classical", "Richardson–Lucy"), ("shipped", "shipped CARE deconv."), ("fitted", "CARE fitted to the bead")):
        lines.append(f"| {label} | {fwhm[k]} | {focus[k]['verdict']} (consistency {focus[k]['consistency_verdict']}, "
                     f"OOD {focus[k]['ood_verdict']}) | {every[k]['mean_residual_std']} | {every[k]['mean_flagged_percent']} | "
                     + ", ".join(f"{v} {w}" for w, v in every[k]["verdicts"].items()) + " |")
    lines += ["", f"OOD of plane {r['plane_fitted_to']}: shipped card distance {ood['shipped']['distance']} (threshold "
                  f"{ood['shipped']['threshold']}), fitted card {ood['fitted']['distance']} (threshold {ood['fitted']['threshold']}).", ""]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
