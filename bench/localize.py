"""SMLM benchmark: Jaccard, lateral RMSE, efficiency and time per frame of the classical MLE fit,
Deep-STORM and the DECODE-style network at low / medium / high emitter density.

    .venv/bin/python bench/localize.py [--frames 100] [--threads 2]

Data: simulated 64×64-pixel EMCCD frames (100 nm pixels, σ_PSF 130 nm, 2000 photons, 20
background photons/pixel) of emitters on FILAMENTS (the networks were trained on uniformly spread
emitters, so this is also a shift in structure). Matching: SMLM Challenge 2016 style, Hungarian
pairing within 250 nm. Writes bench/results/localize.json and localize.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DENSITIES = {"low": 0.1, "medium": 0.8, "high": 2.5}  # emitters on per µm² per frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from fluorecon.imaging.smlm import SMLMConfig, simulate_smlm
    from fluorecon.qc.smlm_metrics import score_localizations
    from fluorecon.tasks.localize import DEFAULT_MODELS, LocalizationModel, localize_mle, localize_network
    from fluorecon.imaging.noise import CameraNoise

    camera = CameraNoise(photons=1.0, offset=100, gain=0.1, em_gain=100, qe=0.9, read_noise_e=50)
    models = {m: LocalizationModel(DEFAULT_MODELS[m], threads=args.threads) for m in ("deepstorm", "decode")}
    rows = []
    for label, density in DENSITIES.items():
        data = simulate_smlm(SMLMConfig(shape=(64, 64), num_frames=args.frames, density=density,
                                        structure="filaments", seed=2024))
        runs = {"mle": lambda: localize_mle(data.frames, camera=camera, pixel_size_nm=100, sigma_nm=130)}
        for m, model in models.items():
            runs[m] = (lambda model=model: localize_network(data.frames, model, camera=camera, pixel_size_nm=100))
        for method, run in runs.items():
            run() if method != "mle" else None  # warm-up (session init, caches)
            t0 = time.perf_counter()
            table = run()
            dt = time.perf_counter() - t0
            score = score_localizations(data.truth, table, radius_nm=250)
            rows.append({"density": label, "density_per_um2": density, "method": method,
                         "ground_truth": len(data.truth), "localizations": len(table),
                         **score.to_dict(), "ms_per_frame": round(1000 * dt / args.frames, 2)})
            print(f"{label:6s} {method:9s} J={score.jaccard:.3f} RMSE={score.rmse_lateral_nm:.1f} nm "
                  f"E={score.efficiency_lateral:.3f} {1000 * dt / args.frames:.1f} ms/frame", flush=True)

    def get(d, m, k):
        return next(r[k] for r in rows if r["density"] == d and r["method"] == m)

    best_net_high = max(get("high", m, "jaccard") for m in models)
    result = {
        "description": " ".join(__doc__.strip().split("\n\n")[0].split()),
        "setup": {"frames_per_density": args.frames, "frame_px": [64, 64], "pixel_size_nm": 100, "psf_sigma_nm": 130,
                  "photons_mean": 2000, "background_photons": 20, "camera": "EMCCD (gain 100)", "structure": "filaments",
                  "match_radius_nm": 250, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
                  "providers": {m: models[m].provider for m in models},
                  "models": {m: DEFAULT_MODELS[m].name for m in models}},
        "rows": rows,
        "ratios": {
            "jaccard_high_density_over_fit": round(best_net_high / max(get("high", "mle", "jaccard"), 1e-9), 3),
            "jaccard_high_density_deepstorm_over_fit": round(get("high", "deepstorm", "jaccard") / max(get("high", "mle", "jaccard"), 1e-9), 3),
            "jaccard_high_density_decode_over_fit": round(get("high", "decode", "jaccard") / max(get("high", "mle", "jaccard"), 1e-9), 3),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "localize.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# SMLM localisation benchmark", "", result["description"], "",
             f"{args.frames} frames of 64×64 px per density, filaments, EMCCD, 250 nm matching radius, "
             f"{args.threads} CPU threads (shared machine: timings are indicative).", "",
             "| density (/µm²) | method | Jaccard | recall | precision | RMSE lateral (nm) | efficiency | ms/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['density']} ({r['density_per_um2']}) | {r['method']} | {r['jaccard']:.3f} | {r['recall']:.3f} | "
                     f"{r['precision']:.3f} | {r['rmse_lateral_nm']:.1f} | {r['efficiency_lateral']:.3f} | {r['ms_per_frame']} |")
    lines += ["", f"Jaccard at high density, best network / MLE fit: {result['ratios']['jaccard_high_density_over_fit']}", ""]
    (args.out / "localize.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'localize.json'} and localize.md")


if __name__ == "__main__":
    main()
