#!/usr/bin/env python3
"""Light-field benchmark (not a test; `make bench` runs it): writes bench/results/lightfield.json
and lightfield.md.

1. Iterative reconstruction vs pyolaf (PyPI, the Python port of oLaF; installed by this script into
   its own venv bench/venvs/pyolaf and driven by bench/pyolaf_worker.py): the same simulated light
   field (beads through fluorecon's wave-optics projector), the same optics handed to pyolaf's
   camera model, the same number of Richardson–Lucy iterations. Time per iteration (pyolaf: its
   full iterations, forward + backward projection; its first one reuses the precomputed ``A·1``)
   and fitted PSNR against the true volume. pyolaf's depth sign convention differs from ours, so
   its volume is scored in the z orientation that matches the truth best (stated in the output).
2. Learned (models/lightfield_vcd.onnx, ONNX Runtime) vs iterative RL at comparable quality on
   held-out simulated volumes: the RL iteration count whose PSNR first reaches the learned one
   (or RL's best, when it never does), and the speed-up = RL time to there / learned time.

Ratios: ``iteration_time_over_pyolaf`` (lower is better; target ≤ 1) and
``learned_speedup_over_iterative`` (target ≥ 10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fluorecon.imaging.lightfield import LightField, LightFieldConfig, LightFieldOptics  # noqa: E402
from fluorecon.tasks.lightfield import backproject, richardson_lucy_lightfield, simulate  # noqa: E402
from fluorecon.tasks.lightfield_learned import (LearnedLightFieldSimulation, card_geometry, predict_learned,  # noqa: E402
                                                psnr_fitted)
from fluorecon.tasks.lightfield_learned_train import simulate_training_pairs  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PEER_VENV = BENCH / "venvs" / "pyolaf"
MODEL = ROOT / "models" / "lightfield_vcd.onnx"
TARGETS = {"iteration_time_over_pyolaf": 1.0, "learned_speedup_over_iterative": 10.0}


def pyolaf_python() -> tuple[Path | None, str]:
    """pyolaf's venv interpreter, creating the venv on first use; (None, why) when it cannot install."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "pyolaf==0.2.1"], check=True)
        except (subprocess.CalledProcessError, OSError) as err:
            return None, f"pyolaf could not be installed into {PEER_VENV}: {err}"
    return python, ""


def timed_rl(lf, physics, n: int, background: float) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = richardson_lucy_lightfield(lf, physics, num_iter=n, background=background)
    return out, time.perf_counter() - start


def versus_pyolaf(optics: LightFieldOptics, lenslets: int, iterations: int, repeats: int) -> dict:
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(lenslets, lenslets), optics=optics))
    truth, lf, _ = simulate(physics, n_beads=8, photons=500.0, seed=1)
    timed_rl(lf, physics, 1, 0.0)  # warm-up (FFT plans, kernel spectra)
    # Per iteration: the clock between successive iterations (progress callback), median over repeats;
    # the set-up (Aᵀ1 and the back-projected start) is reported apart, as pyolaf's.
    steps, totals = [], []
    for _ in range(repeats):
        stamps = [time.perf_counter()]
        volume = richardson_lucy_lightfield(lf, physics, num_iter=max(iterations, 4),
                                            progress=lambda i, n: stamps.append(time.perf_counter()))
        steps += list(np.diff(stamps[1:]))
        totals.append(stamps[-1] - stamps[0])
    volume, _ = timed_rl(lf, physics, iterations, 0.0)
    ours = {"s_per_iter": float(np.median(steps)), "s_total_runs": totals,
            "psnr": psnr_fitted(volume, truth), "psnr_backprojection": psnr_fitted(backproject(lf, physics), truth)}
    python, why = pyolaf_python()
    peer: dict = {"available": False, "why": why}
    if python is not None:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(f"{tmp}/lf.npy", lf)
            Path(f"{tmp}/optics.json").write_text(optics.model_dump_json())
            run = subprocess.run([str(python), str(BENCH / "pyolaf_worker.py"), f"{tmp}/lf.npy", f"{tmp}/optics.json",
                                  str(iterations), f"{tmp}/out.npy"], capture_output=True, text=True)
            if run.returncode != 0:
                peer["why"] = "pyolaf failed: " + run.stderr.strip()[-400:]
            else:
                info = json.loads(run.stdout.strip().splitlines()[-1])
                recon = np.load(f"{tmp}/out.npy")
                if recon.shape != truth.shape:
                    peer["why"] = f"pyolaf returned a volume of shape {recon.shape}, expected {truth.shape}"
                else:
                    scores = {"as returned": psnr_fitted(recon, truth), "z reversed": psnr_fitted(recon[::-1], truth)}
                    best = max(scores, key=scores.get)
                    full = info["iter_s"][1:] or info["iter_s"]
                    peer = {"available": True, "setup_s": info["setup_s"], "iter_s": info["iter_s"],
                            "s_per_iter": float(np.median(full)), "psnr": scores[best], "z_orientation": best,
                            "psnr_both_orientations": scores, "backend": info["backend"], "version": "0.2.1"}
    return {"scene": {"lenslets": [lenslets, lenslets], "nnum": optics.nnum, "planes": optics.n_planes,
                      "beads": 8, "photons": 500.0, "iterations": iterations},
            "fluorecon": ours, "pyolaf": peer}


def learned_vs_iterative(model: Path, lenslets: int, volumes: int, max_iter: int, threads: int) -> dict:
    from fluorecon.core.modelcard import read_card

    card = read_card(model)
    g = card_geometry(card)
    optics = LightFieldOptics.model_validate_json(card.train["optics"])
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(lenslets, lenslets), optics=optics))
    sim = LearnedLightFieldSimulation(n_volumes=volumes, n_lenslets=(lenslets, lenslets), seed=999)
    pairs = simulate_training_pairs(physics, sim)
    predict_learned(pairs[0][0], model, threads=threads)  # warm-up: session, threads
    learned_psnr, learned_s, rl_curve, rl_s = [], [], np.zeros(max_iter), np.zeros(max_iter)
    for lf, truth in pairs:
        start = time.perf_counter()
        volume = predict_learned(lf, model, threads=threads)
        learned_s.append(time.perf_counter() - start)
        learned_psnr.append(psnr_fitted(volume, truth))
        background = float(np.percentile(lf, 1))
        # Time: one run of max_iter iterations, clock read after each (setup included in the first).
        stamps = []
        start = time.perf_counter()
        richardson_lucy_lightfield(lf, physics, num_iter=max_iter, background=background,
                                   progress=lambda i, n: stamps.append(time.perf_counter() - start))
        rl_s += np.asarray(stamps)
        # Quality after each iteration (untimed: restarted from the previous iterate).
        x = None
        for i in range(max_iter):
            x = richardson_lucy_lightfield(lf, physics, num_iter=1, background=background, init=x)
            rl_curve[i] += psnr_fitted(x, truth)
    rl_curve /= len(pairs)
    rl_s /= len(pairs)
    learned = float(np.mean(learned_psnr))
    reach = np.nonzero(rl_curve >= learned)[0]
    n = int(reach[0]) + 1 if reach.size else int(np.argmax(rl_curve)) + 1
    return {"scene": {"lenslets": [lenslets, lenslets], "volumes": volumes, "nnum": g["nnum"], "planes": g["z_planes"],
                      "model": model.name, "ort_threads": threads, "torch_threads": torch.get_num_threads()},
            "learned": {"psnr": learned, "s": float(np.mean(learned_s))},
            "iterative": {"psnr_per_iter": [float(v) for v in rl_curve], "s_cumulative": [float(v) for v in rl_s],
                          "iterations_compared": n, "psnr": float(rl_curve[n - 1]), "s": float(rl_s[n - 1]),
                          "reaches_learned": bool(reach.size)},
            "psnr_backprojection": float(np.mean([psnr_fitted(backproject(lf, physics), t) for lf, t in pairs]))}


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lightfield.json").write_text(json.dumps(results, indent=2))
    a, b = results["versus_pyolaf"], results["learned_vs_iterative"]
    ours, peer = a["fluorecon"], a["pyolaf"]
    s = a["scene"]
    lines = ["# Light-field benchmark", "",
             f"{results['machine']}. Fitted PSNR = PSNR against the true volume after a least-squares affine map of "
             "each estimate (units differ between methods).", "",
             f"## Iterative: fluorecon vs pyolaf ({s['lenslets'][0]}×{s['lenslets'][1]} lenslets, nnum {s['nnum']}, "
             f"{s['planes']} planes, {s['beads']} beads, {s['iterations']} RL iterations)", "",
             "| method | s / iteration | setup s | fitted PSNR (dB) |", "|---|---|---|---|",
             f"| fluorecon RL (torch {results['torch']}, CPU) | {ours['s_per_iter']:.3f} | – | {ours['psnr']:.2f} |"]
    if peer.get("available"):
        lines.append(f"| pyolaf {peer['version']} ({peer['backend']}) | {peer['s_per_iter']:.3f} | {peer['setup_s']:.0f} | "
                     f"{peer['psnr']:.2f} (volume {peer['z_orientation']}) |")
    else:
        lines.append(f"| pyolaf | – | – | not run: {peer['why']} |")
    lines += ["", f"One back-projection: {ours['psnr_backprojection']:.2f} dB.", "",
              f"## Learned vs iterative ({b['scene']['lenslets'][0]}×{b['scene']['lenslets'][1]} lenslets, "
              f"{b['scene']['volumes']} held-out volumes, `{b['scene']['model']}`)", "",
              "| method | seconds | fitted PSNR (dB) |", "|---|---|---|",
              f"| learned (ONNX Runtime, {b['scene']['ort_threads']} threads) | {b['learned']['s']:.3f} | {b['learned']['psnr']:.2f} |",
              f"| RL, {b['iterative']['iterations_compared']} iterations"
              f"{'' if b['iterative']['reaches_learned'] else ' (its best; never reaches the learned PSNR)'} | "
              f"{b['iterative']['s']:.3f} | {b['iterative']['psnr']:.2f} |",
              f"| one back-projection | – | {b['psnr_backprojection']:.2f} |", "",
              "RL PSNR by iteration: " + ", ".join(f"{v:.2f}" for v in b["iterative"]["psnr_per_iter"]), "",
              "Ratios: " + ", ".join(f"{k} = {v:.3g}" if v is not None else f"{k} = n/a"
                                     for k, v in results["ratios"].items()),
              "Targets: " + ", ".join(f"{k} {'≤' if k.startswith('iteration') else '≥'} {v:g}"
                                      for k, v in TARGETS.items()), ""]
    (RESULTS / "lightfield.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lenslets", type=int, default=9, help="Lenslets per side of the pyolaf scene (odd).")
    parser.add_argument("--iterations", type=int, default=3, help="RL iterations of the pyolaf comparison.")
    parser.add_argument("--learned-lenslets", type=int, default=24, help="Lenslets per side, learned vs iterative.")
    parser.add_argument("--volumes", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pyolaf", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared, loaded)",
               "torch": torch.__version__}
    optics = LightFieldOptics()
    if args.skip_pyolaf:
        results["versus_pyolaf"] = {"scene": {}, "fluorecon": {}, "pyolaf": {"available": False, "why": "skipped"}}
    else:
        print("iterative vs pyolaf ...", flush=True)
        results["versus_pyolaf"] = versus_pyolaf(optics, args.lenslets, args.iterations, repeats=3)
    print("learned vs iterative ...", flush=True)
    results["learned_vs_iterative"] = learned_vs_iterative(MODEL, args.learned_lenslets, args.volumes, args.max_iter,
                                                           args.threads)
    a, b = results["versus_pyolaf"], results["learned_vs_iterative"]
    peer = a["pyolaf"]
    results["ratios"] = {
        "iteration_time_over_pyolaf": (a["fluorecon"]["s_per_iter"] / peer["s_per_iter"]) if peer.get("available") else None,
        "learned_speedup_over_iterative": b["iterative"]["s"] / b["learned"]["s"],
    }
    results["targets"] = TARGETS
    write(results)
    print((RESULTS / "lightfield.md").read_text())


if __name__ == "__main__":
    main()
