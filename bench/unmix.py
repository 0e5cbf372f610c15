"""Benchmark: spectral unmixing accuracy and time against the peers users would pick.

fluorecon NNLS (exact, vectorised) vs SciPy's per-pixel ``nnls``; fluorecon blind NMF vs
scikit-learn ``NMF``; fluorecon phasors vs ``phasorpy.phasor.phasor_from_signal``; the learned
4-label model vs NNLS at low photon counts. Peers run in their own venvs (bench/venvs/<peer>,
created here on first use) on the same arrays, handed over as .npy files.

    python bench/unmix.py            # writes bench/results/unmix.json and unmix.md
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# Single-threaded BLAS for us and every peer: on a shared machine, spinning BLAS threads made
# small matrix products 10x slower and the timings meaningless.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / ".work" / "unmix"
RESULTS = BENCH / "results"
PEERS = {"scikit-learn": ["scikit-learn"], "phasorpy": ["phasorpy"]}

SKLEARN_WORKER = textwrap.dedent('''
    import json, sys, time, numpy as np
    from sklearn.decomposition import NMF
    v = np.load(sys.argv[1]); n = int(sys.argv[2])
    out = {}
    for solver in ("cd", "mu"):
        model = NMF(n_components=n, init="nndsvda", solver=solver, max_iter=1000, tol=1e-5, random_state=0)
        t = time.perf_counter(); h = model.fit_transform(v.T); w = model.components_.T; dt = time.perf_counter() - t
        np.save(sys.argv[3] + f"_{solver}_w.npy", w); np.save(sys.argv[3] + f"_{solver}_h.npy", h.T)
        out[solver] = {"seconds": dt, "iterations": int(model.n_iter_)}
    import sklearn; out["version"] = sklearn.__version__
    print(json.dumps(out))
''')

PHASORPY_WORKER = textwrap.dedent('''
    import json, sys, time, numpy as np
    from phasorpy.phasor import phasor_from_signal
    y = np.load(sys.argv[1])
    best = 1e9
    for _ in range(5):
        t = time.perf_counter(); mean, g, s = phasor_from_signal(y, axis=0, harmonic=1); best = min(best, time.perf_counter() - t)
    np.save(sys.argv[2] + "_g.npy", np.asarray(g)); np.save(sys.argv[2] + "_s.npy", np.asarray(s))
    import phasorpy; print(json.dumps({"seconds": best, "version": phasorpy.__version__}))
''')


def peer_python(name: str) -> Path:
    """The peer's own venv (bench/venvs/<name>), created and filled on first use."""
    venv = BENCH / "venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]], check=True)
    return python


def run_peer(name: str, script: str, *args: str) -> dict:
    path = WORK / f"{name}_worker.py"
    path.write_text(script)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([str(peer_python(name)), str(path), *args], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} worker failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_time(fn, repeats: int = 3):
    best, result = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def match_spectra(reference: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    n = reference.shape[1]
    corr = np.corrcoef(np.hstack([reference, found]).T)[:n, n:]
    rows, cols = linear_sum_assignment(-corr)
    return cols, corr[rows, cols]


def main() -> int:
    from scipy.optimize import nnls

    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.unmix.physics import Detector, SpectralMixing, mixing_matrix, simulate_labels, simulate_spectral
    from fluorecon.tasks.unmix import classical as U

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    labels = ["DAPI", "EGFP", "tdTomato", "Alexa647"]
    detector = Detector.lambda_stack(start_nm=420, stop_nm=720, channels=16)
    m = mixing_matrix(labels, detector)
    shape = (256, 256)
    truth = simulate_labels(shape, 4, seed=2024)
    physics = SpectralMixing(m, image_shape=shape, device="cpu")
    report: dict = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                                "note": "shared 2-core machine, other jobs running; single-threaded BLAS for all"},
                    "data": {"labels": labels, "channels": 16, "shape": list(shape), "photons_high": 1000,
                             "photons_low": 20}}

    # --- NNLS: fluorecon (all pixels at once) vs SciPy per pixel --------------------------------
    y = simulate_spectral(truth, physics, camera=CameraNoise(photons=1000, offset=100), seed=1)
    t_ours, x = best_time(lambda: U.unmix_nnls(y, m, offset=100))
    flat = (y.reshape(16, -1) - 100).astype(np.float64)
    sample = flat[:, :: 16]  # SciPy's loop on every 16th pixel, extrapolated to the image
    t0 = time.perf_counter()
    ref = np.stack([nnls(m.astype(np.float64), col)[0] for col in sample.T], axis=1)
    t_scipy = (time.perf_counter() - t0) * 16
    report["nnls"] = {
        "fluorecon": {"seconds": t_ours, "error": U.abundance_error(x, truth * 1000)},
        "scipy_per_pixel": {"seconds_extrapolated": t_scipy},
        "max_abs_diff_vs_scipy": float(np.abs(x.reshape(4, -1)[:, ::16] - ref).max()),
    }

    # --- blind NMF: fluorecon vs scikit-learn ---------------------------------------------------
    v = np.clip(flat, 0, None).astype(np.float32)
    np.save(WORK / "v.npy", v)
    t_nmf, (h, w) = best_time(lambda: U.unmix_nmf(y, 4, offset=100, num_iter=1000), repeats=1)
    order, corr = match_spectra(m / m.sum(0), w)
    nmf = {"fluorecon": {"seconds": t_nmf, "spectral_correlation_min": float(corr.min()),
                         "abundance_error": U.abundance_error(h[order] * 1, truth * 1000)}}
    try:
        peer = run_peer("scikit-learn", SKLEARN_WORKER, str(WORK / "v.npy"), "4", str(WORK / "sk"))
        for solver in ("cd", "mu"):
            ws, hs = np.load(WORK / f"sk_{solver}_w.npy"), np.load(WORK / f"sk_{solver}_h.npy")
            norms = ws.sum(0)
            ws, hs = ws / norms, hs * norms[:, None]
            order, corr = match_spectra(m / m.sum(0), ws)
            nmf[f"sklearn_{solver}"] = {"seconds": peer[solver]["seconds"], "iterations": peer[solver]["iterations"],
                                        "spectral_correlation_min": float(corr.min()),
                                        "abundance_error": U.abundance_error(hs[order].reshape(truth.shape), truth * 1000)}
        nmf["sklearn_version"] = peer["version"]
    except Exception as err:  # a peer that cannot be installed is reported, not fatal
        nmf["sklearn_error"] = str(err)[:500]
    report["nmf"] = nmf

    # --- phasors: fluorecon vs phasorpy ---------------------------------------------------------
    signal = np.clip(y - 100, 0, None).astype(np.float64)
    np.save(WORK / "signal.npy", signal)
    t_ph, (g, s, _) = best_time(lambda: U.phasor(signal), repeats=5)
    phasor = {"fluorecon": {"seconds": t_ph}}
    try:
        peer = run_peer("phasorpy", PHASORPY_WORKER, str(WORK / "signal.npy"), str(WORK / "ph"))
        gp, sp = np.load(WORK / "ph_g.npy"), np.load(WORK / "ph_s.npy")
        ok = np.isfinite(g) & np.isfinite(gp)
        phasor.update({"phasorpy": {"seconds": peer["seconds"], "version": peer["version"]},
                       "max_abs_diff_g": float(np.abs(g[ok] - gp[ok]).max()),
                       "max_abs_diff_s": float(np.abs(s[ok] - sp[ok]).max())})
    except Exception as err:
        phasor["phasorpy_error"] = str(err)[:500]
    report["phasor"] = phasor

    # --- learned vs NNLS at low photon counts ---------------------------------------------------
    model = ROOT / "models" / "unmix_4label.onnx"
    spec = U.UNMIX_4LABEL
    det8 = Detector.lambda_stack(start_nm=spec["start_nm"], stop_nm=spec["stop_nm"], channels=spec["channels"])
    m8 = mixing_matrix(spec["labels"], det8)
    learned = {}
    for photons in (10, 20, 50, 300):
        e_l, e_n, t_l, t_n = [], [], [], []
        for seed in (5, 6, 7):
            tr = simulate_labels(shape, 4, seed=seed)
            yy = simulate_spectral(tr, SpectralMixing(m8, image_shape=shape, device="cpu"),
                                   camera=CameraNoise(photons=photons, offset=100), seed=seed + 10)
            dt, xl = best_time(lambda: U.unmix_learned(yy, model), repeats=1)
            t_l.append(dt)
            e_l.append(U.abundance_error(xl, tr * photons))
            dt, xn = best_time(lambda: U.unmix_nnls(yy, m8, offset=100), repeats=1)
            t_n.append(dt)
            e_n.append(U.abundance_error(xn, tr * photons))
        learned[str(photons)] = {"error_learned": float(np.mean(e_l)), "error_nnls": float(np.mean(e_n)),
                                 "seconds_learned": float(np.mean(t_l)), "seconds_nnls": float(np.mean(t_n))}
    report["learned"] = learned
    report["ratios"] = {
        "learned_error_over_nnls_low_photons": learned["20"]["error_learned"] / learned["20"]["error_nnls"],
        "nnls_time_over_scipy": t_ours / t_scipy,
        "nmf_time_over_sklearn_cd": (t_nmf / nmf["sklearn_cd"]["seconds"]) if "sklearn_cd" in nmf else None,
        "phasor_time_over_phasorpy": (t_ph / phasor["phasorpy"]["seconds"]) if "phasorpy" in phasor else None,
    }
    (RESULTS / "unmix.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "unmix.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    lines = ["# Unmixing benchmark", "",
             f"4 labels ({', '.join(r['data']['labels'])}), 16-channel lambda stack 420–720 nm, "
             f"{r['data']['shape'][0]}×{r['data']['shape'][1]} px, 1000 photons unless stated. {r['machine']['note']}.", "",
             "| task | method | seconds | accuracy |", "|---|---|---|---|"]
    n = r["nnls"]
    lines.append(f"| NNLS | fluorecon (exact, all pixels at once) | {n['fluorecon']['seconds']:.3f} | "
                 f"abundance error {n['fluorecon']['error']:.4f}; max diff vs SciPy {n['max_abs_diff_vs_scipy']:.2e} |")
    lines.append(f"| NNLS | scipy.optimize.nnls per pixel | {n['scipy_per_pixel']['seconds_extrapolated']:.3f} | (same optimum) |")
    for key, label in (("fluorecon", "fluorecon (multiplicative updates)"), ("sklearn_cd", "scikit-learn NMF, cd"),
                       ("sklearn_mu", "scikit-learn NMF, mu")):
        if key in r["nmf"]:
            e = r["nmf"][key]
            lines.append(f"| blind NMF | {label} | {e['seconds']:.3f} | min spectral corr {e['spectral_correlation_min']:.4f}; "
                         f"abundance error {e['abundance_error']:.4f} |")
    p = r["phasor"]
    lines.append(f"| phasor | fluorecon | {p['fluorecon']['seconds']:.4f} | |")
    if "phasorpy" in p:
        lines.append(f"| phasor | phasorpy {p['phasorpy']['version']} | {p['phasorpy']['seconds']:.4f} | "
                     f"max |ΔG| {p['max_abs_diff_g']:.1e}, max |ΔS| {p['max_abs_diff_s']:.1e} |")
    lines += ["", "Learned (models/unmix_4label.onnx, 8 channels) vs NNLS, relative RMS abundance error, mean of 3 specimens:", "",
              "| photons | learned | NNLS | learned s | NNLS s |", "|---|---|---|---|---|"]
    for ph, e in r["learned"].items():
        lines.append(f"| {ph} | {e['error_learned']:.4f} | {e['error_nnls']:.4f} | {e['seconds_learned']:.3f} | {e['seconds_nnls']:.3f} |")
    lines += ["", "Ratios: " + ", ".join(f"{k} = {v:.3g}" for k, v in r["ratios"].items() if v is not None), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
