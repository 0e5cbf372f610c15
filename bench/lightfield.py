#!/usr/bin/env python3
"""Light-field benchmark (not a test; `make bench` runs it): writes bench/results/lightfield.json
and lightfield.md.

1. Iterative reconstruction vs pyolaf (PyPI, the Python port of oLaF; installed by this script into
   its own venv bench/venvs/pyolaf and kept alive as bench/pyolaf_worker.py, a harness.PeerWorker): the
   same simulated light field (beads through fluorecon's wave-optics projector), the same optics handed
   to pyolaf's camera model. Timing on bench/harness.py: interleaved rounds (≥ 5) of whole runs of the
   same number of Richardson–Lucy iterations (each side's normalisation ``Aᵀ1`` inside its run; pyolaf's
   first iteration reuses its ``A·1``), warm-up left out, s/iteration = run / iterations, the same thread
   count stated, the speed ratio per round with median and spread. pyolaf is built for cupy; there is no
   GPU here, so it runs on its numpy backend. Quality: fitted PSNR against the true volume after an equal
   iteration count (``--quality-iterations``, one untimed run each). pyolaf's depth sign convention
   differs from ours, so its volume is scored in the z orientation that matches the truth best (stated).
2. Learned (models/lightfield_vcd.onnx, ONNX Runtime) vs iterative RL at comparable quality on
   held-out simulated volumes: the RL iteration count whose PSNR first reaches the learned one
   (or RL's best, when it never does), and the speed-up = RL time to there / learned time.

3. Learned + refine (``--refine N``: RL started from the learned volume) vs RL from scratch on the
   same pairs, per iteration: fitted PSNR, the data-consistency figures of the CLI's check and time;
   the first N at which the volume is data-consistent, and RL from scratch to the same PSNR and
   consistency.

Ratios: ``iteration_speed_over_pyolaf`` (pyolaf's s/iteration over ours per round; target ≥ 1),
``learned_speedup_over_iterative`` (target ≥ 10) and ``learned_refined_speedup_over_iterative``
(RL-from-scratch time to the refined result's PSNR and consistency / learned + refine time; no target).
``--skip-pyolaf`` / ``--skip-learned`` keep those parts' stored figures and rerun the rest.
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

from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig, LightFieldOptics  # noqa: E402
from fluorecon.tasks.lightfield.classical import (backproject, richardson_lucy_background,  # noqa: E402
                                        richardson_lucy_lightfield, simulate)
from fluorecon.tasks.lightfield.learned import (LearnedLightFieldSimulation, card_geometry, predict_learned,  # noqa: E402
                                                REFINE_FLOOR, psnr_fitted, refine_learned)
from fluorecon.tasks.lightfield.qc import lightfield_consistency  # noqa: E402
from harness import (DEFAULT_ROUNDS, Contender, PeerSanityError, PeerWorker, check_peer_output, interleave,  # noqa: E402
                     machine_load, ratio)
from fluorecon.tasks.lightfield.train import simulate_training_pairs  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = Path(os.environ.get("FLUORECON_BENCH_RESULTS", BENCH / "results"))
PEER_VENV = BENCH / "venvs" / "pyolaf"
MODEL = ROOT / "models" / "lightfield_vcd.onnx"
TARGETS = {"iteration_speed_over_pyolaf": 1.0, "learned_speedup_over_iterative": 10.0}
# "Data-consistent": the re-projection explains the light field to the noise level (DESIGN.md "Checks").
CONSISTENT = {"var_within": 0.2, "flagged_below": 0.01}


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


def versus_pyolaf(optics: LightFieldOptics, lenslets: int, iterations: int, rounds: int, quality_iterations: int,
                  threads: int) -> dict:
    """fluorecon's light-field RL vs pyolaf's on bench/harness.py: interleaved rounds of whole runs of `iterations`
    iterations (each side computes its normalisation ``Aᵀ1`` in the run; pyolaf's operators H, Ht are built once in
    its worker, as fluorecon's PSF is cached), warm-up left out, s/iteration = run / iterations; the ratio per
    round. Quality: fitted PSNR of both after `quality_iterations` iterations (one untimed run each, same count)."""
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(lenslets, lenslets), optics=optics))
    truth, lf, _ = simulate(physics, n_beads=8, photons=500.0, seed=1)
    scene = {"lenslets": [lenslets, lenslets], "nnum": optics.nnum, "planes": optics.n_planes, "beads": 8,
             "photons": 500.0, "iterations": iterations, "quality_iterations": quality_iterations}
    ours = Contender("fluorecon", lambda n: richardson_lucy_lightfield(lf, physics, num_iter=n), threads=threads,
                     prepare=lambda: torch.set_num_threads(threads))
    python, why = pyolaf_python()
    if python is None:
        timings = interleave([ours], work=iterations, rounds=rounds, unit="iteration")
        volume = richardson_lucy_lightfield(lf, physics, num_iter=quality_iterations)
        return {"scene": scene, "timings": timings.to_json(),
                "fluorecon": {"s_per_iter": timings.to_json()["median_per_unit_s"]["fluorecon"],
                              "psnr": psnr_fitted(volume, truth),
                              "psnr_backprojection": psnr_fitted(backproject(lf, physics), truth)},
                "pyolaf": {"available": False, "why": f"not run: {why}"}}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/lf.npy", lf)
        Path(f"{tmp}/optics.json").write_text(optics.model_dump_json())
        # pyolaf's numpy backend is single-threaded but for BLAS; it gets the same thread count stated.
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads)}
        worker = PeerWorker([python, BENCH / "pyolaf_worker.py", f"{tmp}/optics.json", *map(str, lf.shape)], env=env)
        replies = []
        peer = Contender("pyolaf", lambda n: replies.append(worker.call({"lf": f"{tmp}/lf.npy", "iterations": n}))
                         or replies[-1], threads=threads, timed=lambda reply: reply["seconds"])
        try:
            timings = interleave([ours, peer], work=iterations, rounds=rounds, unit="iteration")
            # Quality at an equal iteration count (untimed).
            worker.call({"lf": f"{tmp}/lf.npy", "iterations": quality_iterations, "out": f"{tmp}/out.npy"})
            recon = np.load(f"{tmp}/out.npy")
        finally:
            worker.close()
    if recon.shape != truth.shape:
        raise PeerSanityError(f"pyolaf returned a volume of shape {recon.shape}, expected {truth.shape}")
    volume = richardson_lucy_lightfield(lf, physics, num_iter=quality_iterations)
    scores = {"as returned": psnr_fitted(recon, truth), "z reversed": psnr_fitted(recon[::-1], truth)}
    best = max(scores, key=scores.get)
    backprojection = psnr_fitted(backproject(lf, physics), truth)
    check_peer_output("pyolaf", recon, shape=truth.shape)
    med = timings.to_json()["median_per_unit_s"]
    return {"scene": scene, "timings": timings.to_json(),
            "ratio": ratio(timings, "fluorecon", "pyolaf", target=TARGETS["iteration_speed_over_pyolaf"]),
            "fluorecon": {"s_per_iter": med["fluorecon"], "psnr": psnr_fitted(volume, truth),
                          "psnr_backprojection": backprojection},
            "pyolaf": {"available": True, "setup_s": replies[0]["setup_s"], "s_per_iter": med["pyolaf"],
                       "psnr": scores[best], "z_orientation": best, "psnr_both_orientations": scores,
                       "backend": replies[0]["backend"], "version": "0.2.1",
                       "note": "pyolaf is built for cupy (GPU); no GPU here, so it runs on its numpy backend"}}


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


def _consistency(lf, volume_above, card, physics, lo) -> tuple[float, float]:
    s = lightfield_consistency(lf, volume_above + np.float32(lo), card, physics=physics).summary
    return float(s["residual_std"] ** 2), float(s["local_flagged_fraction"])


def _consistent(var: float, flagged: float) -> bool:
    return abs(var - 1) <= CONSISTENT["var_within"] and flagged < CONSISTENT["flagged_below"]


def learned_refined(model: Path, lenslets: int, volumes: int, refine_max: int, rl_max: int, threads: int) -> dict:
    """Learned + N Richardson–Lucy iterations vs the same RL (background estimated along) from a
    flat start, per iteration: fitted PSNR, consistency variance and flagged fraction (the CLI's check, noise
    estimated from the light field) and time; the same held-out pairs as learned_vs_iterative."""
    from fluorecon.core.modelcard import read_card
    from fluorecon.core.normalize import parse_norm, percentile_range
    from fluorecon.tasks.lightfield.qc import fitted_background

    card = read_card(model)
    optics = LightFieldOptics.model_validate_json(card.train["optics"])
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(lenslets, lenslets), optics=optics))
    sim = LearnedLightFieldSimulation(n_volumes=volumes, n_lenslets=(lenslets, lenslets), seed=999)
    pairs = simulate_training_pairs(physics, sim)
    predict_learned(pairs[0][0], model, threads=threads)  # warm-up
    refine_learned(pairs[0][0], predict_learned(pairs[0][0], model, threads=threads), card, num_iter=1, physics=physics)
    keys = ("psnr", "var", "flagged", "s")
    ref = {k: np.zeros(refine_max + 1) for k in keys}
    rl = {k: np.zeros(rl_max) for k in keys}
    truth_var = []
    for lf, truth in pairs:
        lo, _ = percentile_range(lf, *parse_norm(card.norm))
        start = time.perf_counter()
        volume = predict_learned(lf, model, threads=threads)
        learned_s = time.perf_counter() - start
        # Time: one refine run, clock after each iteration (its set-up, the background fit, included).
        stamps = []
        start = time.perf_counter()
        refine_learned(lf, volume, card, num_iter=refine_max, physics=physics,
                       progress=lambda i, n: stamps.append(time.perf_counter() - start))
        ref["s"] += learned_s + np.concatenate([[0.0], stamps])
        # Quality after each iteration (untimed): refine's own start and background, one iteration at a time.
        x = volume - np.float32(lo)
        background = None
        for i in range(refine_max + 1):
            if i == 1:
                x = refine_learned(lf, volume, card, num_iter=1, physics=physics) - np.float32(lo)
                start = np.maximum(volume - np.float32(lo), np.float32(REFINE_FLOOR * float(volume.max() - lo)))
                _, background = richardson_lucy_background(
                    lf, physics, init=start, num_iter=1,
                    background=max(fitted_background(lf, start, physics), 1e-3 * float(np.median(lf))))
            elif i > 1:
                x, background = richardson_lucy_background(lf, physics, init=x, background=background, num_iter=1)
            var, flagged = _consistency(lf, x, card, physics, lo)
            ref["psnr"][i] += psnr_fitted(x, truth)
            ref["var"][i] += var
            ref["flagged"][i] += flagged
        # From scratch: the same RL (background estimated along) from a flat volume of the light
        # field's mean brightness above its 1st percentile.
        bg0 = max(float(np.percentile(lf, 1)), 1e-3 * float(np.median(lf)))
        flat = np.full(physics.image_shape, max(float(lf.mean()) - bg0, 1e-3) / physics.image_shape[0], np.float32)
        stamps = []
        start = time.perf_counter()
        richardson_lucy_background(lf, physics, init=flat, background=bg0, num_iter=rl_max,
                                   progress=lambda i, n: stamps.append(time.perf_counter() - start))
        rl["s"] += np.asarray(stamps)
        x, background = flat, bg0
        for i in range(rl_max):
            x, background = richardson_lucy_background(lf, physics, init=x, background=background, num_iter=1)
            var, flagged = _consistency(lf, x, card, physics, lo)
            rl["psnr"][i] += psnr_fitted(x, truth)
            rl["var"][i] += var
            rl["flagged"][i] += flagged
        with torch.no_grad():
            projected = physics.A(torch.as_tensor(truth)).numpy()
        scale = float(np.polyfit(projected.ravel(), lf.ravel(), 1)[0])
        truth_var.append(_consistency(lf, truth * np.float32(scale), card, physics, lo)[0])
    for d in (ref, rl):
        for k in keys:
            d[k] /= len(pairs)
    ok = [i for i in range(refine_max + 1) if _consistent(ref["var"][i], ref["flagged"][i])]
    n = ok[0] if ok else int(np.argmin(np.abs(ref["var"] - 1)))
    # RL from scratch at the same quality: first iteration with at least the refined PSNR and consistent
    reach = [i for i in range(rl_max) if rl["psnr"][i] >= ref["psnr"][n] and _consistent(rl["var"][i], rl["flagged"][i])]
    best = reach[0] if reach else int(np.argmax(rl["psnr"]))
    scratch_ok = [i for i in range(rl_max) if _consistent(rl["var"][i], rl["flagged"][i])]
    curve = lambda d, k: [float(v) for v in d[k]]  # noqa: E731
    return {"scene": {"lenslets": [lenslets, lenslets], "volumes": volumes, "model": model.name, "ort_threads": threads,
                      "torch_threads": torch.get_num_threads(), "consistent_when": CONSISTENT,
                      "true_volume_consistency_var": float(np.mean(truth_var)),
                      "rl_start": "flat volume, background = 1st percentile; both RLs estimate the background along"},
            "refine_iterations": n, "consistent": bool(ok), "psnr_db": float(ref["psnr"][n]),
            "consistency_var": float(ref["var"][n]), "flagged_fraction": float(ref["flagged"][n]),
            "seconds": float(ref["s"][n]),
            "per_iteration": {"psnr_db": curve(ref, "psnr"), "consistency_var": curve(ref, "var"),
                              "flagged_fraction": curve(ref, "flagged"), "seconds": curve(ref, "s")},
            "iterative_from_scratch": {
                "per_iteration": {"psnr_db": curve(rl, "psnr"), "consistency_var": curve(rl, "var"),
                                  "flagged_fraction": curve(rl, "flagged"), "seconds": curve(rl, "s")},
                "iterations_compared": best + 1, "reaches_refined": bool(reach), "psnr_db": float(rl["psnr"][best]),
                "consistency_var": float(rl["var"][best]), "flagged_fraction": float(rl["flagged"][best]),
                "seconds": float(rl["s"][best]),
                "first_consistent_iterations": scratch_ok[0] + 1 if scratch_ok else None,
                "first_consistent_seconds": float(rl["s"][scratch_ok[0]]) if scratch_ok else None,
                "first_consistent_psnr_db": float(rl["psnr"][scratch_ok[0]]) if scratch_ok else None}}


def refine_lines(c: dict) -> list[str]:
    """The learned + refine section of lightfield.md."""
    r, rl = c["per_iteration"], c["iterative_from_scratch"]["per_iteration"]
    crit = c["scene"]["consistent_when"]
    row = lambda name, d, i: (f"| {name} | {d['seconds'][i]:.3f} | {d['psnr_db'][i]:.2f} | "  # noqa: E731
                              f"{d['consistency_var'][i]:.2f} | {100 * d['flagged_fraction'][i]:.1f} |")
    lines = ["", "## Learned + refine (same scene; `--refine N`: N Richardson–Lucy iterations from the learned volume)", "",
             f"Consistency = the CLI's check (noise estimated from the light field): variance of the standardised "
             f"residual and % of pixels flagged by the 7×7 local score; the true volume gives variance "
             f"{c['scene']['true_volume_consistency_var']:.2f}. Data-consistent: |variance − 1| ≤ {crit['var_within']:g} "
             f"and flagged < {100 * crit['flagged_below']:g} %. Seconds include the network pass.", "",
             "| method | seconds | fitted PSNR (dB) | consistency variance | flagged % |", "|---|---|---|---|---|",
             row("learned alone", r, 0)]
    lines += [row(f"learned + {n} RL", r, n) for n in (1, 2, 4, 8, 16) if n < len(r["seconds"])]
    lines += [row(f"RL from scratch, {n} iterations", rl, n - 1) for n in (8, 16, 32) if n <= len(rl["seconds"])]
    it = c["iterative_from_scratch"]
    lines += ["", (f"Data-consistent after {c['refine_iterations']} refine iterations" if c["consistent"] else
                   f"Not data-consistent within {len(r['seconds']) - 1} refine iterations (closest: {c['refine_iterations']})")
              + f": {c['seconds']:.2f} s, {c['psnr_db']:.2f} dB, variance {c['consistency_var']:.2f}, "
                f"{100 * c['flagged_fraction']:.2f} % flagged. RL from scratch "
              + (f"reaches that PSNR and consistency after {it['iterations_compared']} iterations" if it["reaches_refined"]
                 else f"does not reach it within {len(rl['seconds'])} iterations (its best PSNR, after "
                      f"{it['iterations_compared']}, is compared)")
              + f": {it['seconds']:.2f} s, {it['psnr_db']:.2f} dB, variance {it['consistency_var']:.2f}."
              + (f" RL from scratch is first data-consistent after {it['first_consistent_iterations']} iterations "
                 f"({it['first_consistent_seconds']:.2f} s, {it['first_consistent_psnr_db']:.2f} dB)."
                 if it.get("first_consistent_iterations") else ""), ""]
    return lines


def _median_range(t: dict, name: str) -> str:
    v = t["per_unit_s"][name]
    return f"{t['median_per_unit_s'][name]:.3g} ({min(v):.3g}–{max(v):.3g})"


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lightfield.json").write_text(json.dumps(results, indent=2))
    a, b = results["versus_pyolaf"], results["learned_vs_iterative"]
    ours, peer = a["fluorecon"], a["pyolaf"]
    s, t = a["scene"], a["timings"]
    ls, le = a["load_start"], a["load_end"]
    lines = ["# Light-field benchmark", "",
             f"{results['machine']}. Fitted PSNR = PSNR against the true volume after a least-squares affine map of "
             "each estimate (units differ between methods).", "",
             f"## Iterative: fluorecon vs pyolaf ({s['lenslets'][0]}×{s['lenslets'][1]} lenslets, nnum {s['nnum']}, "
             f"{s['planes']} planes, {s['beads']} beads)", "",
             f"`bench/harness.py`: {t['rounds']} interleaved rounds of whole {s['iterations']}-iteration runs (each side's "
             f"`Aᵀ1` inside the run), warm-up left out, s/iteration = run / {s['iterations']}; threads "
             + ", ".join(f"{k} {v}" for k, v in t["threads"].items())
             + f"; load average {ls['load_avg'][0]:.1f} at start, {le['load_avg'][0]:.1f} at end ({ls['nproc']} cores, "
             f"shared). pyolaf is built for cupy (GPU); there is no GPU here, so it runs on its numpy backend. "
             f"Fitted PSNR after {s['quality_iterations']} iterations on both sides (one untimed run each).", "",
             "| method | s / iteration, median (min–max) | setup s | fitted PSNR (dB) |", "|---|---|---|---|",
             f"| fluorecon RL (torch {results['torch']}, CPU) | {_median_range(t, 'fluorecon')} | – | {ours['psnr']:.2f} |"]
    if peer.get("available"):
        lines.append(f"| pyolaf {peer['version']} ({peer['backend']}) | {_median_range(t, 'pyolaf')} | "
                     f"{peer['setup_s']:.0f} (H, Ht, once) | {peer['psnr']:.2f} (volume {peer['z_orientation']}) |")
        r = a["ratio"]
        lines += ["", f"Speed per round (pyolaf s/iteration ÷ ours): median {r['median']:.0f}× (min–max {r['min']:.0f}–"
                      f"{r['max']:.0f}×, IQR {r['q1']:.0f}–{r['q3']:.0f}×), target ≥ {r['target']:g}: {r['verdict']}."]
    else:
        lines.append(f"| pyolaf | – | – | {peer['why']} |")
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
              *refine_lines(results["learned_refined"]),
              "Ratios: " + ", ".join(f"{k} = {v:.3g}" if v is not None else f"{k} = n/a"
                                     for k, v in results["ratios"].items()),
              "Targets: " + ", ".join(f"{k} ≥ {v:g}" for k, v in TARGETS.items()), "",
              "The learned-vs-iterative and refine sections are single runs per volume (not on the harness: their "
              "figures are quality curves, timed once per volume).", ""]
    (RESULTS / "lightfield.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lenslets", type=int, default=7, help="Lenslets per side of the pyolaf scene (odd).")
    parser.add_argument("--iterations", type=int, default=3, help="RL iterations per timed run of the pyolaf comparison.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="Interleaved rounds, fluorecon vs pyolaf.")
    parser.add_argument("--quality-iterations", type=int, default=10,
                        help="RL iterations of the (untimed) quality comparison, both sides.")
    parser.add_argument("--learned-lenslets", type=int, default=24, help="Lenslets per side, learned vs iterative.")
    parser.add_argument("--volumes", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--refine-max", type=int, default=24, help="Largest refine iteration count scored.")
    parser.add_argument("--rl-max", type=int, default=32, help="RL-from-scratch iterations of the refine comparison.")
    parser.add_argument("--skip-pyolaf", action="store_true",
                        help="Keep the pyolaf comparison stored in bench/results/lightfield.json (pyolaf takes minutes).")
    parser.add_argument("--skip-learned", action="store_true",
                        help="Keep the stored learned-vs-iterative figures; rerun only learned + refine.")
    parser.add_argument("--only-pyolaf", action="store_true",
                        help="Rerun only the pyolaf comparison; keep the stored learned and refine sections.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stored = json.loads((RESULTS / "lightfield.json").read_text()) if (RESULTS / "lightfield.json").exists() else {}
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared, loaded)",
               "torch": torch.__version__}
    optics = LightFieldOptics()
    if args.skip_pyolaf and "versus_pyolaf" in stored and stored["versus_pyolaf"]["fluorecon"]:
        results["versus_pyolaf"] = stored["versus_pyolaf"]
    elif args.skip_pyolaf:
        results["versus_pyolaf"] = {"scene": {}, "fluorecon": {}, "pyolaf": {"available": False, "why": "skipped"}}
    else:
        print("iterative vs pyolaf ...", flush=True)
        load_start = machine_load()
        results["versus_pyolaf"] = versus_pyolaf(optics, args.lenslets, args.iterations, args.rounds,
                                                 args.quality_iterations, args.threads)
        results["versus_pyolaf"].update(load_start=load_start, load_end=machine_load())
    if (args.skip_learned or args.only_pyolaf) and "learned_vs_iterative" in stored:
        results["learned_vs_iterative"] = stored["learned_vs_iterative"]
    else:
        print("learned vs iterative ...", flush=True)
        results["learned_vs_iterative"] = learned_vs_iterative(MODEL, args.learned_lenslets, args.volumes,
                                                               args.max_iter, args.threads)
    if args.only_pyolaf and "learned_refined" in stored:
        results["learned_refined"] = stored["learned_refined"]
    else:
        print("learned + refine vs iterative ...", flush=True)
        results["learned_refined"] = learned_refined(MODEL, args.learned_lenslets, args.volumes, args.refine_max,
                                                     args.rl_max, args.threads)
    a, b, c = results["versus_pyolaf"], results["learned_vs_iterative"], results["learned_refined"]
    peer = a["pyolaf"]
    results["ratios"] = {
        "iteration_speed_over_pyolaf": a["ratio"]["median"] if peer.get("available") else None,
        "learned_speedup_over_iterative": b["iterative"]["s"] / b["learned"]["s"],
        "learned_refined_speedup_over_iterative": c["iterative_from_scratch"]["seconds"] / c["seconds"],
    }
    results["targets"] = TARGETS
    if "load_start" in a:  # the harness-timed part's load (the pyolaf comparison)
        results["load_start"], results["load_end"] = a["load_start"], a["load_end"]
    results["figures"] = {"iteration_speed_over_pyolaf": a["ratio"]} if peer.get("available") else {}
    results["verdicts"] = {k: v["verdict"] for k, v in results["figures"].items()}
    write(results)
    print((RESULTS / "lightfield.md").read_text())


if __name__ == "__main__":
    main()
