"""`fluorecon lightfield-learned train|predict`: the learned (VCD-style) light-field path, thin
wrappers over fluorecon.tasks.lightfield.learned. The iterative path is `fluorecon lightfield
reconstruct`; `predict` here takes the same rectified light field (or a raw one with
--calibration) and writes a z-calibrated volume TIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

ERRORS = (ValueError, FileNotFoundError)
DEFAULT_MODEL = Path(__file__).resolve().parents[4] / "models" / "lightfield_vcd.onnx"

group = typer.Typer(name="lightfield-learned", no_args_is_help=True,
                    help="Learned light-field reconstruction: train a view → volume network, predict volumes.")


def _fail(err: Exception) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


@group.command("train")
def train_command(
    out: Path = typer.Option(..., "--out", help="ONNX model to write (a .pt checkpoint is written beside it)."),
    nnum: int = typer.Option(11, "--nnum", help="Pixels per lenslet (odd)."),
    z_min: float = typer.Option(-16.0, "--z-min", help="First z plane, µm (0 = focal plane)."),
    z_max: float = typer.Option(16.0, "--z-max", help="Last z plane, µm."),
    z_step: float = typer.Option(4.0, "--z-step", help="z step, µm."),
    magnification: float = typer.Option(20.0, "--magnification", help="Objective magnification."),
    na: float = typer.Option(0.5, "--na", help="Objective NA."),
    pitch: float = typer.Option(100.0, "--pitch", help="Lenslet pitch, µm."),
    focal: float = typer.Option(2000.0, "--focal", help="Lenslet focal length, µm."),
    volumes: int = typer.Option(24, "--volumes", help="Simulated training volumes (beads + filaments)."),
    lenslets: int = typer.Option(12, "--lenslets", help="Lenslets per side of each simulated light field."),
    steps: int = typer.Option(600, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", help="Patches per step."),
    patch: int = typer.Option(12, "--patch", help="Patch side in lenslets (multiple of 2)."),
    filters: int = typer.Option(32, "--filters", help="Features at the first U-Net level."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate."),
    rl_iter: int = typer.Option(8, "--rl-iter", help="Richardson–Lucy iterations of the validation baseline."),
    seed: int = typer.Option(0, "--seed", help="Seed of data and weights."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Train a view → volume network on simulated light fields and export it with its card.

    Example: fluorecon lightfield-learned train --out models/my_lf.onnx --nnum 11 --z-step 4
    """
    from pydantic import ValidationError

    from fluorecon.nets.vcd import VCDConfig
    from fluorecon.tasks.lightfield.learned import LearnedLightFieldConfig, LearnedLightFieldSimulation, card_record
    from fluorecon.tasks.lightfield.train import train_lightfield_learned
    from fluorecon.train import TrainConfig

    try:
        optics = dict(nnum=nnum, z_min_um=z_min, z_max_um=z_max, z_step_um=z_step, magnification=magnification, na=na,
                      lenslet_pitch_um=pitch, lenslet_focal_um=focal)
        config = LearnedLightFieldConfig(
            optics=optics, rl_iter=rl_iter,
            net=VCDConfig(nnum=nnum, z_planes=1, filters=filters),
            train=TrainConfig(steps=steps, batch_size=batch_size, patch_size=(patch, patch), lr=lr, seed=seed,
                              device=device, loss="l2"),
            simulation=LearnedLightFieldSimulation(n_volumes=volumes, n_lenslets=(lenslets, lenslets), seed=seed))
        card, path = train_lightfield_learned(config, out)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    m = card.metrics
    typer.echo(f"validation PSNR (dB, fitted): back-projection {m.get('val_psnr_backprojection')}, "
               f"RL {m.get('val_psnr_rl', '-')}, VCD {m.get('val_psnr_vcd')}")
    typer.echo(f"Wrote {path} ({card_record(card)}).")


@group.command("predict")
def predict_command(
    image_path: Path = typer.Argument(..., help="Light field TIFF (one 2D plane): rectified, or raw with --calibration."),
    out_path: Path = typer.Argument(..., help="Volume TIFF to write (Z, Y, X float32, µm calibration)."),
    model: Path = typer.Option(DEFAULT_MODEL, "--model", help="ONNX light-field model (task=lightfield)."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Lenslet grid JSON from `fluorecon "
                                               "lightfield calibrate`: rectify the raw light field first."),
    tile: int = typer.Option(0, "--tile", help="Tile side in lenslets (0 = the model's default)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime threads (default: all cores)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    consistency: Optional[Path] = typer.Option(None, "--consistency", help="Also write the data-consistency map "
                                               "(Y, X): rectified light field minus the re-projected volume and "
                                               "background, over the Poisson–Gaussian noise σ."),
    refine: int = typer.Option(0, "--refine", help="Richardson–Lucy iterations over the wave-optics projector "
                               "started from the network's volume, so that it explains the light field to the "
                               "noise level (0 = the network's output as is; about 20 make the shipped model's "
                               "volumes data-consistent, bench/results/lightfield.md)."),
) -> None:
    """Reconstruct a volume from a light field with a learned model (one network pass). The input is
    checked against the model's training statistics; warnings are printed and stored in the Info.

    Example: fluorecon lightfield-learned predict lf.tif volume.tif --model models/lightfield_vcd.onnx --refine 20
    """
    from fluorecon.core.modelcard import ModelCardError
    from fluorecon.tasks.lightfield.learned import predict_to_file

    try:
        summary = predict_to_file(image_path, out_path, model=model, calibration=calibration, tile=tile or None,
                                  threads=threads, device=device, consistency=consistency,
                                  refine=refine)
    except (ModelCardError, *ERRORS) as err:
        _fail(err)
    typer.echo(summary)


def register(app: typer.Typer) -> None:
    from fluorecon.commands import subgroup

    app.add_typer(group, name="lightfield-learned")
    # the same command as `fluorecon train lightfield`, beside the other tasks' (issue 16)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("lightfield")(train_command)
