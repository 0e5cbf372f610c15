"""Super-resolution benchmark: PSNR/SSIM of bicubic interpolation, RL-TV against the blur +
downsample forward model (classical baseline) and the shipped CARE ×2 model on the same held-out
simulated pairs; throughput of each.

    .venv/bin/python bench/superres.py [--n 8] [--threads 2] [--rounds 5] [--size 512] [--no-csbdeep REASON]

Data: `UpsampleSimulation` defaults (mixed phantoms, 50 nm fine pixels, NA 0.8 → 1.4 at 520 nm,
25–100 peak photons per coarse pixel, sCMOS-like camera), 256×256 targets from seed 777 (the
model was trained on seed 1). Reference: the noise-free high-resolution image mapped into the
input's units, everything normalized with the input's 1/99.8 percentiles; PSNR/SSIM with the
reference's data range. CARE runs through ONNX Runtime exactly as `fluorecon predict` does
(tiled, whole-image percentiles). Peer: csbdeep's CARE (bench/venvs/csbdeep,
bench/csbdeep_upsample_worker.py) trained on the shipped model's training pairs with its step
budget, on bilinearly ×2-interpolated inputs. Writes bench/results/superres.json and superres.md
on bench/harness.py: quality per held-out pair (figures `care_psnr_minus_<method>_db`, one value
per pair), timings interleaved in rounds (`care_speed_over_rl_tv`, per-round ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "care_upsample2x_2d.onnx"
sys.path.insert(0, str(ROOT / "bench"))
from harness import Bench, Contender, check_peer_output, figure, interleave, ratio  # noqa: E402  (bench/ is not a package)


CSBDEEP_PYTHON = ROOT / "bench" / "venvs" / "csbdeep" / "bin" / "python"


def bilinear_x2(image):
    """×2 bilinear interpolation with half-pixel centres: the first layer of our UpsampleNet."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None]
    return F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False)[0, 0].numpy()


def csbdeep_peer(card, test_inputs, threads: int) -> dict:
    """Train csbdeep's CARE on the shipped model's own training pairs with its step budget
    (steps × batch, patch size, lr, U-Net depth/filters, L1 loss) and predict `test_inputs`
    (normalized low-resolution images). Returns predictions and facts, or the reason it did not run."""
    import subprocess
    import tempfile

    import numpy as np

    from fluorecon.tasks.upsample.learned import UpsampleSimulation, normalize_scaled_pair, simulate_pairs

    if not CSBDEEP_PYTHON.is_file():
        try:
            from predict import ensure_csbdeep_venv  # bench/predict.py makes the venv from requirements-csbdeep.txt

            ensure_csbdeep_venv()
        except (subprocess.CalledProcessError, OSError, ImportError) as err:
            return {"error": f"{CSBDEEP_PYTHON} could not be made ({err}); see bench/requirements-csbdeep.txt"}
    t = card.train
    arch = json.loads(t["unet"])
    steps, batch = int(t["steps"]), int(t["batch_size"])
    patch = int(t["patch_size"].split(",")[0])
    n_train = int(t["pairs"])
    sim = UpsampleSimulation(ndim=2, factor=2, shape=(256, 256), n_images=16, seed=int(t["seed_data"]))
    pairs = [normalize_scaled_pair(p.low, p.high, factor=2, norm=card.norm) for p in simulate_pairs(sim)]
    rng = np.random.default_rng(0)

    def patches(source, n):
        xs, ys = [], []
        for _ in range(n):
            x, y = source[rng.integers(len(source))]
            oy, ox = (int(rng.integers(0, s - patch + 1)) for s in x.shape)
            px = bilinear_x2(x[oy:oy + patch, ox:ox + patch])  # interpolated like the whole image would be inside
            py = y[2 * oy:2 * (oy + patch), 2 * ox:2 * (ox + patch)]
            k = int(rng.integers(4))
            px, py = np.rot90(px, k), np.rot90(py, k)
            if rng.integers(2):
                px, py = px[:, ::-1], py[:, ::-1]
            xs.append(np.ascontiguousarray(px))
            ys.append(np.ascontiguousarray(py))
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)

    X, Y = patches(pairs[:n_train], steps * batch)
    Xv, Yv = patches(pairs[n_train:], 64)
    T = np.stack([bilinear_x2(x) for x in test_inputs])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(data, X=X, Y=Y, Xv=Xv, Yv=Yv, T=T, arch=json.dumps(arch), steps=steps, batch_size=batch,
                 lr=float(t["lr"]))
        out = Path(tmp) / "pred.npy"
        proc = subprocess.run([str(CSBDEEP_PYTHON), str(ROOT / "bench" / "csbdeep_upsample_worker.py"),
                               "--data", str(data), "--out", str(out), "--threads", str(threads)],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                                                   "CUDA_VISIBLE_DEVICES": ""})
        if proc.returncode != 0:
            return {"error": proc.stderr[-2000:]}
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
        facts["predictions"] = np.load(out)
    facts.update({"steps": steps, "batch_size": batch, "patch_output_px": 2 * patch, "lr": float(t["lr"]),
                  "training_pairs": n_train, "unet_depth": arch["depth"], "unet_filters": arch["filters"]})
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8, help="Held-out pairs (quality is reported per pair).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved timing rounds (bench/harness.py).")
    parser.add_argument("--size", type=int, default=512, help="Side of the low-resolution input timed (output ×2).")
    parser.add_argument("--name", default="superres", help="Result name: bench/results/<name>.json and .md.")
    parser.add_argument("--no-csbdeep", nargs="?", const="skipped (--no-csbdeep)", default=None, metavar="REASON",
                        help="Skip the CSBDeep peer (trains a CARE model in TF); the json records REASON.")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)

    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import Predictor
    from fluorecon.qc.metrics import psnr, ssim
    from fluorecon.tasks.upsample.learned import (UpsampleSimulation, bicubic, normalize_scaled_pair, richardson_lucy_sr,
                                                  simulate_pairs)

    card = read_card(MODEL)
    predictor = Predictor(MODEL, threads=args.threads)
    sim = UpsampleSimulation(ndim=2, factor=2, shape=(256, 256), seed=777)
    sigma = sim.sigma_extra_px
    bench = Bench(args.name, {"pairs": args.n, "target_shape": [256, 256], "factor": 2, "threads": args.threads,
                              "rounds": args.rounds, "timed_input": [args.size, args.size], "rl_tv_iterations": 10,
                              "model": MODEL.name, "model_sha256": predictor.sha256,
                              "tile_default": list(card.tile_default), "simulation": sim.model_dump(mode="json")})
    methods = ("bicubic", "rl_tv", "care", "csbdeep_care")
    scores: dict[str, dict[str, list[float]]] = {k: {"psnr_db": [], "ssim": []} for k in methods}
    held_out = [(pair, *normalize_scaled_pair(pair.low, pair.high, factor=2, norm=card.norm))
                for pair in simulate_pairs(sim, n=args.n)]
    peer = ({"error": f"not run: {args.no_csbdeep}"} if args.no_csbdeep else
            csbdeep_peer(card, [x for _, x, _ in held_out], args.threads))
    for i, (pair, x, y) in enumerate(held_out):
        lo, hi = np.percentile(pair.low, [1, 99.8])
        cands = {"bicubic": bicubic(x, factor=2),
                 "rl_tv": richardson_lucy_sr(x, factor=2, sigma_px=sigma, num_iter=10),
                 "care": (predictor.predict(pair.low) - lo) / max(hi - lo, 1e-6)}
        if "predictions" in peer:
            check_peer_output("csbdeep_care", peer["predictions"][i], reference=y, shape=y.shape)
            cands["csbdeep_care"] = peer["predictions"][i]
        for key, est in cands.items():
            scores[key]["psnr_db"].append(round(float(psnr(est, y)), 4))
            scores[key]["ssim"].append(round(float(ssim(est, y)), 5))
    scores = {k: v for k, v in scores.items() if v["psnr_db"]}
    peer.pop("predictions", None)
    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.upsample.learned import UpsampleNet

    care_params = sum(p.numel() for p in UpsampleNet(UNetConfig(**json.loads(card.train["unet"])), 2).parameters())
    # per pair (the same pair for every method), then the median over pairs
    quality = {k: {**v, "psnr_db_median": round(float(np.median(v["psnr_db"])), 3),
                   "ssim_median": round(float(np.median(v["ssim"])), 4)} for k, v in scores.items()}
    care = np.array(scores["care"]["psnr_db"])
    for other in ("bicubic", "rl_tv", "csbdeep_care"):
        if other in scores:
            bench.add_figure(f"care_psnr_minus_{other}_db", figure(care - np.array(scores[other]["psnr_db"]),
                                                                   note="per held-out pair"))

    big = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(2 * args.size,) * 2, seed=778), n=1)[0].low
    norm_big = (big - big.min()) / np.ptp(big)
    out_mpix = 4 * big.size / 1e6
    contenders = [
        Contender("bicubic", lambda _: bicubic(norm_big, factor=2), threads=args.threads),
        Contender("rl_tv_10_iter", lambda _: richardson_lucy_sr(norm_big, factor=2, sigma_px=sigma, num_iter=10),
                  threads=args.threads),
        Contender("care_onnx_default_tile", lambda _: predictor.predict(big), threads=args.threads),
    ]
    timings = interleave(contenders, work=1, rounds=args.rounds, unit="image")
    bench.add_figure("care_speed_over_rl_tv", ratio(timings, "care_onnx_default_tile", "rl_tv_10_iter"))
    med = timings.to_json()["median_per_unit_s"]
    throughput = {k: {"median_s": t, "output_mpix_per_s": round(out_mpix / t, 3)} for k, t in med.items()}
    bench.write(markdown(bench, quality, throughput, peer, care_params, big.shape),
                quality=quality, timings=timings.to_json(), throughput=throughput, csbdeep=peer,
                model_params=care_params)
    print(json.dumps(bench.data["figures"], indent=1))


def markdown(bench, quality: dict, throughput: dict, peer: dict, care_params: int, shape) -> str:
    cfg = bench.data["config"]
    rows = "\n".join(f"| {k} | {v['psnr_db_median']} ({', '.join(f'{x:.2f}' for x in v['psnr_db'])}) | "
                     f"{v['ssim_median']} |" for k, v in quality.items())
    trows = "\n".join(f"| {k} | {v['median_s']} | {v['output_mpix_per_s']} |" for k, v in throughput.items())
    if "error" in peer:
        peer_text = f"CSBDeep: {peer['error'].strip().splitlines()[-1] if peer['error'].strip() else 'failed'}."
    else:
        peer_text = (f"csbdeep_care: csbdeep {peer['versions']['csbdeep']} CARE (TensorFlow {peer['versions']['tensorflow']}, "
                     f"CPU) trained here on the shipped model's own {peer['training_pairs']} training pairs with its "
                     f"budget: {peer['steps']} steps × {peer['batch_size']} patches of {peer['patch_output_px']}² output "
                     f"pixels, lr {peer['lr']} (CSBDeep's own plateau schedule), L1 loss, residual U-Net depth "
                     f"{peer['unet_depth']} with {peer['unet_filters']} first-level filters ({peer['params']} parameters, ours "
                     f"{care_params}; trained in {peer['train_seconds']:.0f} s). CSBDeep restores on the output grid, so its "
                     "inputs are the same normalized images interpolated ×2 bilinearly — what our network's first layer does.")
    return f"""# Super-resolution ×2 (2D), {cfg['pairs']} held-out simulated pairs

| method | PSNR (dB): median (per pair) | SSIM median |
|---|---|---|
{rows}

Timing on a {shape[0]}×{shape[1]} input (→ ×2), {cfg['threads']} threads each, median over {cfg['rounds']}
interleaved rounds (bench/harness.py; warm-up left out):

| method | median s/image | output MPix/s |
|---|---|---|
{trows}

RL-TV: Richardson–Lucy with TV regularisation (λ = 0.01 in normalized units, 10 iterations, start
= bicubic) against the exact blur + downsample operator. {peer_text}
"""


if __name__ == "__main__":
    main()
