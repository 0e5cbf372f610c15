#!/usr/bin/env python3
"""Larger than memory (issue 15 §3 benchmark): a lazily generated OME-Zarr volume (uint16 Poisson-noisy blobs,
written chunk by chunk, never held) through block-wise CARE prediction (models/care_denoise_2d.onnx, plane-wise)
and block-wise Richardson–Lucy; each streamed run in its own process, whose peak RSS is read from the kernel
(ru_maxrss). Throughput is compared with the in-memory path (read_image + Predictor.predict / deconvolve_image,
the same block plan) on a volume that fits, in the same process type. Not a test: `make bench` runs it and writes
bench/results/streaming.json and streaming.md. The volume is deleted afterwards.

    python bench/streaming.py --gb 20        # the issue's target size (hours on 2 shared cores)
    python bench/streaming.py --gb 1 --fit-gb 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODEL = ROOT / "models" / "care_denoise_2d.onnx"
PLANE = 1024  # YX side of the generated volume
# chunks 64: the server's 3D block (tasks/deconvolve/job.py). 256 cuts a 48-plane 1024² stack into blocks of
# 48×(256+halo)² and peaked at 4.13 GiB RSS in the 2026-12-06 run (bench/results/streaming.json, chunks 256).
RL = {"method": "rl", "num_iter": 10, "na": 1.2, "wavelength_nm": 520, "chunks": 64}
TASKS = ("predict", "deconvolve")
TARGETS = {"peak_rss_gib": 4.0, "throughput_ratio": 0.9, "input_gb": 20.0}


BANK = 16  # distinct clean planes; each written plane is one of them, shifted, with its own Poisson noise


def generate(path: Path, gb: float, seed: int = 0) -> dict:
    """Write a (Z, 1024, 1024) uint16 OME-Zarr of about `gb` GB plane by plane (one plane in memory at a time).

    Plane z is a bank plane (40 Gaussian blobs, 16 made once) rolled by a seeded offset, with Poisson noise drawn for
    that plane: 40 full-plane exponentials per plane had made a 20 GB volume take ~50 min to write on 2 cores."""
    from fluorecon.core.io import TiffMeta
    from fluorecon.core.streaming import zarr_writer

    planes = max(1, int(round(gb * 1e9 / (PLANE * PLANE * 2))))
    meta = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
    yy, xx = np.mgrid[:PLANE, :PLANE].astype(np.float32)
    bank = []
    for b in range(min(BANK, planes)):
        cy, cx = np.random.default_rng(seed + b).uniform(0, PLANE, (2, 40))
        bank.append(20 + sum(300 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 60) for y, x in zip(cy, cx)))
    start = time.perf_counter()
    with zarr_writer(path, (planes, PLANE, PLANE), meta, chunks=(1, 512, 512), dtype=np.uint16) as out:
        for z in range(planes):
            rng = np.random.default_rng(seed + z)
            clean = np.roll(bank[z % len(bank)], tuple(rng.integers(0, PLANE, 2)), axis=(0, 1))
            out[z] = rng.poisson(clean).astype(np.uint16)
            if planes >= 1000 and (z + 1) % 1000 == 0:
                print(f"[streaming] generated {z + 1}/{planes} planes ({time.perf_counter() - start:.0f} s)", flush=True)
    return {"shape": [planes, PLANE, PLANE], "dtype": "uint16", "input_gb": planes * PLANE * PLANE * 2 / 1e9}


def worker(args) -> None:
    """One run in this process; prints a JSON line with seconds and peak RSS."""
    import contextlib

    from fluorecon.core.io import read_image, write_image
    from fluorecon.core.streaming import open_lazy
    from fluorecon.infer import get_predictor, predict_to_zarr
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams, deconvolve_image
    from fluorecon.tasks.deconvolve.streaming import deconvolve_to_zarr

    spec = DeconvolveSpec(method=RL["method"], num_iter=RL["num_iter"],
                          psf=PSFParams(na=RL["na"], wavelength_nm=RL["wavelength_nm"]))
    predictor = get_predictor(MODEL, device="cpu")
    start = time.perf_counter()
    if args.mode == "stream":
        with open_lazy(args.input) as (data, meta):
            if args.task == "predict":
                predict_to_zarr(predictor, data, meta, args.output, device="cpu")
            else:
                deconvolve_to_zarr(data, meta, spec, args.output, chunks=RL["chunks"], device="cpu")
    else:  # in memory: read whole, the same block plan in memory, write whole
        image, meta = read_image(args.input)
        if args.task == "predict":
            result = predictor.predict(image, axes=meta.axes)
        else:
            result, _ = deconvolve_image(image, meta, spec, chunks=RL["chunks"], device="cpu")
        with contextlib.suppress(Exception):
            write_image(args.output, result, meta)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak}))


def run(task: str, mode: str, source: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, __file__, "--worker", task, mode, str(source), str(out)],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=20.0, help="size of the streamed volume (uint16 GB)")
    parser.add_argument("--fit-gb", type=float, default=0.1, help="size of the volume run both ways for the ratio")
    parser.add_argument("--rl-gb", type=float, default=None, help="streamed RL volume size (default: --gb)")
    parser.add_argument("--work", type=Path, default=BENCH / ".work", help="folder for the volumes (git-ignored)")
    parser.add_argument("--why", default="", help="why --gb is below the target, recorded in the json")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("FLUORECON_BENCH_RESULTS",
                                                                         BENCH / "results")))
    parser.add_argument("--rounds", type=int, default=1,
                        help="in-memory/streamed pairs on the fitting volume, alternating order (ratio: median)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS),
                        help="tasks to run; the others' rows are carried over from the existing streaming.json "
                             "(marked with its date)")
    parser.add_argument("--name", default="streaming",
                        help="results/<name>.json and .md (e.g. streaming-20gb: the target-size run beside make bench's)")
    parser.add_argument("--worker", nargs=4, metavar=("TASK", "MODE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        task, mode, source, output = args.worker
        worker(argparse.Namespace(task=task, mode=mode, input=source, output=output))
        return
    load_start = os.getloadavg()
    args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fluorecon-streaming-", dir=args.work))
    ratios, big, volumes, carried = {}, {}, {}, {}
    try:
        fit = generate(work / "fit.zarr", args.fit_gb)
        for task in args.tasks:
            rounds = []
            for r in range(args.rounds):
                # In memory and streamed alternate who goes first, so neither always meets the busier machine.
                order = ("memory", "stream") if r % 2 == 0 else ("stream", "memory")
                runs = {mode: run(task, mode, work / "fit.zarr", work / f"{mode}.zarr") for mode in order}
                rounds.append((runs["memory"], runs["stream"]))
            per_round = [m["seconds"] / s["seconds"] for m, s in rounds]
            stream = {"seconds": statistics.median(s["seconds"] for _, s in rounds),
                      "peak_rss_gib": max(s["peak_rss_gib"] for _, s in rounds),
                      "runs_s": [s["seconds"] for _, s in rounds]}
            ratios[task] = {"in_memory_s": statistics.median(m["seconds"] for m, _ in rounds),
                            "streamed_s": stream["seconds"],
                            "throughput_ratio": statistics.median(per_round),
                            "throughput_ratio_per_round": per_round,
                            "in_memory_peak_rss_gib": max(m["peak_rss_gib"] for m, _ in rounds),
                            "streamed_peak_rss_gib": max(s["peak_rss_gib"] for _, s in rounds)}
            if task == "deconvolve" and (args.rl_gb or args.gb) == args.fit_gb:
                big[task], volumes[task] = stream, fit  # the streamed run of that size was just made
        shutil.rmtree(work / "fit.zarr")
        for task in args.tasks:
            if task in big:
                continue
            gb = args.rl_gb if task == "deconvolve" and args.rl_gb is not None else args.gb
            if volumes.get("size") != gb:
                shutil.rmtree(work / "large.zarr", ignore_errors=True)
                volumes["large"], volumes["size"] = generate(work / "large.zarr", gb), gb
            big[task], volumes[task] = run(task, "stream", work / "large.zarr", work / "out.zarr"), volumes["large"]
        for task in args.tasks:
            volume = volumes[task]
            big[task].update(input_gb=volume["input_gb"], shape=volume["shape"],
                             mpix_per_s=np.prod(volume["shape"]) / 1e6 / big[task]["seconds"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    previous_path = args.out / f"{args.name}.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else {}
    fits = {"predict": None, "deconvolve": None}
    for task in TASKS:
        if task in args.tasks:
            fits[task] = {"volume_gb": fit["input_gb"], "shape": fit["shape"]}
            continue
        # A task not rerun keeps its recorded rows, marked as such (never passed off as this run's).
        old_fit = previous.get("in_memory_vs_streamed", {})
        if task not in previous.get("streamed", {}) or task not in old_fit:
            raise SystemExit(f"No recorded {task} rows in {previous_path} to carry over; run it with --tasks {task} "
                             f"(or copy streaming.json to {previous_path.name} first).")
        big[task], ratios[task] = previous["streamed"][task], old_fit[task]
        fits[task] = {key: old_fit[task].get(key, old_fit.get(key)) for key in ("volume_gb", "shape")}
        carried[task] = (previous.get("carried_over") or {}).get(task) or {
            "date": previous.get("date"), "settings": previous.get("settings"), "load_average": previous.get("load_average")}
    for task in TASKS:
        ratios[task] = {**fits[task], **ratios[task]}
    import onnxruntime
    import torch

    results = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "machine": {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count(),
                    "python": platform.python_version(), "onnxruntime_python": onnxruntime.__version__,
                    "torch": torch.__version__},
        "input_gb": max(r["input_gb"] for r in big.values()),
        "peak_rss_gib": max(r["peak_rss_gib"] for r in big.values()),
        "throughput_ratio": min(r["throughput_ratio"] for r in ratios.values()),
        "volume": {"generated": "OME-Zarr, uint16, Poisson noise on Gaussian blobs (16 clean planes, each plane one "
                   "of them rolled by a seeded offset), chunks 1×512×512, written plane by plane", "largest_shape": max((r["shape"] for r in big.values()), key=np.prod)},
        "streamed": big,
        "in_memory_vs_streamed": ratios,
        "carried_over": carried or None,
        "settings": {"model": str(MODEL.relative_to(ROOT)), "rl": RL, "device": "cpu"},
        "targets": TARGETS,
        "below_target": args.why or None,
    }
    results["estimate_at_target"] = estimate_target(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))


def estimate_target(r: dict) -> dict:
    """Hours the target volume would take here at each streamed run's measured rate (linear in voxels: the blocks are
    alike), and for RL the theoretical PSF it would build at that depth: cropped in z to the span holding
    `psf_energy` of its light (classical.bounded_depth; before the crop it spanned the stack and every block's halo
    was the whole volume), with the halo and the size of one block that follow."""
    from fluorecon.core.io import TiffMeta
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams, bounded_depth, default_overlap, \
        theoretical_psf_shape

    gb = r["targets"]["input_gb"]
    shape = [int(round(gb * 1e9 / (PLANE * PLANE * 2))), PLANE, PLANE]
    out = {"target_shape": shape, "hours_at_measured_rate": {
        task: round(gb / s["input_gb"] * s["seconds"] / 3600, 1) for task, s in r["streamed"].items()}}
    meta = {"z_step_nm": 300.0, "pixel_size_nm": 100.0}
    params = PSFParams(na=RL["na"], wavelength_nm=RL["wavelength_nm"])
    sizes = (meta["z_step_nm"], meta["pixel_size_nm"], meta["pixel_size_nm"])
    optics = dict(na=params.na, wavelength_nm=params.wavelength_nm, pixel_size_nm=sizes[-1], z_step_nm=sizes[0],
                  ni=params.ni, ns=params.ns)
    for key, spec in (("rl_theoretical_psf_at_target", DeconvolveSpec(psf=params)),
                      ("rl_theoretical_psf_at_target_extent_10um", DeconvolveSpec(psf=params, psf_extent_um=10))):
        report: dict = {}
        psf = theoretical_psf_shape(bounded_depth(shape, spec, sizes, optics, report), params, sizes)
        halo = default_overlap(psf, shape, RL["num_iter"])
        block = [min(RL["chunks"] + 2 * h, n) for h, n in zip(halo, shape)]
        out[key] = {
            "shape": list(psf), "gib_float32": round(float(np.prod(psf)) * 4 / 2**30, 2), "halo": list(halo),
            "block": block, "block_gib_float32": round(float(np.prod(block)) * 4 / 2**30, 2),
            # voxels read and deconvolved per voxel written, against the measured run's
            "block_over_core": round(float(np.prod(block)) / (RL["chunks"] * RL["chunks"] * min(RL["chunks"], shape[0])), 1),
            "uncropped_shape": list(theoretical_psf_shape(shape, params, sizes)),
            "crop": report.get("psf_crop", "").replace("{shape}", "×".join(map(str, psf)))}
    return out


def markdown(r: dict) -> str:
    lines = [f"# Streaming (block-wise, larger than memory) — {r['date']}", "",
             f"Load average at start {r['load_average']['start'][0]:.2f}, end {r['load_average']['end'][0]:.2f} "
             f"({r['machine']['logical_cores']} cores, shared).", "",
             "| run | input GB | seconds | Mpix/s | peak RSS GiB |", "|---|---|---|---|---|"]
    for task, s in r["streamed"].items():
        lines.append(f"| streamed {task} | {s['input_gb']:.2f} | {s['seconds']:.0f} | {s['mpix_per_s']:.2f} | "
                     f"{s['peak_rss_gib']:.2f} |")
    f = r["in_memory_vs_streamed"]
    lines += ["", "In memory vs streamed on a volume that fits:", "",
              "| task | volume | in memory s | streamed s | ratio (in memory / streamed) | RSS in memory | RSS streamed |",
              "|---|---|---|---|---|---|---|"]
    for task in TASKS:
        t = f[task]
        each = t.get("throughput_ratio_per_round") or []
        spread = f" (rounds {', '.join(f'{x:.2f}' for x in each)})" if len(each) > 1 else ""
        lines.append(f"| {task} | {t['volume_gb']:.3f} GB ({'×'.join(map(str, t['shape']))}) | {t['in_memory_s']:.1f} | "
                     f"{t['streamed_s']:.1f} | {t['throughput_ratio']:.2f}{spread} | {t['in_memory_peak_rss_gib']:.2f} | "
                     f"{t['streamed_peak_rss_gib']:.2f} |")
    for task, old in (r.get("carried_over") or {}).items():
        lines += ["", f"The {task} rows are carried over from the run of {old['date']} (load average at its start "
                  f"{old['load_average']['start'][0]:.2f}); not rerun here."]
    if r.get("estimate_at_target"):
        e = r["estimate_at_target"]
        psf = e["rl_theoretical_psf_at_target"]
        lines += ["", f"At the measured rates the {r['targets']['input_gb']:.0f} GB volume "
                  f"({'×'.join(map(str, e['target_shape']))}) would take "
                  + ", ".join(f"{h:g} h ({task})" for task, h in e["hours_at_measured_rate"].items())
                  + " here."]
        if "block" in psf:
            bounded = e["rl_theoretical_psf_at_target_extent_10um"]
            lines[-1] += (f" For RL that rate holds only for blocks like the measured run's. The theoretical PSF is "
                          f"now cropped in z (uncropped it would be {'×'.join(map(str, psf['uncropped_shape']))}, every "
                          f"block the whole volume): by default {'×'.join(map(str, psf['shape']))} "
                          f"({psf['gib_float32']:g} GiB as float32; {psf['crop']}), a halo of "
                          f"{'×'.join(map(str, psf['halo']))} and blocks of {'×'.join(map(str, psf['block']))} "
                          f"({psf['block_gib_float32']:g} GiB as float32, {psf['block_over_core']:g}× their core): "
                          f"bounded, but above the memory target; with `--psf-extent-um 10` "
                          f"{'×'.join(map(str, bounded['shape']))}, halo {'×'.join(map(str, bounded['halo']))}, blocks "
                          f"of {'×'.join(map(str, bounded['block']))} ({bounded['block_gib_float32']:g} GiB, "
                          f"{bounded['block_over_core']:g}× their core). Estimates, not run.")
        else:  # a run from before the crop
            lines[-1] += (f" For RL that assumes a PSF of bounded size: the theoretical PSF then spanned the stack, at "
                          f"that depth {'×'.join(map(str, psf['shape']))} ({psf['gib_float32']:g} GiB as float32) with "
                          f"a halo of {'×'.join(map(str, psf['halo']))}, i.e. every block would be the whole volume.")
    if r.get("below_target"):
        lines += ["", f"Below the {r['targets']['input_gb']:.0f} GB target: {r['below_target']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
