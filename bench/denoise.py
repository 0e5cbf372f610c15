#!/usr/bin/env python3
"""Denoising benchmark on bench/harness.py: training speed (steps/s) of fluorecon's Noise2Void
against CAREamics, interleaved over rounds at equal threads and equal network/patch/batch; and
quality at an equal wall-clock training budget (`--budget-min`) of fluorecon N2V vs CAREamics N2V
and fluorecon CARE vs csbdeep CARE, each peer both at its own recommended settings and at ours
(learning rate, masked-pixel fraction), in 2D and 3D, with non-local means as the classical
reference; and quality at convergence (`--converge-min`): every method trained to a validation-PSNR
plateau or a cap, its PSNR against steps and training seconds kept (bench/convergence.py). The json
states issue 14's targets with their verdicts (`targets`). Not a test: `make bench` runs it and writes
bench/results/denoise.json and denoise.md.

Every trainer runs in its own process (peers in their own venvs under bench/venvs/, created here
from bench/requirements-<peer>.txt). Steps/s: steps after a warm-up / their summed wall time,
leaving out epoch boundaries (validation, data-loader start) for the peers that have them.
Budget: every method trains until the budget's wall time is spent (fluorecon: the step count that
its measured speed fits into the budget, so its cosine schedule completes; the peers' own
schedules are wall-clock free: ReduceLROnPlateau). PSNR/SSIM: against the noise-free truth,
prediction and truth both normalized with the noisy test image's percentiles (1, 99.8) — the
units Fiji shows. A peer scoring below its own input is a harness error (harness.check_peer_output).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from convergence import PLATEAU_DB, Curve, gain_over_last_share, plateaued, write_validation
from harness import DEFAULT_ROUNDS, RESULTS, Bench, Contender, PeerSanityError, check_peer_output, figure, interleave, ratio
from work import conv_macs

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "denoise"
VENVS = BENCH / "venvs"
PEERS = {  # venv name -> (requirements file, worker script, extra args)
    "careamics": ("requirements-careamics.txt", "careamics_worker.py", []),
    "csbdeep": ("requirements-csbdeep.txt", "n2v_worker.py", ["--tool", "csbdeep"]),
}
TARGETS = {"n2v_steps_over_careamics": 1.5}
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


def check_stop() -> None:
    """`touch bench/.work/denoise/STOP` ends a long run early: every trainer started after it exits at
    once, so its row is recorded as not run (with this message) and the json is still written."""
    if (WORK / "STOP").exists():
        raise SystemExit(f"not run: {WORK / 'STOP'} exists (the run was ended early; remove it to train)")


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
    masking = MaskingConfig(**({"fraction": opts["masked_fraction"]} if opts.get("masked_fraction") else {}))
    if method == "n2v2":
        unet = unet.model_copy(update=N2V2_UNET)
        masking = masking.model_copy(update={"replacement": "median"})
    config = TrainConfig(steps=opts["steps"], batch_size=opts["batch_size"], patch_size=tuple(opts["patch_size"]),
                         seed=opts["seed"], device="cpu", loss="l1" if method == "care" else "l2",
                         **({"lr": opts["lr"]} if opts.get("lr") else {}))
    torch.manual_seed(opts["seed"])
    net = build_network(unet)
    macs = conv_macs(net, torch.zeros(opts["batch_size"], 1, *opts["patch_size"]))

    def predict_raw(x: np.ndarray) -> np.ndarray:
        xn, lo, hi = normalized(x)
        return denormalize(predict_torch(net, xn), lo, hi)

    curve = Curve(opts)
    stamps: list[float] = []
    evaluating = []

    def before_forward(*_) -> None:  # one training forward per step; validation forwards pass through
        if evaluating:
            return
        if curve.due(len(stamps)):
            evaluating.append(True)
            curve.record(len(stamps), predict_raw)
            net.train()
            evaluating.clear()
        stamps.append(time.perf_counter())

    hook = net.register_forward_pre_hook(before_forward)
    t0 = curve.start = time.perf_counter()
    if method == "care":
        pairs = [normalize_pair(x, y) for x, y in zip(train, d["target"].astype(np.float32))]
        result = train_network(net, pairs, config, progress=False)
    else:
        result = train_blind_spot(net, [normalized(x)[0] for x in train], config, method=method, masking=masking,
                                  progress=False)
    wall = time.perf_counter() - t0 - curve.eval_s
    hook.remove()
    stamps.append(time.perf_counter())
    if curve.every and (not curve.points or curve.points[-1]["step"] != opts["steps"]):
        curve.record(opts["steps"], predict_raw)
    np.save(pred, np.stack([predict_raw(x) for x in test]))
    return {"step_seconds": [b - a for a, b in zip(stamps[:-1], stamps[1:])][: opts["steps"]],
            "steps_done": opts["steps"], "epochs": 1, "train_wall_s": wall, "losses": list(result.losses),
            **curve.report(), "conv_macs_per_step_forward": macs,
            "versions": {"fluorecon": fluorecon.__version__, "torch": torch.__version__},
            "settings": {"optimizer": f"AdamW lr {config.lr:g}, cosine decay over the run",
                         "masking": masking.model_dump() if method != "care" else None, "unet": unet.model_dump()}}


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


def train_once(tool: str, method: str, data: Path, opts: dict, *, timeout: int) -> tuple[dict, np.ndarray]:
    """One training run of one contender in its own process: (its report, its raw-unit predictions)."""
    pred = WORK / f"pred_{tool}_{method}.npy"
    if tool == "fluorecon":
        cmd = [sys.executable, str(Path(__file__)), "--worker", "ours", "--data", str(data), "--pred", str(pred),
               "--opts", json.dumps({**opts, "method": method})]
    else:
        python = ensure_venv(tool)
        _, script, extra = PEERS[tool]
        cmd = [str(python), str(BENCH / script), *extra, "--data", str(data), "--pred", str(pred),
               "--opts", json.dumps(opts)]
    report = run_json(cmd, timeout=timeout, threads=opts["threads"])
    return report, np.load(pred)


def steps_per_s(report: dict) -> float:
    """Steps after the warm-up over their summed wall time (a whole run's rate, not a difference)."""
    times = report["step_seconds"][WARMUP:] or report["step_seconds"]
    return len(times) / sum(times)


def speed(ndim: int, files: dict, opts: dict, args) -> dict:
    """Steps/s, fluorecon N2V vs CAREamics N2V at the same network, patch, batch and threads:
    one short training process each per round, interleaved A B A B; each reports its own step times."""
    contenders = [Contender(f"{tool}:n2v", lambda n, tool=tool: train_once(tool, "n2v", files["raw"], {**opts, "steps": n},
                                                                         timeout=args.timeout)[0],
                            threads=opts["threads"], timed=lambda report: 1 / steps_per_s(report) * report["_n"])
                  for tool in ("fluorecon", "careamics") if tool not in args.skip]
    # timed() must return seconds for the whole run; the rate excludes warm-up steps and epoch boundaries.
    macs: dict[str, int] = {}  # convolution work per step of each contender's network (bench/work.py)

    def keep_macs(report: dict, name: str) -> dict:
        macs[name] = report.get("conv_macs_per_step_forward")
        return report

    for c in contenders:
        run = c.run
        c.run = lambda n, run=run, name=c.name: {**keep_macs(run(n), name), "_n": n}
    n = args.speed_steps if ndim == 2 else args.speed_steps_3d
    print(f"[bench] {ndim}D steps/s over {args.rounds} rounds of {n} steps ...", flush=True)
    # Each round is a fresh process that leaves its own first WARMUP steps out: no outer warm-up run.
    timings = interleave(contenders, work=n, rounds=args.rounds, unit="step", warmup_work=0)
    out = {"timings": timings.to_json(),
           "steps_per_s": {k: [round(1 / t, 3) for t in v] for k, v in timings.per_unit_s.items()}}
    if len(contenders) == 2:
        out["ratio"] = ratio(timings, "fluorecon:n2v", "careamics:n2v", target=TARGETS["n2v_steps_over_careamics"])
        out["conv_macs_per_step_forward"] = macs
        if all(macs.values()):  # same depth/filters, not the same network: the work per step differs
            work = macs["fluorecon:n2v"] / macs["careamics:n2v"]
            out["work_per_step_over_careamics"] = round(work, 4)
            out["conv_work_per_s_ratio"] = figure([r * work for r in out["ratio"]["per_round"]],
                                                  note="steps/s ratio x fluorecon's / CAREamics' conv MACs per step")
    return out


MIN_STEPS_TO_JUDGE = 200  # below this a flat training loss says nothing: N2V/CARE need thousands of steps


def converged(losses: list[float]) -> dict:
    """Loss plateau: the mean loss of the last fifth of the run against the fifth before it; under 2 %
    lower counts as converged (a heuristic on training loss, stated as such). Runs shorter than
    MIN_STEPS_TO_JUDGE steps are not judged (None): far too short to have converged."""
    if len(losses) < MIN_STEPS_TO_JUDGE:
        return {"converged": None, "note": f"only {len(losses)} steps: too few to judge (not converged)"}
    k = len(losses) // 5
    last, before = float(np.mean(losses[-k:])), float(np.mean(losses[-2 * k:-k]))
    change = (before - last) / abs(before) if before else 0.0
    return {"converged": change < 0.02, "last_fifth_drop": round(change, 4)}


PSNR_PAIRS = (("n2v_psnr_minus_careamics_recommended_db", "fluorecon:n2v", "careamics:n2v@recommended"),
              ("n2v_psnr_minus_careamics_ours_db", "fluorecon:n2v", "careamics:n2v@ours"),
              ("care_psnr_minus_csbdeep_recommended_db", "fluorecon:care", "csbdeep:care@recommended"),
              ("care_psnr_minus_csbdeep_ours_db", "fluorecon:care", "csbdeep:care@ours"))


def quality_runs(ours_steps: int, peer: dict) -> list[tuple]:
    """The trained rows of a quality comparison: (key, tool, method, data file key, options, settings label).
    fluorecon runs `ours_steps` (its cosine schedule completes); every peer run gets `peer` (a wall-clock
    cap; in convergence mode also its validation curve), at its own defaults and at our settings."""
    return [
        ("fluorecon:n2v", "fluorecon", "n2v", "raw", {"steps": ours_steps}, "ours (AdamW lr 1e-3 cosine, 1.5 % masked)"),
        ("careamics:n2v@recommended", "careamics", "n2v", "raw", dict(peer),
         "CAREamics defaults (Adam lr 1e-4, ReduceLROnPlateau, 0.2 % masked)"),
        ("careamics:n2v@ours", "careamics", "n2v", "raw", {**peer, "lr": 1e-3, "masked_fraction": 0.015},
         "CAREamics at our lr 1e-3 and 1.5 % masked"),
        ("fluorecon:care", "fluorecon", "care", "ours_care", {"steps": ours_steps}, "ours (AdamW lr 1e-3 cosine, L1)"),
        ("csbdeep:care@recommended", "csbdeep", "care", "care", dict(peer),
         "csbdeep defaults (Adam lr 4e-4, ReduceLROnPlateau, MAE)"),
        ("csbdeep:care@ours", "csbdeep", "care", "care", {**peer, "lr": 1e-3}, "csbdeep at our lr 1e-3"),
    ]


def ours_rate(rate: dict, files: dict, opts: dict, args, *, steps: int = 8) -> float:
    """fluorecon N2V steps/s: from this dim's speed rounds, else a short calibration run of `steps` steps after
    the warm-up (not counted)."""
    if "fluorecon:n2v" not in rate:
        rate["fluorecon:n2v"] = steps_per_s(train_once("fluorecon", "n2v", files["raw"], {**opts, "steps": WARMUP + steps},
                                                       timeout=args.timeout)[0])
    return rate["fluorecon:n2v"]


def train_rows(ndim: int, runs: list[tuple], files: dict, opts: dict, data: dict, args, *, timeout: int,
               extra_for=lambda tool, file_key: {}) -> dict:
    """Trains every run in its own process and scores its test predictions (peers pass the units check first);
    a failing run's row says why instead of hiding the others."""
    test, clean = data["test"], data["test_clean"]
    input_psnr = scores(test, test, clean)["psnr_db"]
    rows: dict[str, dict] = {}
    for key, tool, method, file_key, extra, settings in runs:
        if tool in args.skip or method in args.skip or key in args.skip:
            rows[key] = {"error": "skipped (--skip)"}
            continue
        print(f"[bench] {ndim}D {key} ...", flush=True)
        try:
            report, preds = train_once(tool, method, files[file_key], {**opts, **extra, **extra_for(tool, file_key)},
                                       timeout=timeout)
            if tool == "csbdeep":  # trained and predicted on normalized data (see n2v_worker.py): back to raw units
                preds = np.stack([p * max(hi - lo, 1e-6) + lo for p, (_, lo, hi) in zip(preds, map(normalized, test))])
            q = scores(preds, test, clean)
            if tool != "fluorecon":
                check_peer_output(key, preds, reference=test, shape=test.shape, output_psnr_db=q["psnr_db"],
                                  input_psnr_db=input_psnr)
            path_check = report.get("curve_path_check")
            if path_check and abs(path_check["val_psnr_db_curve_path"] - path_check["val_psnr_db_careamics_predict"]) > 0.2:
                raise PeerSanityError(f"{key}: the validation curve's prediction path disagrees with CAREamics' predict "
                                      f"on the same weights ({path_check}) — check the worker's normalization")
            rows[key] = {**q, "settings_label": settings, "train_wall_s": round(report["train_wall_s"], 1),
                         "steps": report["steps_done"], "versions": report["versions"],
                         **converged(report.get("losses", [])),
                         **({"settings": report["settings"]} if "settings" in report else {}),
                         **({"curve": report["curve"], "eval_s": report["eval_s"]} if report.get("curve") else {}),
                         **({"curve_path_check": path_check} if path_check else {})}
            print(f"[bench] {ndim}D {key}: {q}, {report['steps_done']} steps in {report['train_wall_s']:.0f} s", flush=True)
        except Exception as err:  # a failing peer (sanity or install) must not hide the rest; its row says why
            rows[key] = {"error": f"{type(err).__name__}: {err}"[-1500:]}
            print(f"[bench] {ndim}D {key} failed: {rows[key]['error']}", flush=True)
    if "nlm" not in args.skip:
        rows["nlm"] = classical("nlm", test, clean)
    return rows


def at_budget(ndim: int, files: dict, opts: dict, data: dict, rate: dict, args) -> dict:
    """PSNR/SSIM after an equal wall-clock training budget for every method."""
    budget_s = args.budget_min * 60
    # fluorecon's step count is what its measured speed fits into the budget (CARE: the same network,
    # so the N2V rate), so its cosine schedule completes; its actual wall time is reported beside.
    ours_steps = max(20, int(budget_s * ours_rate(rate, files, opts, args)))
    runs = quality_runs(ours_steps, {"steps": 10**7, "budget_s": budget_s})
    rows = train_rows(ndim, runs, files, opts, data, args, timeout=int(budget_s * 3 + 900))
    return {"budget_min": args.budget_min, "input": scores(data["test"], data["test"], data["test_clean"]),
            "results": rows}


def at_convergence(ndim: int, files: dict, opts: dict, data: dict, rate: dict, args) -> dict:
    """PSNR/SSIM at convergence: every method trains until its validation PSNR plateaus (bench/convergence.py:
    < PLATEAU_DB gain over the last quarter of its steps), at most `--converge-min` of training time; the
    validation PSNR against steps and training seconds is kept per run. fluorecon runs the step count its
    measured speed fits into the cap with its cosine schedule to the end (stopping mid-schedule would leave
    its learning rate high); the peers' schedules react to plateaus themselves (ReduceLROnPlateau), and they
    stop at the plateau. The plateau rule is applied to every curve alike afterwards."""
    cap_s = args.converge_min * 60
    ours_steps = max(MIN_STEPS_TO_JUDGE, int(cap_s * ours_rate(rate, files, opts, args, steps=30)))
    every = max(10, ours_steps // args.converge_points)
    val, val_clean = data["val"], data["val_clean"]
    _, lo, hi = normalized(val)
    from fluorecon.core.normalize import normalize

    truth = normalize(val_clean, lo, hi)
    vals = {"raw": write_validation(WORK / f"val{ndim}d.npz", val, truth, lo=lo, hi=hi),
            # csbdeep trains and predicts on data normalized with the same percentiles: output units = normalized
            "care": write_validation(WORK / f"val{ndim}d_normalized.npz", normalize(val, lo, hi), truth, lo=0.0, hi=1.0)}
    vals["ours_care"] = vals["raw"]
    runs = quality_runs(ours_steps, {"steps": 10**7, "budget_s": cap_s})

    def extra_for(tool: str, file_key: str) -> dict:
        return {"eval_every": every, "val": str(vals[file_key]), "stop_on_plateau": tool != "fluorecon"}

    rows = train_rows(ndim, runs, files, opts, data, args, timeout=int(cap_s * 4 + 900), extra_for=extra_for)
    for row in rows.values():
        if "curve" in row:
            gain = gain_over_last_share(row["curve"])
            row["plateau"] = {"gain_last_quarter_db": None if gain is None else round(gain, 3),
                              "converged": plateaued(row["curve"]),
                              "best_val_psnr_db": max(p["psnr_db"] for p in row["curve"])}
    return {"cap_min": args.converge_min, "eval_every": every, "plateau_db": PLATEAU_DB, "settings": opts,
            "input": scores(data["test"], data["test"], data["test_clean"]),
            "val_input_psnr_db": scores(val[None], val[None], val_clean[None])["psnr_db"], "results": rows}


def classical(method: str, noisy: np.ndarray, clean: np.ndarray) -> dict:
    from fluorecon.tasks.denoise.learned import denoise_classical

    t0 = time.perf_counter()
    preds = np.stack([denoise_classical(x, method=method) for x in noisy])
    return {"seconds_per_image": round((time.perf_counter() - t0) / len(noisy), 2), **scores(preds, noisy, clean)}


def converge_opts(ndim: int, opts: dict, args) -> dict:
    """The convergence mode's network, patch and batch: the bench's unless --converge-* options shrink them
    (so every method can converge within the cap on a shared CPU)."""
    patch = ((args.converge_patch,) * 2 if ndim == 2 and args.converge_patch else
             (args.converge_patch_3d[0], args.converge_patch_3d[1], args.converge_patch_3d[1]) if ndim == 3 and args.converge_patch_3d
             else opts["patch_size"])
    batch = (args.converge_batch if ndim == 2 else args.converge_batch_3d) or opts["batch_size"]
    return {**opts, "patch_size": list(patch), "batch_size": batch, "filters": args.converge_filters or opts["filters"]}


def bench_dim(ndim: int, args, bench: Bench) -> dict:
    # One image more than the test images: the validation image of the convergence mode (last, so the
    # training and test images are those of earlier runs).
    data = make_data(ndim, n_train=args.train_images, n_test=args.test_images + 1, seed=args.seed + ndim)
    n = int(data["n_train"])
    low, high, clean = data["low"], data["high"], data["clean"]
    test, test_clean = low[n:-1], clean[n:-1]
    scored = {"test": test, "test_clean": test_clean, "val": low[-1], "val_clean": clean[-1]}
    if ndim == 2:
        patch, batch = (args.patch,) * 2, args.batch
    else:
        patch, batch = (args.patch_3d[0], args.patch_3d[1], args.patch_3d[1]), args.batch_3d
    opts = {"batch_size": batch, "patch_size": list(patch), "depth": args.depth, "filters": args.filters,
            "threads": args.threads, "seed": args.seed}
    files = {"raw": WORK / f"data{ndim}d.npz", "care": WORK / f"care{ndim}d.npz", "ours_care": WORK / f"ours_care{ndim}d.npz"}
    np.savez(files["raw"], train=low[:n], test=test)
    # CARE (both implementations) trains on the same normalized pairs (fluorecon.train.normalize_pair).
    from fluorecon.train import normalize_pair

    care_pairs = [normalize_pair(x, y) for x, y in zip(low[:n], high[:n])]
    np.savez(files["care"], train=np.stack([x for x, _ in care_pairs]), target=np.stack([y for _, y in care_pairs]),
             test=np.stack([normalized(x)[0] for x in test]))
    np.savez(files["ours_care"], train=low[:n], target=high[:n], test=test)
    block = {"data": {"simulation": json.loads(str(data["simulation"])), "train_images": n,
                      "test_images": int(len(test)), "shape": list(low.shape[1:])}, "settings": opts}
    dim = f"{ndim}d"
    if "speed" not in args.skip and ndim in args.speed_dims:
        block["speed"] = speed(ndim, files, opts, args)
        if "ratio" in block["speed"]:
            bench.add_figure(f"n2v_steps_over_careamics_{dim}", block["speed"]["ratio"])
            if "conv_work_per_s_ratio" in block["speed"]:
                bench.add_figure(f"n2v_conv_work_per_s_over_careamics_{dim}", block["speed"]["conv_work_per_s_ratio"])
    rate = {k: 1 / statistics.median(v) for k, v in block.get("speed", {}).get("timings", {}).get("per_unit_s", {}).items()}
    for mode, minutes, run, note in (
            ("budget", args.budget_min, at_budget, f"one seeded training each, {args.budget_min:g} min budget"),
            ("converge", args.converge_min, at_convergence,
             f"one seeded training each, to a validation plateau or the {args.converge_min:g} min cap")):
        if minutes <= 0:
            continue
        if mode == "budget":
            block[mode] = run(ndim, files, opts, scored, rate, args)
        else:  # its own (smaller) network/patch/batch when given: fluorecon's speed calibrated on them afresh
            block[mode] = run(ndim, files, converge_opts(ndim, opts, args), scored, {}, args)
        r = block[mode]["results"]
        for key, a, b in PSNR_PAIRS:
            if "psnr_db" in r.get(a, {}) and "psnr_db" in r.get(b, {}):
                bench.add_figure(f"{key}_{dim}" + ("_converged" if mode == "converge" else ""),
                                 figure([r[a]["psnr_db"] - r[b]["psnr_db"]], target=0.0, note=note))
    return block


# --- report ---------------------------------------------------------------------------------------

def targets(figures: dict) -> dict:
    """Issue 14's two targets, each with its figures and verdicts: 3D N2V steps/s ≥ 1.5x CAREamics', and
    fluorecon's PSNR ≥ each peer's (CAREamics N2V, csbdeep CARE) at convergence, 2D and 3D."""
    speed = {k: {"median": f["median"], "min": f["min"], "max": f["max"], "verdict": f["verdict"]}
             for k, f in figures.items() if k.startswith("n2v_steps_over_careamics_")}
    psnr = {k: {"difference_db": f["median"], "verdict": f["verdict"]}
            for k, f in figures.items() if k.endswith("_converged")}
    out = {"n2v_3d_steps_per_s_over_careamics": {"target": ">= 1.5", "figures": speed},
           "psnr_at_convergence_minus_peer": {"target": ">= 0 dB against every peer row (CAREamics N2V, csbdeep CARE; "
                                                        "their defaults and our settings)", "figures": psnr}}
    for entry in out.values():
        verdicts = [f["verdict"] for f in entry["figures"].values()]
        entry["met"] = (None if not verdicts else True if all(v == "met" for v in verdicts)
                        else False if any(v == "missed" for v in verdicts) else None)
    return out


def targets_lines(t: dict) -> list[str]:
    word = {True: "met", False: "missed", None: "undecided or not measured"}
    lines = ["## Targets (issue 14)", ""]
    for name, entry in t.items():
        figs = ", ".join(f"`{k}` {v.get('median', v.get('difference_db')):+.2f}" if "difference_db" in v
                         else f"`{k}` {v['median']:.2f} ({v['min']:.2f}–{v['max']:.2f})" for k, v in entry["figures"].items())
        lines.append(f"- {name} {entry['target']}: **{word[entry['met']]}** ({figs or 'no figures'})")
    return lines + [""]


LABELS = {"fluorecon:n2v": "fluorecon N2V", "careamics:n2v@recommended": "CAREamics N2V, its defaults",
          "careamics:n2v@ours": "CAREamics N2V, our lr/masking", "fluorecon:care": "fluorecon CARE",
          "csbdeep:care@recommended": "csbdeep CARE, its defaults", "csbdeep:care@ours": "csbdeep CARE, our lr",
          "nlm": "non-local means (scikit-image)"}


def error_line(error: str) -> str:
    """The line of a failed row that says why (a trainer ended by the STOP file says "not run: ...")."""
    why = next((ln for ln in error.splitlines() if "not run:" in ln), error.splitlines()[0])
    return why[why.find("not run:"):][:160] if "not run:" in why else why[:160]


def quality_table(results: dict, columns: list[str], trained, classical) -> list[str]:
    """A quality table: method, settings, then `columns` (PSNR and SSIM first); `trained(row)` / `classical(row)`
    give the cells after SSIM of a trained row / the non-local means row; a failed row says why in its last cell."""
    lines = ["| method | settings | " + " | ".join(columns) + " |",
             "| --- | --- | " + " | ".join(["---:"] * (len(columns) - 1)) + " | --- |"]
    for key, label in LABELS.items():
        r = results.get(key)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {label} | " + " | ".join(["—"] * len(columns)) + f" | {error_line(r['error'])} |")
            continue
        settings, tail = (("scikit-image defaults, estimated σ", classical(r)) if key == "nlm"
                          else (r["settings_label"], trained(r)))
        lines.append(f"| {label} | {settings} | {r['psnr_db']:.2f} | {r['ssim']:.3f} | " + " | ".join(tail) + " |")
    return lines + [""]


def markdown(report: dict) -> str:
    lines = ["# Denoising benchmark", ""] + (targets_lines(report["targets"]) if "targets" in report else [])
    for dim, block in report["dims"].items():
        s = block["settings"]
        lines += [f"## {dim}: {block['data']['train_images']} training images {block['data']['shape']}, "
                  f"{block['data']['test_images']} test images", "",
                  f"U-Net depth {s['depth']}, {s['filters']} first-level filters, kernel 3; patch "
                  f"{'x'.join(map(str, s['patch_size']))}, batch {s['batch_size']}, {s['threads']} threads for every trainer.", ""]
        sp = block.get("speed")
        if sp:
            lines += [f"Steps/s over {sp['timings']['rounds']} interleaved rounds of {sp['timings']['work']} steps "
                      "(warm-up steps and epoch boundaries left out):", ""]
            for k, v in sp["steps_per_s"].items():
                lines.append(f"- {k}: {statistics.median(v):.3f} steps/s (rounds: {', '.join(f'{x:.3f}' for x in v)})")
            if "ratio" in sp:
                r = sp["ratio"]
                lines.append(f"- fluorecon / CAREamics: {r['median']:.2f} (min–max {r['min']:.2f}–{r['max']:.2f}), "
                             f"verdict {r['verdict']} (target ≥ {r['target']})")
            if "work_per_step_over_careamics" in sp:
                w = sp["conv_work_per_s_ratio"]
                lines.append(f"- same depth/filters, not the same network: fluorecon's U-Net does "
                             f"{sp['work_per_step_over_careamics']:.2f}x CAREamics' convolution work per step "
                             f"(multiply-accumulates, bench/work.py); convolution work per second, fluorecon / CAREamics: "
                             f"{w['median']:.2f} (min–max {w['min']:.2f}–{w['max']:.2f})")
            lines.append("")
        b = block.get("budget")
        if b:
            lines += [f"Quality after an equal wall-clock training budget of {b['budget_min']:g} min per method "
                      f"(noisy input: {b['input']['psnr_db']:.2f} dB, SSIM {b['input']['ssim']:.3f}):", ""]

            def budget_cells(r: dict) -> list[str]:
                conv = {True: "yes", False: "no", None: "not judged"}[r.get("converged")]
                drop = (f" (loss {-100 * r['last_fifth_drop']:+.1f} % over the last fifth)" if "last_fifth_drop" in r
                        else f" ({r['note']})" if "note" in r else "")
                return [str(r["steps"]), f"{r['train_wall_s']:.0f}", conv + drop]

            lines += quality_table(b["results"], ["PSNR (dB)", "SSIM", "steps", "train wall (s)", "loss plateau (converged?)"],
                                   budget_cells, lambda r: ["—", f"{r['seconds_per_image']:.1f} s/image", "—"])
        c = block.get("converge")
        if c:
            cs = c.get("settings", block["settings"])
            lines += [f"Quality at convergence (U-Net depth {cs['depth']}, {cs['filters']} first-level filters; patch "
                      f"{'x'.join(map(str, cs['patch_size']))}, batch {cs['batch_size']}, {cs['threads']} threads): "
                      f"each method trained until its validation PSNR (one held-out image, "
                      f"noisy {c['val_input_psnr_db']:.2f} dB) gained less than {c['plateau_db']:g} dB over the last "
                      f"quarter of its steps, checked every {c['eval_every']} steps, at most {c['cap_min']:g} min of "
                      f"training (validation time not counted); fluorecon runs its cosine schedule to the step count "
                      f"its speed fits into the cap. Test images (noisy: {c['input']['psnr_db']:.2f} dB, SSIM "
                      f"{c['input']['ssim']:.3f}):", ""]

            def converge_cells(r: dict) -> list[str]:
                pl = r.get("plateau", {})
                gain = pl.get("gain_last_quarter_db")
                return [str(r["steps"]), f"{r['train_wall_s']:.0f}", f"{pl.get('best_val_psnr_db', float('nan')):.2f}",
                        "—" if gain is None else f"{gain:+.2f}", "yes" if pl.get("converged") else "no (cap reached)"]

            lines += quality_table(c["results"], ["test PSNR (dB)", "SSIM", "steps", "train (s)", "best val PSNR (dB)",
                                                  "val gain, last quarter (dB)", "plateau?"],
                                   converge_cells, lambda r: ["—"] * 5)
    lines += [f"Budget tables: converged = training loss fell less than 2 % over the last fifth of the budget (a heuristic), judged only "
              f"for runs of at least {MIN_STEPS_TO_JUDGE} steps. "
              "A peer that scores below its own noisy input fails its row (harness units check) instead of giving a figure."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--speed-steps", type=int, default=30, help="steps per 2D speed round (3 warm-up steps left out)")
    p.add_argument("--speed-steps-3d", type=int, default=12, help="steps per 3D speed round")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    p.add_argument("--speed-dims", nargs="+", type=int, default=[2, 3], choices=[2, 3], help="dims with a steps/s comparison")
    p.add_argument("--budget-min", type=float, default=5.0, help="wall-clock training budget per method (0: no quality run)")
    p.add_argument("--converge-min", type=float, default=0.0,
                   help="convergence mode: training-time cap per method; each trains to its validation-PSNR plateau "
                        "(0: no convergence run)")
    p.add_argument("--converge-points", type=int, default=30, help="validation points over fluorecon's run (convergence mode)")
    p.add_argument("--converge-filters", type=int, help="convergence mode: first-level filters (default: --filters)")
    p.add_argument("--converge-patch", type=int, help="convergence mode: 2D patch side (default: --patch)")
    p.add_argument("--converge-patch-3d", type=int, nargs=2, metavar=("Z", "YX"), help="convergence mode: 3D patch")
    p.add_argument("--converge-batch", type=int, help="convergence mode: 2D batch (default: --batch)")
    p.add_argument("--converge-batch-3d", type=int, help="convergence mode: 3D batch (default: --batch-3d)")
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
    p.add_argument("--skip", nargs="*", default=[],
                   help="leave out: careamics csbdeep (peers), n2v care (methods), nlm, speed, or a row key")
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--name", default="denoise")
    p.add_argument("--rejudge", action="store_true", help="rewrite results/<name>.json/.md with the current convergence "
                   "rule (runs shorter than MIN_STEPS_TO_JUDGE steps are not judged)")
    p.add_argument("--worker", choices=["ours"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--pred", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--opts", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rejudge:  # re-apply converged() and markdown() to a written json (losses not kept: step counts decide)
        return rejudge(RESULTS / f"{args.name}.json")
    if args.worker:
        check_stop()
        print(json.dumps(ours_worker(args.data, args.pred, json.loads(args.opts))), flush=True)
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "STOP").unlink(missing_ok=True)
    config = {k: v for k, v in vars(args).items() if k not in ("worker", "data", "pred", "opts")}
    bench = Bench(args.name, config)
    report = {"dims": {}}
    for ndim in args.dims:
        report["dims"][f"{ndim}D"] = bench_dim(ndim, args, bench)
    report["targets"] = targets(bench.data["figures"])
    bench.write(markdown(report), dims=report["dims"], targets=report["targets"])
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


def rejudge(path: Path) -> int:
    from harness import figures_table, load_line

    data = json.loads(path.read_text())
    for block in data["dims"].values():
        for row in block.get("budget", {}).get("results", {}).values():
            if "steps" in row and row["steps"] < MIN_STEPS_TO_JUDGE:
                row.pop("last_fifth_drop", None)
                row.update(converged=None, note=f"only {row['steps']} steps: too few to judge (not converged)")
    data["targets"] = targets(data["figures"])
    path.write_text(json.dumps(data, indent=1) + "\n")
    path.with_suffix(".md").write_text(load_line(data) + "\n\n" + markdown(data).rstrip() + "\n\n" + figures_table(data) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
