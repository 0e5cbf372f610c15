#!/usr/bin/env python3
"""Denoising benchmark: training speed (steps/s) and PSNR/SSIM at an equal step budget of
fluorecon's Noise2Void, N2V2 and CARE against CAREamics (N2V), the `n2v` package and csbdeep (CARE),
plus non-local means and BM3D, on the same simulated 2D and 3D data. Not a test: `make bench` runs
it and writes bench/results/denoise.json and denoise.md. See bench/README.md.

Every trainer runs in its own process (peers in their own venvs under bench/venvs/, created here
from bench/requirements-<peer>.txt), with the same thread count, U-Net depth, first-level filters,
kernel 3, patch size, batch size and number of optimizer steps; everything else is each tool's
default. Steps/s: 1 / mean wall time between the ends of consecutive training steps, after a
warm-up, leaving out epoch boundaries (validation, data-loader start) for the peers that have them.
PSNR/SSIM: against the noise-free truth, prediction and truth both normalized with the noisy test
image's percentiles (1, 99.8) — the units Fiji shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "denoise"
VENVS = BENCH / "venvs"
PEERS = {  # venv name -> (requirements file, worker script, extra args)
    "careamics": ("requirements-careamics.txt", "careamics_worker.py", []),
    "n2v": ("requirements-n2v.txt", "n2v_worker.py", ["--tool", "n2v"]),
    "csbdeep": ("requirements-csbdeep.txt", "n2v_worker.py", ["--tool", "csbdeep"]),
}
TARGETS = {"n2v_steps_over_careamics": 1.5, "n2v_psnr_minus_careamics_db": -0.2}
WARMUP = 3


# --- data ----------------------------------------------------------------------------------------

def make_data(ndim: int, *, n_train: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded simulated phantoms (fluorecon.tasks.denoise.learned.simulate_pairs): noisy low-photon inputs,
    high-photon targets (CARE) and the noise-free truth, in the input's ADU."""
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, simulate_pairs

    shape = (256, 256) if ndim == 2 else (32, 128, 128)
    sim = DenoiseSimulation(ndim=ndim, shape=shape, photons_low=15, photons_spread=1.5, seed=seed)
    pairs = simulate_pairs(sim, n=n_train + n_test)
    return {"low": np.stack([p.low for p in pairs]), "high": np.stack([p.high for p in pairs]),
            "clean": np.stack([p.clean for p in pairs]), "n_train": n_train,
            "simulation": sim.model_dump_json()}


def normalized(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    from fluorecon.core.normalize import normalize, percentile_range

    lo, hi = percentile_range(image, 1, 99.8)
    return normalize(image, lo, hi), lo, hi


def scores(preds: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> dict:
    """PSNR/SSIM of raw-unit predictions against the truth, both in the noisy image's normalization."""
    from fluorecon.core.normalize import normalize, percentile_range
    from fluorecon.qc.metrics import psnr, ssim
    from fluorecon.tasks.denoise.selfsupervised import checkerboard_energy

    p, s, cb = [], [], []
    for pred, x, y in zip(preds, noisy, clean):
        lo, hi = percentile_range(x, 1, 99.8)
        a, b = normalize(pred, lo, hi), normalize(y, lo, hi)
        p.append(psnr(a, b))
        s.append(ssim(a, b))
        cb.append(checkerboard_energy(a))
    return {"psnr_db": round(float(np.mean(p)), 3), "ssim": round(float(np.mean(s)), 4),
            "checkerboard_energy": float(f"{np.mean(cb):.3g}")}


# --- our trainers (run as a worker process: `denoise.py --worker ours ...`) ----------------------

def ours_worker(data: Path, pred: Path, opts: dict) -> dict:
    import torch

    torch.set_num_threads(opts["threads"])
    import fluorecon
    from fluorecon.core.normalize import denormalize
    from fluorecon.nets.unet import UNetConfig, build_network
    from fluorecon.tasks.denoise.selfsupervised import N2V2_UNET, MaskingConfig, train_blind_spot
    from fluorecon.train import TrainConfig, normalize_pair, predict_torch, train_network

    d = np.load(data)
    train, test = d["train"].astype(np.float32), d["test"].astype(np.float32)
    method = opts["method"]
    ndim = train.ndim - 1
    unet = UNetConfig(ndim=ndim, depth=opts["depth"], filters=opts["filters"], residual=method == "care")
    masking = MaskingConfig()
    if method == "n2v2":
        unet = unet.model_copy(update=N2V2_UNET)
        masking = MaskingConfig(replacement="median")
    config = TrainConfig(steps=opts["steps"], batch_size=opts["batch_size"], patch_size=tuple(opts["patch_size"]),
                         seed=opts["seed"], device="cpu", loss="l1" if method == "care" else "l2")
    torch.manual_seed(opts["seed"])
    net = build_network(unet)
    stamps: list[float] = []
    net.register_forward_pre_hook(lambda *_: stamps.append(time.perf_counter()))  # one forward per step
    t0 = time.perf_counter()
    if method == "care":
        pairs = [normalize_pair(x, y) for x, y in zip(train, d["target"].astype(np.float32))]
        train_network(net, pairs, config, progress=False)
    else:
        train_blind_spot(net, [normalized(x)[0] for x in train], config, method=method, masking=masking,
                         progress=False)
    wall = time.perf_counter() - t0
    stamps.append(t0 + wall)
    preds = []
    for x in test:
        xn, lo, hi = normalized(x)
        preds.append(denormalize(predict_torch(net, xn), lo, hi))
    np.save(pred, np.stack(preds))
    return {"step_seconds": [b - a for a, b in zip(stamps[:-1], stamps[1:])][: opts["steps"]],
            "steps_done": opts["steps"], "epochs": 1, "train_wall_s": wall,
            "versions": {"fluorecon": fluorecon.__version__, "torch": torch.__version__},
            "settings": {"optimizer": "AdamW lr 1e-3, cosine decay", "masking": masking.model_dump()
                         if method != "care" else None, "unet": unet.model_dump()}}


# --- running contenders ---------------------------------------------------------------------------

def ensure_venv(name: str) -> Path:
    """bench/venvs/<name> from requirements-<name>.txt (made on first use; minutes)."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        print(f"[bench] creating {VENVS / name} from {PEERS[name][0]} (minutes) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(BENCH / PEERS[name][0])], check=True)
    return python


def run_json(cmd: list[str], *, timeout: int, threads: int) -> dict:
    # Passive OpenMP waits for every process: torch's default spinning costs 2-4x on a shared CPU (measured here).
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE",
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=WORK)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(map(str, cmd[:3]))} ... failed (exit {proc.returncode}):\n"
                           + (proc.stdout + proc.stderr)[-3000:])
    return json.loads(lines[-1])


def contender(key: str, data: Path, opts: dict, noisy: np.ndarray, clean: np.ndarray, *, timeout: int) -> dict:
    pred = WORK / f"pred_{key}.npy"
    tool, _, method = key.partition(":")
    if tool == "fluorecon":
        cmd = [sys.executable, str(Path(__file__)), "--worker", "ours", "--data", str(data), "--pred", str(pred),
               "--opts", json.dumps({**opts, "method": method})]
    else:
        python = ensure_venv(tool)
        _, script, extra = PEERS[tool]
        cmd = [str(python), str(BENCH / script), *extra, "--data", str(data), "--pred", str(pred),
               "--opts", json.dumps(opts)]
    t0 = time.perf_counter()
    report = run_json(cmd, timeout=timeout, threads=opts["threads"])
    total = time.perf_counter() - t0
    preds = np.load(pred)
    if tool == "csbdeep":  # trained and predicted on normalized data (see n2v_worker.py): back to raw units
        preds = np.stack([p * max(hi - lo, 1e-6) + lo for p, (_, lo, hi) in zip(preds, map(normalized, noisy))])
    times = report["step_seconds"][WARMUP:] or report["step_seconds"]
    return {"steps_per_s": round(1 / statistics.mean(times), 3), "median_step_s": round(statistics.median(times), 4),
            "steps": report["steps_done"], "epochs": report["epochs"], "train_wall_s": round(report["train_wall_s"], 1),
            "process_wall_s": round(total, 1), "versions": report["versions"],
            **({"settings": report["settings"]} if "settings" in report else {}),
            **scores(preds, noisy, clean)}


def classical(method: str, noisy: np.ndarray, clean: np.ndarray) -> dict:
    from fluorecon.tasks.denoise.learned import denoise_classical

    t0 = time.perf_counter()
    preds = np.stack([denoise_classical(x, method=method) for x in noisy])
    return {"seconds_per_image": round((time.perf_counter() - t0) / len(noisy), 2), **scores(preds, noisy, clean)}


def bench_dim(ndim: int, args) -> dict:
    data = make_data(ndim, n_train=args.train_images, n_test=args.test_images, seed=args.seed + ndim)
    n = int(data["n_train"])
    low, high, clean = data["low"], data["high"], data["clean"]
    test, test_clean = low[n:], clean[n:]
    if ndim == 2:
        patch, batch, steps = (args.patch,) * 2, args.batch, args.steps
    else:
        patch, batch, steps = (args.patch_3d[0], args.patch_3d[1], args.patch_3d[1]), args.batch_3d, args.steps_3d
    opts = {"steps": steps, "batch_size": batch, "patch_size": list(patch), "depth": args.depth,
            "filters": args.filters, "threads": args.threads, "seed": args.seed}
    raw = WORK / f"data{ndim}d.npz"
    np.savez(raw, train=low[:n], test=test)
    # CARE (both implementations) trains on the same normalized pairs (fluorecon.train.normalize_pair).
    from fluorecon.train import normalize_pair

    care_pairs = [normalize_pair(x, y) for x, y in zip(low[:n], high[:n])]
    care_file = WORK / f"care{ndim}d.npz"
    np.savez(care_file, train=np.stack([x for x, _ in care_pairs]), target=np.stack([y for _, y in care_pairs]),
             test=np.stack([normalized(x)[0] for x in test]))
    np.savez(WORK / f"ours_care{ndim}d.npz", train=low[:n], target=high[:n], test=test)

    results: dict[str, dict] = {"input": scores(test, test, test_clean)}

    def attempt(key, fn):
        if any(key.startswith(s) or key.endswith(s) for s in args.skip):
            results[key] = {"error": "skipped (--skip)"}
            return
        print(f"[bench] {ndim}D {key} ...", flush=True)
        try:
            results[key] = fn()
            brief = {k: results[key][k] for k in ("steps_per_s", "psnr_db", "ssim", "seconds_per_image")
                     if k in results[key]}
            print(f"[bench] {ndim}D {key}: {brief}", flush=True)
        except Exception as err:  # one contender failing (e.g. a peer will not install) must not hide the rest
            results[key] = {"error": f"{type(err).__name__}: {err}"[-2000:]}
            print(f"[bench] {ndim}D {key} failed: {results[key]['error']}", flush=True)

    timeout = args.timeout
    attempt("fluorecon:n2v", lambda: contender("fluorecon:n2v", raw, opts, test, test_clean, timeout=timeout))
    attempt("careamics:n2v", lambda: contender("careamics:n2v", raw, opts, test, test_clean, timeout=timeout))
    attempt("fluorecon:n2v2", lambda: contender("fluorecon:n2v2", raw, opts, test, test_clean, timeout=timeout))
    if ndim == 2 or args.all_3d:
        attempt("n2v:n2v", lambda: contender("n2v:n2v", raw, opts, test, test_clean, timeout=timeout))
        attempt("fluorecon:care", lambda: contender("fluorecon:care", WORK / f"ours_care{ndim}d.npz", opts, test,
                                                    test_clean, timeout=timeout))
        attempt("csbdeep:care", lambda: contender("csbdeep:care", care_file, opts, test, test_clean,
                                                  timeout=timeout))
    attempt("nlm", lambda: classical("nlm", test, test_clean))
    if ndim == 2 or args.all_3d:
        attempt("bm3d", lambda: classical("bm3d", test, test_clean))
    return {"data": {"simulation": json.loads(str(data["simulation"])), "train_images": n,
                     "test_images": int(len(test)), "shape": list(low.shape[1:])},
            "settings": opts, "results": results}


# --- report ---------------------------------------------------------------------------------------

LABELS = {"input": "noisy input", "fluorecon:n2v": "fluorecon N2V", "fluorecon:n2v2": "fluorecon N2V2",
          "careamics:n2v": "CAREamics N2V", "n2v:n2v": "n2v (TensorFlow) N2V", "fluorecon:care": "fluorecon CARE",
          "csbdeep:care": "csbdeep CARE", "nlm": "non-local means (scikit-image)", "bm3d": "BM3D (bm3d package)"}


def ratio(res: dict, a: str, b: str, key: str, *, diff: bool = False):
    ra, rb = res.get(a, {}), res.get(b, {})
    if key not in ra or key not in rb:
        return None
    return round(ra[key] - rb[key], 3) if diff else round(ra[key] / rb[key], 3)


def machine() -> dict:
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version()}


def markdown(report: dict) -> str:
    lines = [f"# Denoising benchmark ({report['date']})", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['logical_cores']} logical cores, "
             f"{report['threads']} threads per trainer; load average {report['load_average']} at the start. "
             "Generated by `python bench/denoise.py` (`make bench`).", ""]
    for dim, block in report["dims"].items():
        s = block["settings"]
        lines += [f"## {dim}: {block['data']['train_images']} training images {block['data']['shape']}, "
                  f"{block['data']['test_images']} test images", "",
                  f"U-Net depth {s['depth']}, {s['filters']} first-level filters, kernel 3; patch "
                  f"{'x'.join(map(str, s['patch_size']))}, batch {s['batch_size']}, {s['steps']} steps for every trainer.",
                  "", "| method | steps/s | PSNR (dB) | SSIM | checkerboard | train wall (s) | version |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for key, label in LABELS.items():
            r = block["results"].get(key)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {label} | — | — | — | — | — | {r['error'].splitlines()[0][:90]} |")
                continue
            version = ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items())
            sps = f"{r['steps_per_s']:.2f}" if "steps_per_s" in r else "—"
            wall = f"{r['train_wall_s']:.0f}" if "train_wall_s" in r else (
                f"{r['seconds_per_image']:.1f} s/image" if "seconds_per_image" in r else "—")
            lines.append(f"| {label} | {sps} | {r['psnr_db']:.2f} | {r['ssim']:.3f} | {r['checkerboard_energy']:.2e} | "
                         f"{wall} | {version} |")
        lines.append("")
    lines += ["| figure | value | target | met |", "| --- | ---: | ---: | :---: |"]
    for key, target in TARGETS.items():
        value = report["ratios"].get(key)
        ok = report["meets_targets"].get(key)
        lines.append(f"| {key} (2D) | {value if value is not None else '—'} | >= {target} | "
                     f"{'yes' if ok else ('no' if ok is False else '—')} |")
    lines += ["", "Each tool keeps its own optimizer and masking defaults (see denoise.json `settings`); at a short "
              "budget the learning rate dominates PSNR. Steps/s leaves out epoch boundaries for the peers. "
              "Checkerboard: share of the output's spectral power at the Nyquist corners "
              "(`fluorecon.tasks.denoise.selfsupervised.checkerboard_energy`; N2V's artefacts live there)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=80, help="optimizer steps per 2D trainer")
    p.add_argument("--steps-3d", type=int, default=16, help="optimizer steps per 3D trainer")
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--patch-3d", type=int, nargs=2, default=[16, 32], metavar=("Z", "YX"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--batch-3d", type=int, default=4)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-images", type=int, default=8)
    p.add_argument("--test-images", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dims", nargs="+", type=int, default=[2, 3], choices=[2, 3])
    p.add_argument("--all-3d", action="store_true", help="also run n2v, both CAREs and BM3D in 3D (slow)")
    p.add_argument("--skip", nargs="*", default=[], help="contenders to leave out, e.g. careamics n2v csbdeep bm3d")
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("--worker", choices=["ours"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--pred", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--opts", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(ours_worker(args.data, args.pred, json.loads(args.opts))), flush=True)
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "threads": args.threads, "load_average": [round(x, 2) for x in os.getloadavg()], "dims": {}}
    for ndim in args.dims:
        report["dims"][f"{ndim}D"] = bench_dim(ndim, args)
    r2 = report["dims"].get("2D", {}).get("results", {})
    r3 = report["dims"].get("3D", {}).get("results", {})
    report["ratios"] = {
        "n2v_steps_over_careamics": ratio(r2, "fluorecon:n2v", "careamics:n2v", "steps_per_s"),
        "n2v_psnr_minus_careamics_db": ratio(r2, "fluorecon:n2v", "careamics:n2v", "psnr_db", diff=True),
        "n2v_steps_over_n2v_package": ratio(r2, "fluorecon:n2v", "n2v:n2v", "steps_per_s"),
        "n2v_psnr_minus_n2v_package_db": ratio(r2, "fluorecon:n2v", "n2v:n2v", "psnr_db", diff=True),
        "care_steps_over_csbdeep": ratio(r2, "fluorecon:care", "csbdeep:care", "steps_per_s"),
        "care_psnr_minus_csbdeep_db": ratio(r2, "fluorecon:care", "csbdeep:care", "psnr_db", diff=True),
        "n2v2_psnr_minus_n2v_db": ratio(r2, "fluorecon:n2v2", "fluorecon:n2v", "psnr_db", diff=True),
        "n2v_steps_over_careamics_3d": ratio(r3, "fluorecon:n2v", "careamics:n2v", "steps_per_s"),
        "n2v_psnr_minus_careamics_db_3d": ratio(r3, "fluorecon:n2v", "careamics:n2v", "psnr_db", diff=True),
    }
    report["meets_targets"] = {k: (report["ratios"][k] >= t if report["ratios"][k] is not None else None)
                               for k, t in TARGETS.items()}
    report["total_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "denoise.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "denoise.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
