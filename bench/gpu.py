#!/usr/bin/env python3
"""GPU figures: the same fluorecon code on CUDA and on the CPU of the same machine, side by side.

Run on a machine with a CUDA device (this project borrows one for a few minutes per session;
`bench/gpu_device.sh` is the script that runs there). Every section times one task at a stated
size on CPU (all cores) and on CUDA in the same process and records the ratio; a section that
cannot run records why instead of a figure. Writes bench/results/gpu.json and gpu.md (or the
folder given with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import traceback
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, *, repeats: int, sync: bool) -> float:
    """Best wall time of `repeats` calls after one warm-up (CUDA synchronised around each)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def deconvolution(quick: bool) -> dict:
    from skimage.restoration import richardson_lucy as skimage_rl

    from fluorecon.imaging.psf import psf_widefield
    from fluorecon.tasks.deconvolve.classical import richardson_lucy

    shape = (32, 128, 128) if quick else (128, 512, 512)
    rng = np.random.default_rng(0)
    image = rng.poisson(50.0, size=shape).astype(np.float32)
    psf = psf_widefield((33, 33, 33), pixel_size_nm=100.0, z_step_nm=200.0, na=1.2, wavelength_nm=520.0,
                        ni=1.33).astype(np.float32)
    iters = 10
    out = {"shape_zyx": list(shape), "psf_shape": list(psf.shape), "iterations": iters}
    for device in ("cpu", "cuda"):
        t = timed(lambda d=device: richardson_lucy(image, psf, num_iter=iters, device=d), repeats=2,
                  sync=device == "cuda")
        out[f"s_per_iter_{device}"] = t / iters
    small = image[: min(32, shape[0]), :128, :128]
    t = timed(lambda: skimage_rl(small, psf, num_iter=3, clip=False), repeats=1, sync=False)
    ours_cpu_small = timed(lambda: richardson_lucy(small, psf, num_iter=3, device="cpu"), repeats=1, sync=False)
    out["skimage_s_per_iter_small"] = t / 3
    out["ours_cpu_s_per_iter_small"] = ours_cpu_small / 3
    out["small_shape_zyx"] = list(small.shape)
    out["cuda_speedup_over_cpu"] = out["s_per_iter_cpu"] / out["s_per_iter_cuda"]
    return out


def training(quick: bool) -> dict:
    from fluorecon.nets.unet import UNet, UNetConfig
    from fluorecon.tasks.denoise.selfsupervised import train_blind_spot
    from fluorecon.train import TrainConfig

    rng = np.random.default_rng(0)
    images = [rng.normal(size=(256, 256)).astype(np.float32) for _ in range(4)]
    out = {"patch": [64, 64], "batch": 16, "unet": "depth 2, 32 filters, no residual"}
    for device in ("cpu", "cuda"):
        steps = 20 if device == "cpu" else (50 if quick else 200)
        for method, pooling, skip_top in (("n2v", "max", True), ("n2v2", "blurpool", False)):
            config = TrainConfig(steps=steps, batch_size=16, patch_size=(64, 64), device=device, amp=True)
            try:
                net = UNet(UNetConfig(ndim=2, depth=2, filters=32, residual=False, pooling=pooling, skip_top=skip_top))
            except Exception:  # an older UNetConfig without the N2V2 options
                if method == "n2v2":
                    continue
                net = UNet(UNetConfig(ndim=2, depth=2, filters=32, residual=False))
            train_blind_spot(net, images, config.model_copy(update={"steps": 3}), method="n2v", progress=False)
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            train_blind_spot(net, images, config, method="n2v", progress=False)
            if device == "cuda":
                torch.cuda.synchronize()
            out[f"{method}_steps_per_s_{device}"] = steps / (time.perf_counter() - start)
    out["n2v_cuda_speedup_over_cpu"] = out["n2v_steps_per_s_cuda"] / out["n2v_steps_per_s_cpu"]
    return out


def sim(quick: bool) -> dict:
    from fluorecon.tasks.sim.physics import SIMConfig, simulate_sim_phantom
    from fluorecon.tasks.sim.classical import reconstruct_sim

    size = 256 if quick else 512  # raw frame side
    config = SIMConfig(mode="2d", image_shape=(2 * size, 2 * size))
    data = simulate_sim_phantom(config, seed=0, device="cpu")
    out = {"raw_shape": list(data.raw.shape), "estimate": True}
    for device in ("cpu", "cuda"):
        out[f"s_{device}"] = timed(lambda d=device: reconstruct_sim(data.raw, config, device=d), repeats=3,
                                   sync=device == "cuda")
    out["cuda_speedup_over_cpu"] = out["s_cpu"] / out["s_cuda"]
    return out


def lightfield(quick: bool) -> dict:
    from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig, LightFieldOptics
    from fluorecon.tasks.lightfield.classical import richardson_lucy_lightfield, simulate

    n = 9 if quick else 19
    config = LightFieldConfig(n_lenslets=(n, n), optics=LightFieldOptics(nnum=11))
    out = {"n_lenslets": [n, n], "nnum": 11}
    for device in ("cpu", "cuda"):
        physics = LightField.from_config(config, device=device)
        _, lf, _ = simulate(physics, seed=0)
        t = timed(lambda p=physics: richardson_lucy_lightfield(lf, p, num_iter=3), repeats=2, sync=device == "cuda")
        out[f"s_per_iter_{device}"] = t / 3
        out["volume_shape"] = list(physics.image_shape)
    out["cuda_speedup_over_cpu"] = out["s_per_iter_cpu"] / out["s_per_iter_cuda"]
    return out


SECTIONS = {"deconvolution": deconvolution, "training": training, "sim": sim, "lightfield": lightfield}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--table-only", action="store_true", help="rewrite gpu.md from gpu.json")
    args = parser.parse_args()
    if args.table_only:
        write_table(json.loads((args.out / "gpu.json").read_text()), args.out / "gpu.md")
        return
    if not torch.cuda.is_available():
        raise SystemExit("No CUDA device: bench/gpu.py only runs where torch.cuda.is_available().")
    result = {
        "bench": "gpu", "quick": args.quick,
        "machine": {"gpu": torch.cuda.get_device_name(0), "cpu_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "how": "same process, same data: CPU (all cores) then CUDA; best of repeats after a warm-up",
    }
    for name, fn in SECTIONS.items():
        start = time.perf_counter()
        try:
            result[name] = fn(args.quick)
        except Exception as err:  # record why a section could not run rather than losing the others
            result[name] = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-800:]}
        result[name]["section_s"] = round(time.perf_counter() - start, 1)
        print(name, json.dumps({k: v for k, v in result[name].items() if k != "trace"}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    write_table(result, args.out / "gpu.md")


def _size(name: str, r: dict) -> str:
    if name == "deconvolution":
        return "×".join(map(str, r["shape_zyx"])) + f", PSF {'×'.join(map(str, r['psf_shape']))}"
    if name == "training":
        return f"batch {r['batch']} of {r['patch'][0]}², {r['unet']}"
    if name == "sim":
        return f"raw {'×'.join(map(str, r['raw_shape']))}, pattern estimated"
    return f"{r['n_lenslets'][0]}² lenslets, Nnum {r['nnum']}, volume {'×'.join(map(str, r['volume_shape']))}"


def write_table(result: dict, path: Path) -> None:
    """The markdown table of gpu.json (rerun: python bench/gpu.py --table-only)."""
    lines = [f"# GPU figures ({result['machine']['gpu']}, torch {result['machine']['torch']}, "
             f"{result['machine']['cpu_threads']} CPU threads)", "",
             result["how"] + ". Written by bench/gpu.py, run by bench/gpu_device.sh on a borrowed machine.", "",
             "| section | size | CPU | CUDA | CUDA speed-up |", "|---|---|---|---|---|"]
    rows = [("deconvolution", "s_per_iter_cpu", "s_per_iter_cuda", "cuda_speedup_over_cpu", "RL s/iter"),
            ("training", "n2v_steps_per_s_cpu", "n2v_steps_per_s_cuda", "n2v_cuda_speedup_over_cpu", "N2V steps/s"),
            ("sim", "s_cpu", "s_cuda", "cuda_speedup_over_cpu", "2D SIM reconstruction s"),
            ("lightfield", "s_per_iter_cpu", "s_per_iter_cuda", "cuda_speedup_over_cpu", "LF RL s/iter")]
    for name, cpu, cuda, ratio, unit in rows:
        r = result[name]
        if "error" in r:
            lines.append(f"| {name} | — | — | — | not run: {r['error'][:80]} |")
        else:
            lines.append(f"| {unit} | {_size(name, r)} | {r[cpu]:.4g} | {r[cuda]:.4g} | {r[ratio]:.1f}× |")
    path.write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
