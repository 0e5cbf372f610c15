"""Benchmark: spectral unmixing accuracy and time against the peers users would pick.

fluorecon NNLS (exact, vectorised) vs SciPy's per-pixel ``nnls``; fluorecon blind NMF vs
scikit-learn ``NMF``; fluorecon phasors vs ``phasorpy.phasor.phasor_from_signal``; the learned
4-label model vs NNLS at low photon counts. Peers run in their own venvs (bench/venvs/<peer>,
created here on first use) on the same arrays, handed over as .npy files.

    python bench/unmix.py            # writes bench/results/unmix.json and unmix.md
"""

from __future__ import annotations

import argparse
import os
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

from harness import (DEFAULT_ROUNDS, RESULTS, Bench, Contender, PeerSanityError, PeerWorker, figure,  # noqa: E402
                     interleave, ratio)

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / ".work" / "unmix"
PEERS = {"scikit-learn": ["scikit-learn"], "phasorpy": ["phasorpy"]}

# Peers stay alive across the interleaved rounds (harness.PeerWorker: one JSON request per line).
SKLEARN_WORKER = textwrap.dedent('''
    import sys, time, numpy as np
    sys.path.insert(0, sys.argv[1])
    from harness import serve_requests
    from sklearn.decomposition import NMF
    import sklearn

    def run(r):
        v = np.load(r["v"])
        model = NMF(n_components=r["n"], init="nndsvda", solver=r["solver"], max_iter=1000, tol=1e-5, random_state=0)
        t = time.perf_counter(); h = model.fit_transform(v.T); w = model.components_.T; dt = time.perf_counter() - t
        np.save(r["out"] + "_w.npy", w); np.save(r["out"] + "_h.npy", h.T)
        return {"seconds": dt, "iterations": int(model.n_iter_), "version": sklearn.__version__}

    serve_requests(run)
''')

PHASORPY_WORKER = textwrap.dedent('''
    import sys, time, numpy as np
    sys.path.insert(0, sys.argv[1])
    from harness import serve_requests
    from phasorpy.phasor import phasor_from_signal
    import phasorpy

    def run(r):
        y = np.load(r["signal"])
        t = time.perf_counter()
        for _ in range(r["repeat"]):  # a few ms each: a whole run of `repeat` calls is timed
            mean, g, s = phasor_from_signal(y, axis=0, harmonic=1)
        dt = time.perf_counter() - t
        np.save(r["out"] + "_g.npy", np.asarray(g)); np.save(r["out"] + "_s.npy", np.asarray(s))
        return {"seconds": dt, "version": phasorpy.__version__}

    serve_requests(run)
''')


def peer_python(name: str) -> Path:
    """The peer's own venv (bench/venvs/<name>), created and filled on first use."""
    venv = BENCH / "venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]], check=True)
    return python


def peer_worker(name: str, script: str) -> PeerWorker:
    path = WORK / f"{name}_worker.py"
    path.write_text(script)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return PeerWorker([peer_python(name), path, BENCH], env=env)


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

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--name", default="unmix", help="results/<name>.json (e.g. unmix-rerun)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.name, {"rounds": args.rounds, "shape": [256, 256], "channels": 16, "threads": 1})
    labels = ["DAPI", "EGFP", "tdTomato", "Alexa647"]
    detector = Detector.lambda_stack(start_nm=420, stop_nm=720, channels=16)
    m = mixing_matrix(labels, detector)
    shape = (256, 256)
    truth = simulate_labels(shape, 4, seed=2024)
    physics = SpectralMixing(m, image_shape=shape, device="cpu")
    report: dict = {"data": {"labels": labels, "channels": 16, "shape": list(shape), "photons_high": 1000,
                             "photons_low": 20}}

    # --- NNLS: fluorecon (all pixels at once) vs SciPy per pixel --------------------------------
    y = simulate_spectral(truth, physics, camera=CameraNoise(photons=1000, offset=100), seed=1)
    flat = (y.reshape(16, -1) - 100).astype(np.float64)
    sample = flat[:, :: 16]  # SciPy's loop on every 16th pixel; its time × 16 is the whole image's
    contenders = [
        Contender("fluorecon_nnls", lambda _: U.unmix_nnls(y, m, offset=100), threads=1),
        Contender("scipy_nnls_per_pixel", lambda _: (time.perf_counter(), np.stack(
            [nnls(m.astype(np.float64), col)[0] for col in sample.T], axis=1), time.perf_counter()), threads=1,
            timed=lambda r: (r[2] - r[0]) * 16, notes="every 16th pixel, time × 16"),
    ]
    print("NNLS:", flush=True)
    t = interleave(contenders, work=1, rounds=args.rounds, unit="image", keep_outputs=True)
    x, ref = t.outputs["fluorecon_nnls"], t.outputs["scipy_nnls_per_pixel"][1]
    med = t.to_json()["median_per_unit_s"]
    t_ours, t_scipy = med["fluorecon_nnls"], med["scipy_nnls_per_pixel"]
    report["nnls"] = {
        "fluorecon": {"seconds": t_ours, "error": U.abundance_error(x, truth * 1000)},
        "scipy_per_pixel": {"seconds_extrapolated": t_scipy},
        "max_abs_diff_vs_scipy": float(np.abs(x.reshape(4, -1)[:, ::16] - ref).max()), "timings": t.to_json(),
    }
    bench.add_figure("nnls_speedup_over_scipy", ratio(t, "fluorecon_nnls", "scipy_nnls_per_pixel"))

    # --- blind NMF: fluorecon vs scikit-learn (cd solver, its default) ----------------------------
    v = np.clip(flat, 0, None).astype(np.float32)
    np.save(WORK / "v.npy", v)
    nmf: dict = {}
    contenders = [Contender("fluorecon_nmf", lambda _: U.unmix_nmf(y, 4, offset=100, num_iter=1000), threads=1)]
    sk = None
    try:
        sk = peer_worker("scikit-learn", SKLEARN_WORKER)
        for solver in ("cd", "mu"):
            contenders.append(Contender(f"sklearn_{solver}", lambda _, solver=solver: sk.call(
                {"v": str(WORK / "v.npy"), "n": 4, "solver": solver, "out": str(WORK / f"sk_{solver}")}),
                threads=1, timed=lambda r: r["seconds"]))
    except Exception as err:  # a peer that cannot be installed is reported, not fatal
        nmf["sklearn_error"] = str(err)[:500]
    print("NMF:", flush=True)
    t = interleave(contenders, work=1, rounds=args.rounds, unit="fit", keep_outputs=True, close=[sk])
    med = t.to_json()["median_per_unit_s"]
    h, w = t.outputs["fluorecon_nmf"]
    order, corr = match_spectra(m / m.sum(0), w)
    t_nmf = med["fluorecon_nmf"]
    nmf["fluorecon"] = {"seconds": t_nmf, "spectral_correlation_min": float(corr.min()),
                        "abundance_error": U.abundance_error(h[order] * 1, truth * 1000)}
    for solver in ("cd", "mu"):
        key = f"sklearn_{solver}"
        if key not in med:
            continue
        ws, hs = np.load(WORK / f"sk_{solver}_w.npy"), np.load(WORK / f"sk_{solver}_h.npy")
        norms = ws.sum(0)
        ws, hs = ws / norms, hs * norms[:, None]
        order, corr = match_spectra(m / m.sum(0), ws)
        nmf[key] = {"seconds": med[key], "iterations": t.outputs[key]["iterations"],
                    "spectral_correlation_min": float(corr.min()),
                    "abundance_error": U.abundance_error(hs[order].reshape(truth.shape), truth * 1000)}
        nmf["sklearn_version"] = t.outputs[key]["version"]
        bench.add_figure(f"nmf_speedup_over_{key}", ratio(t, "fluorecon_nmf", key))
    nmf["timings"] = t.to_json()
    report["nmf"] = nmf

    # --- phasors: fluorecon vs phasorpy ---------------------------------------------------------
    signal = np.clip(y - 100, 0, None).astype(np.float64)
    np.save(WORK / "signal.npy", signal)
    phasor: dict = {}
    contenders = [Contender("fluorecon_phasor", lambda n: [U.phasor(signal) for _ in range(n)][-1], threads=1)]
    ph = None
    try:
        ph = peer_worker("phasorpy", PHASORPY_WORKER)
        contenders.append(Contender("phasorpy", lambda n: ph.call({"signal": str(WORK / "signal.npy"), "out": str(WORK / "ph"),
                                                                  "repeat": n}), threads=1, timed=lambda r: r["seconds"]))
    except Exception as err:
        phasor["phasorpy_error"] = str(err)[:500]
    print("phasor:", flush=True)
    t = interleave(contenders, work=20, rounds=args.rounds, unit="image", keep_outputs=True, close=[ph])
    med = t.to_json()["median_per_unit_s"]
    g, s_, _ = t.outputs["fluorecon_phasor"]
    t_ph = med["fluorecon_phasor"]
    phasor["fluorecon"] = {"seconds": t_ph}
    if "phasorpy" in med:
        gp, sp = np.load(WORK / "ph_g.npy"), np.load(WORK / "ph_s.npy")
        ok = np.isfinite(g) & np.isfinite(gp)
        phasor.update({"phasorpy": {"seconds": med["phasorpy"], "version": t.outputs["phasorpy"]["version"]},
                       "max_abs_diff_g": float(np.abs(g[ok] - gp[ok]).max()),
                       "max_abs_diff_s": float(np.abs(s_[ok] - sp[ok]).max())})
        if max(phasor["max_abs_diff_g"], phasor["max_abs_diff_s"]) > 1e-4:
            raise PeerSanityError(f"phasorpy and fluorecon phasors differ by {phasor['max_abs_diff_g']:.1e} (G): "
                                  "not the same quantity — check the harmonic, axis and offset handed to each")
        bench.add_figure("phasor_speedup_over_phasorpy", ratio(t, "fluorecon_phasor", "phasorpy"))
    phasor["timings"] = t.to_json()
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
    bench.add_figure("learned_error_over_nnls_20_photons", figure(
        [learned["20"]["error_learned"] / learned["20"]["error_nnls"]], target=0.8, higher_is_better=False,
        note="mean relative RMS abundance error over 3 seeded specimens"))
    bench.write(markdown(report), **report)
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


def markdown(r: dict) -> str:
    lines = ["# Unmixing benchmark", "",
             f"4 labels ({', '.join(r['data']['labels'])}), 16-channel lambda stack 420–720 nm, "
             f"{r['data']['shape'][0]}×{r['data']['shape'][1]} px, 1000 photons unless stated; single-threaded BLAS for all; "
             "seconds are medians over interleaved rounds (bench/harness.py).", "",
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
