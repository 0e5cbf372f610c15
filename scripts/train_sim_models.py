"""Train the shipped learned-SIM models (fixed seeds) and print their models/README.md rows:

* `models/sim_2d_9frames.onnx` — all 9 raw frames (3 angles × 3 phases) at low light;
* `models/sim_2d_3frames.onnx` — 3 frames (the first phase of each angle), a 3× faster acquisition.

The training is `fluorecon train sim`'s (fluorecon.tasks.sim.learned.training_config); this script adds the
GPU split below and the README rows. Both are trained on the same simulated stacks (fluorecon.tasks.sim.physics forward model, Poisson–Gaussian
camera, 15–60 peak photons per frame) and validated on held-out stacks against widefield and the
classical Wiener SIM of all 9 frames (exact pattern given).

    .venv/bin/python scripts/train_sim_models.py                 # both; CUDA when present
    .venv/bin/python scripts/train_sim_models.py --only 3 --device cpu --steps 300   # a quick CPU run

Training on a GPU machine that lacks the optics packages: simulate here (`--save-data stacks.npz`),
train there (`--data stacks.npz --weights-out W/ --device cuda`), evaluate and export here
(`--weights-in W/`); the card then records the GPU as train.device.

The shipped models were trained on one GPU (see the card's train.device and train.wall_seconds);
on this project's shared 2-core CPU the default steps take about an hour per model.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch

from fluorecon.core.modelcard import write_card
from fluorecon.tasks.sim.learned import (SIMLearnedConfig, SIMLearnedSimulation, fit_network, load_triples,
                                         save_triples, simulate_triples, train_sim, training_config)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

SIMULATION = SIMLearnedSimulation(raw_shape=(64, 64), n_stacks=160, photons=30.0, photons_spread=2.0, seed=1)
NAMES = {9: "sim_2d_9frames.onnx", 3: "sim_2d_3frames.onnx"}


def config(n_frames: int, *, steps: int, device: str, sim: SIMLearnedSimulation = SIMULATION) -> SIMLearnedConfig:
    return training_config(n_frames, steps=steps, device=device, sim=sim)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def readme_row(path: Path, card) -> str:
    m, t = card.metrics, card.train
    return (f"| `{path.name}` | `scripts/train_sim_models.py` ({t['steps']} steps × {t['batch_size']} patches "
            f"{t['patch_size']}, depth 3, 16 filters, {t.get('wall_seconds', '?')} s on {t['device']}) | "
            f"{t['stacks']} simulated 2D SIM stacks (3 angles × 3 phases, 80 nm px, NA 1.4, 210 nm pattern, "
            f"random phases, m 0.6–0.9, {t['photons']} peak photons); frames {t['frames']} | "
            f"val PSNR vs SIM-resolution truth: widefield {float(m['val_psnr_widefield']):.1f}, classical 9-frame "
            f"Wiener {float(m['val_psnr_classical']):.1f}, learned {t['frames_used']}-frame "
            f"{float(m['val_psnr_learned']):.1f} dB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=int, choices=sorted(NAMES), help="Train one model only (frames).")
    parser.add_argument("--steps", type=int, default=4000, help="Optimizer steps per model.")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=MODELS, help="Folder for the .onnx files.")
    parser.add_argument("--stacks", type=int, default=SIMULATION.n_stacks, help="Simulated training stacks.")
    parser.add_argument("--save-data", type=Path, help="Only simulate the training stacks into this .npz.")
    parser.add_argument("--data", type=Path, help="Train on stacks from --save-data instead of simulating.")
    parser.add_argument("--weights-out", type=Path, help="Only train; write <frames>.pt weights here (no export).")
    parser.add_argument("--weights-in", type=Path, help="Evaluate and export weights from --weights-out.")
    args = parser.parse_args()
    sim = SIMULATION.model_copy(update={"n_stacks": args.stacks})
    if args.device != "cuda" and not torch.cuda.is_available():
        torch.set_num_threads(2)
    keys = [args.only] if args.only else sorted(NAMES, reverse=True)
    start = time.time()
    if args.weights_in is None:
        train = load_triples(args.data) if args.data else simulate_triples(sim)
        print(f"{len(train)} training stacks ready in {time.time() - start:.0f} s", flush=True)
        if args.save_data:
            save_triples(args.save_data, train)
            return
    else:
        train = []
    if args.weights_out:  # the GPU half: train only
        args.weights_out.mkdir(parents=True, exist_ok=True)
        for n in keys:
            start = time.time()
            cfg = config(n, steps=args.steps, device=args.device, sim=sim)
            network, losses = fit_network(cfg, train, progress=False)
            torch.save({"state_dict": network.state_dict(), "losses": losses, "steps": args.steps,
                        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                        "wall_seconds": round(time.time() - start)}, args.weights_out / f"{n}.pt")
            print(f"{n} frames: {args.steps} steps in {time.time() - start:.0f} s, loss {losses[0]:.4f} -> "
                  f"{sum(losses[-20:]) / len(losses[-20:]):.4f}", flush=True)
        return
    val = simulate_triples(sim, n=8, seed=sim.seed + 10_000)
    for n in keys:
        start = time.time()
        pretrained, steps = None, args.steps
        if args.weights_in is not None:
            pretrained = torch.load(args.weights_in / f"{n}.pt", map_location="cpu")
            steps = pretrained["steps"]
        card, path = train_sim(config(n, steps=steps, device=args.device, sim=sim), args.out / NAMES[n],
                               commit=_commit(), data=(train, val), progress=False, pretrained=pretrained)
        path.with_suffix(".pt").unlink()  # reproducible from this script; keep the repo small
        card.train["wall_seconds"] = str(pretrained["wall_seconds"] if pretrained else round(time.time() - start))
        write_card(path, card)
        print(card.metrics, flush=True)
        print(readme_row(path, card), flush=True)


if __name__ == "__main__":
    main()
