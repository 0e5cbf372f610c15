"""SMLM benchmark: Jaccard, lateral RMSE, efficiency and time per frame of the classical MLE fit,
Deep-STORM and the DECODE-style network at low / medium / high emitter density.

    .venv/bin/python bench/localize.py [--frames 100] [--threads 2] [--rounds 5] [--plugin-frames 10000]

Data: simulated 64×64-pixel EMCCD frames (100 nm pixels, σ_PSF 130 nm, 2000 photons, 20
background photons/pixel) of emitters on FILAMENTS (the networks were trained on uniformly spread
emitters, so this is also a shift in structure). Matching: SMLM Challenge 2016 style, Hungarian
pairing within 250 nm. Then frames/s of the Fiji plugin's `Localize (SMLM)...` (Deep-STORM,
headless JVM through the JPype bridge, bench/smlm_plugin_worker.py) on a 64×64×`--plugin-frames`
stack, next to the Python `localize_network` (what `fluorecon localize` runs) and the whole
`fluorecon localize` command on the same stack. Writes bench/results/smlm.json and smlm.md (the
issue's names; top level `ratios.jaccard_high_density_over_fit` and `plugin_frames_per_s`) and the
accuracy table alone as localize.json / localize.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from harness import Bench, Contender, figure, interleave, ratio  # noqa: E402  (bench/ is not a package)
DENSITIES = {"low": 0.1, "medium": 0.8, "high": 2.5}  # emitters on per µm² per frame
DECODE_VENV = ROOT / "bench" / "venvs" / "decode"

# The DECODE package (Speiser et al., Nat. Methods 18, 1082 (2021); TuragaLab/DECODE, v0.10.1dev1)
# as a peer: what installing it here found (2026-11-26, PyPI + Debian reachable, conda channels not).
DECODE_NOT_INSTALLABLE = [
    "PyPI `decode` is an unrelated package (`decode 2025.10.0`, 'DESHIMA code for data analysis', deshima-dev): "
    "pip install decode does not give the SMLM software.",
    "DECODE is distributed as a conda package only: `conda install decode -c turagalab -c pytorch -c conda-forge` "
    "(its setup.py says it is used for Colab wheels only); conda channels cannot be reached from this machine.",
    "Its conda recipe pins python >=3.7,<3.9, pytorch=1.7.1 and `spline=0.10.0` (TuragaLab's C++/CUDA cubic-spline "
    "PSF library, published on the turagalab conda channel only; PyPI `spline` 0.1-1.12 is an unrelated CI tool). "
    "This machine has Python 3.11 only, for which PyPI's oldest torch is 1.13.0.",
    "From source (the repository at its last commit), `import decode` fails at once: decode/__init__ imports "
    "decode.simulation, whose psf_kernel.py does `import spline` at module level, so even the Gaussian-PSF and "
    "network parts cannot be loaded without building spline from its C++/CUDA sources.",
]


def decode_peer() -> dict:
    """The DECODE package as a peer: present in bench/venvs/decode, or why it is not (checked, not assumed)."""
    python = DECODE_VENV / "bin" / "python"
    if python.is_file():
        probe = subprocess.run([str(python), "-c", "import decode, decode.neuralfitter; print(decode.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return {"installed": True, "version": probe.stdout.strip(),
                    "note": "installed, but no comparison run is wired up yet"}
        return {"installed": False, "error": probe.stderr.strip().splitlines()[-1:], "why": DECODE_NOT_INSTALLABLE}
    return {"installed": False, "why": DECODE_NOT_INSTALLABLE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved timing rounds (bench/harness.py).")
    parser.add_argument("--name", default="localize", help="Accuracy result name: results/<name>.json and .md.")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("FLUORECON_BENCH_RESULTS", ROOT / "bench" / "results")))
    parser.add_argument("--plugin-frames", type=int, default=10000, help="Frames of the speed stack (0 skips it).")
    parser.add_argument("--imagej", type=Path, default=None, help="ImageJ folder (default: a fresh one in a temp dir).")
    parser.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin" / "target" / "fluorecon_.jar")
    parser.add_argument("--peers-only", action="store_true", help="Only refresh the peers section of an existing "
                        "smlm.json / smlm.md (the DECODE package's install status).")
    args = parser.parse_args()
    if args.peers_only:
        old = json.loads((args.out / "smlm.json").read_text())
        result = {k: v for k, v in old.items() if k not in ("plugin_frames_per_s", "speed", "peers")}
        write_smlm(args.out, result, old.get("speed") or {})
        print(json.dumps(decode_peer(), indent=1))
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from fluorecon.tasks.localize.physics import SMLMConfig, simulate_smlm
    from fluorecon.qc.smlm_metrics import score_localizations
    from fluorecon.tasks.localize.learned import DEFAULT_MODELS, LocalizationModel, localize_mle, localize_network
    from fluorecon.imaging.noise import CameraNoise

    camera = CameraNoise(photons=1.0, offset=100, gain=0.1, em_gain=100, qe=0.9, read_noise_e=50)
    models = {m: LocalizationModel(DEFAULT_MODELS[m], threads=args.threads) for m in ("deepstorm", "decode")}
    bench = Bench(args.name, {"frames_per_density": args.frames, "rounds": args.rounds, "threads": args.threads,
                              "densities_per_um2": DENSITIES, "frame_px": [64, 64], "plugin_frames": args.plugin_frames})
    rows, timings = [], {}
    for label, density in DENSITIES.items():
        data = simulate_smlm(SMLMConfig(shape=(64, 64), num_frames=args.frames, density=density,
                                        structure="filaments", seed=2024))
        # work = the frames of one run (each run localizes the whole stack); every side runs in this process
        # with OMP_NUM_THREADS = --threads (the fit is vectorised numpy, the networks ONNX Runtime)
        contenders = [Contender("mle", lambda _: localize_mle(data.frames, camera=camera, pixel_size_nm=100,
                                                               sigma_nm=130), threads=args.threads)]
        for m, model in models.items():
            contenders.append(Contender(m, lambda _, model=model: localize_network(data.frames, model, camera=camera,
                                                                                    pixel_size_nm=100),
                                        threads=args.threads))
        print(f"{label} density ({density} /µm²)", flush=True)
        t = interleave(contenders, work=args.frames, rounds=args.rounds, unit="frame", warmup_work=args.frames, keep_outputs=True)
        timings[label] = t.to_json()
        for method in ("mle", *models):
            score = score_localizations(data.truth, t.outputs[method], radius_nm=250)  # deterministic: last round's
            ms = 1000 * statistics.median(t.per_unit_s[method])
            rows.append({"density": label, "density_per_um2": density, "method": method,
                         "ground_truth": len(data.truth), "localizations": len(t.outputs[method]),
                         **score.to_dict(), "ms_per_frame": round(ms, 2)})
            print(f"{label:6s} {method:9s} J={score.jaccard:.3f} RMSE={score.rmse_lateral_nm:.1f} nm "
                  f"E={score.efficiency_lateral:.3f} {ms:.1f} ms/frame (median of {args.rounds})", flush=True)
        for m in models:
            bench.add_figure(f"{m}_speed_over_mle_{label}", ratio(t, m, "mle"))

    def get(d, m, k):
        return next(r[k] for r in rows if r["density"] == d and r["method"] == m)

    for d in DENSITIES:
        for m in models:
            bench.add_figure(f"{m}_jaccard_over_mle_{d}", figure([get(d, m, "jaccard") / max(get(d, "mle", "jaccard"), 1e-9)],
                                                                 note="one deterministic value per density"))
    best_net_high = max(get("high", m, "jaccard") for m in models)
    result = {
        "description": " ".join(__doc__.strip().split("\n\n")[0].split()),
        "setup": {"frames_per_density": args.frames, "frame_px": [64, 64], "pixel_size_nm": 100, "psf_sigma_nm": 130,
                  "photons_mean": 2000, "background_photons": 20, "camera": "EMCCD (gain 100)", "structure": "filaments",
                  "match_radius_nm": 250, "threads": args.threads, "rounds": args.rounds,
                  "cpu": platform.processor() or platform.machine(),
                  "providers": {m: models[m].provider for m in models},
                  "models": {m: DEFAULT_MODELS[m].name for m in models}},
        "rows": rows,
        "timings": timings,
        "ratios": {
            "jaccard_high_density_over_fit": round(best_net_high / max(get("high", "mle", "jaccard"), 1e-9), 3),
            "jaccard_high_density_deepstorm_over_fit": round(get("high", "deepstorm", "jaccard") / max(get("high", "mle", "jaccard"), 1e-9), 3),
            "jaccard_high_density_decode_over_fit": round(get("high", "decode", "jaccard") / max(get("high", "mle", "jaccard"), 1e-9), 3),
        },
    }
    speed = plugin_speed(args, camera) if args.plugin_frames else {}
    args.out.mkdir(parents=True, exist_ok=True)
    write_smlm(args.out, result, speed)
    lines = [result["description"], "",
             f"{args.frames} frames of 64×64 px per density, filaments, EMCCD, 250 nm matching radius, "
             f"{args.threads} CPU threads for every method; ms/frame is the median of "
             f"{args.rounds} interleaved rounds (bench/harness.py), scores are per density (deterministic).", "",
             "| density (/µm²) | method | Jaccard | recall | precision | RMSE lateral (nm) | efficiency | ms/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['density']} ({r['density_per_um2']}) | {r['method']} | {r['jaccard']:.3f} | {r['recall']:.3f} | "
                     f"{r['precision']:.3f} | {r['rmse_lateral_nm']:.1f} | {r['efficiency_lateral']:.3f} | {r['ms_per_frame']} |")
    lines += ["", f"Jaccard at high density, best network / MLE fit: {result['ratios']['jaccard_high_density_over_fit']}", ""]
    bench.results = args.out
    bench.write("# SMLM localisation benchmark\n\n" + "\n".join(lines), **result)
    print(f"wrote {args.out / 'localize.json'} and localize.md")


def plugin_speed(args, camera) -> dict:
    """Frames/s of the plugin (own JVM), of `localize_network` in this process and of the CLI."""
    import numpy as np
    import tifffile

    from fluorecon.tasks.localize.physics import SMLMConfig, simulate_smlm
    from fluorecon.tasks.localize.learned import DEFAULT_MODELS, LocalizationModel, localize_network

    work = Path(tempfile.mkdtemp(prefix="fluorecon-smlm-bench-"))
    frames = simulate_smlm(SMLMConfig(shape=(64, 64), num_frames=args.plugin_frames, density=0.8,
                                      structure="filaments", seed=7)).frames.astype(np.float32)
    np.save(work / "stack.npy", frames)
    tifffile.imwrite(work / "stack.tif", frames, imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    imagej = args.imagej or work / "imagej"
    if not (imagej / "plugins" / "fluorecon_.jar").is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(imagej),
                        "--plugin-jar", str(args.plugin_jar), "--deps", str(args.plugin_jar.parent / "deps")],
                       check=True, capture_output=True)
    model_path = DEFAULT_MODELS["deepstorm"]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "smlm_plugin_worker.py"), "--imagej", str(imagej),
                           "--model", str(model_path), "--stack", str(work / "stack.npy"), "--csv",
                           str(work / "plugin.csv"), "--threads", str(args.threads), "--batch", "16"],
                          capture_output=True, text=True, timeout=3600)
    plugin = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {"error": done.stderr[-2000:]}
    print("plugin", plugin, flush=True)

    model = LocalizationModel(model_path, threads=args.threads)
    localize_network(frames[:32], model, camera=camera, pixel_size_nm=100)  # warm-up
    t0 = time.perf_counter()
    table = localize_network(frames, model, camera=camera, pixel_size_nm=100)
    py_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "fluorecon.cli", "localize", str(work / "stack.tif"),
                          str(work / "cli.csv"), "--method", "deepstorm", "--background", "100",
                          "--camera-gain", "0.1", "--em-gain", "100", "--qe", "0.9"],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    cli_s = time.perf_counter() - t0
    n = len(frames)
    out = {"frames": n, "frame_px": [64, 64], "density_per_um2": 0.8, "method": "deepstorm", "threads": args.threads,
           "plugin_seconds": round(plugin["seconds"], 3) if "seconds" in plugin else None,
           "plugin_frames_per_s": round(n / plugin["seconds"], 1) if "seconds" in plugin else None,
           "plugin_localizations": plugin.get("localizations"), "plugin_error": plugin.get("error"),
           "python_seconds": round(py_s, 3), "python_frames_per_s": round(n / py_s, 1),
           "python_localizations": len(table),
           "cli_seconds_with_startup": round(cli_s, 3) if cli.returncode == 0 else None,
           "cli_frames_per_s_with_startup": round(n / cli_s, 1) if cli.returncode == 0 else None,
           "cli_error": None if cli.returncode == 0 else cli.stderr[-2000:]}
    print("speed", out, flush=True)
    return out


def write_smlm(out_dir: Path, result: dict, speed: dict) -> None:
    peer = decode_peer()
    smlm = {**result, "plugin_frames_per_s": speed.get("plugin_frames_per_s"), "speed": speed,
            "peers": {"decode_package": peer}}
    (out_dir / "smlm.json").write_text(json.dumps(smlm, indent=1) + "\n")
    rows = result["rows"]
    lines = ["# SMLM benchmark", "", result["description"], "",
             f"Accuracy: {result['setup']['frames_per_density']} frames of 64×64 px per density, filaments, EMCCD, "
             f"250 nm matching radius, {result['setup']['threads']} CPU threads (shared 2-core machine: timings are "
             "indicative).", "",
             "| density (/µm²) | method | Jaccard | recall | precision | RMSE lateral (nm) | efficiency | ms/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['density']} ({r['density_per_um2']}) | {r['method']} | {r['jaccard']:.3f} | {r['recall']:.3f} | "
                     f"{r['precision']:.3f} | {r['rmse_lateral_nm']:.1f} | {r['efficiency_lateral']:.3f} | {r['ms_per_frame']} |")
    ratios = result["ratios"]
    lines += ["", f"Jaccard at high density, best network / MLE fit (`ratios.jaccard_high_density_over_fit`): "
                  f"**{ratios['jaccard_high_density_over_fit']}** (Deep-STORM {ratios['jaccard_high_density_deepstorm_over_fit']}, "
                  f"DECODE-style {ratios['jaccard_high_density_decode_over_fit']}).", ""]
    if speed:
        lines += [f"## Speed: Deep-STORM on a 64×64×{speed['frames']} stack (one timed run each, not on the harness) ({speed['threads']} threads)", "",
                  "| runner | seconds | frames/s | localisations |", "|---|---|---|---|",
                  f"| Fiji plugin `Localize (SMLM)...` (headless JVM, JPype bridge; time around the plugin's run, "
                  f"after a warm-up) | {speed['plugin_seconds']} | **{speed['plugin_frames_per_s']}** | "
                  f"{speed['plugin_localizations']} |",
                  f"| Python `localize_network` (what `fluorecon localize` runs; after a warm-up) | "
                  f"{speed['python_seconds']} | {speed['python_frames_per_s']} | {speed['python_localizations']} |",
                  f"| `fluorecon localize` command (whole process: start-up, TIFF read, CSV write) | "
                  f"{speed['cli_seconds_with_startup']} | {speed['cli_frames_per_s_with_startup']} | |", ""]
    else:
        lines += ["## Speed of the Fiji plugin: not run in this run (`--plugin-frames 0`)", ""]
    lines += ["## Peer: the DECODE package", ""]
    if peer["installed"]:
        lines += [f"DECODE {peer['version']} is installed in bench/venvs/decode ({peer['note']}).", ""]
    else:
        lines += ["Not compared: DECODE (Speiser et al. 2021, TuragaLab) does not install here, so the 'decode' "
                  "rows above are our DECODE-style network (fluorecon.nets.localization), not the package. Why:", ""]
        lines += [f"- {why}" for why in peer["why"]] + [""]
    (out_dir / "smlm.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
