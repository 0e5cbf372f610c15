"""Reproducer: 3D CARE on thin (8-slice) patches, validation PSNR on a full 32-slice volume vs steps.

Seeded, CPU, a few minutes. Prints the validation PSNR of the whole volume, of its interior z-slices and of
its border z-slices, and of the volume predicted as independent 8-slice chunks (the training geometry).
Run: PYTHONPATH=python python bench/care3d_collapse.py [--steps N] [--patch-z 8] [--old]
(--old trains on the 8-slice patch as given, the code before fluorecon.train.context_patch).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fluorecon.train as train_module
from fluorecon.core.normalize import normalize, percentile_range
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.tasks.denoise.simulate import simulate_pairs
from fluorecon.tasks.denoise.spec import DenoiseSimulation
from fluorecon.train import TrainConfig, normalize_pair, predict_torch, train_network


def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--patch-z", type=int, default=8)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="weights and patch sampling")
    p.add_argument("--old", action="store_true", help="train on the patch as given (before the fix: no z-context)")
    args = p.parse_args()
    if args.old:
        train_module.context_patch = lambda patch, depth, shapes: patch
    torch.set_num_threads(1)
    sim = DenoiseSimulation(ndim=3, shape=(32, args.size, args.size), photons_low=15, photons_spread=1.5, seed=3)
    data = simulate_pairs(sim, n=5)
    train, val = data[:4], data[4]
    pairs = [normalize_pair(d.low, d.high) for d in train]
    lo, hi = percentile_range(val.low, 1, 99.8)
    x, truth = normalize(val.low, lo, hi), normalize(val.clean, lo, hi)
    print("input psnr", round(psnr(x, truth), 2))
    config = TrainConfig(steps=args.steps, batch_size=args.batch, patch_size=(args.patch_z, 32, 32), seed=args.seed,
                         device="cpu", loss="l1", lr=args.lr)
    torch.manual_seed(args.seed)
    net = build_network(UNetConfig(ndim=3, depth=2, filters=16, residual=True))
    step = [0]
    t0 = time.time()

    def hook(*_):
        if torch.is_grad_enabled():
            s = step[0]
            if s % args.every == 0 and s:
                with torch.no_grad():
                    net.eval()
                    pr = predict_torch(net, x)
                    chunks = np.concatenate([predict_torch(net, x[z:z + args.patch_z])
                                             for z in range(0, x.shape[0], args.patch_z)])
                    net.train()
                inner = slice(8, -8)
                print(f"step {s:4d} whole {psnr(pr, truth):6.2f}  interior-z {psnr(pr[inner], truth[inner]):6.2f}  "
                      f"border-z {psnr(np.r_[pr[:4], pr[-4:]], np.r_[truth[:4], truth[-4:]]):6.2f}  "
                      f"chunks{args.patch_z} {psnr(chunks, truth):6.2f}  t={time.time() - t0:.0f}s", flush=True)
            step[0] += 1

    net.register_forward_pre_hook(hook)
    res = train_network(net, pairs, config, progress=False)
    pr = predict_torch(net, x)
    print("final whole", round(psnr(pr, truth), 2), "loss first/last", res.smoothed())
    print("per-slice PSNR", " ".join(f"{psnr(a, b):.1f}" for a, b in zip(pr, truth)))


if __name__ == "__main__":
    main()
