"""`fluorecon train sim`: the learned SIM reconstruction (all 9 raw frames or 3, one phase per angle) trained on
simulated raw stacks of your optics, or on your own stacks (fluorecon.tasks.sim.learned.train_sim, as
scripts/train_sim_models.py trains the shipped models/sim_2d_*frames.onnx)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import ERRORS, ModelOptions, fail, model_options, subgroup


@model_options(steps=4000, qc_inputs=48, qc_what="stacks", name_help="frames and optics",
               seed_help="Seed of weights and patches (the simulation uses seed + 1).", device=True)
def train_sim_command(
    model: ModelOptions = None,
    frames: int = typer.Option(9, "--frames", help="Raw frames the model takes: 9 (3 angles × 3 phases) or 3 (the "
                               "first phase of each angle: a 3× faster acquisition)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training stacks (.npz: raw (N, 9, Y, X) and reference "
                                        "(N, 2Y, 2X), as fluorecon.tasks.sim.learned.save_triples writes); default: "
                                        "simulated with the options below."),
    stacks: int = typer.Option(160, "--stacks", help="Simulated training stacks."),
    raw_size: int = typer.Option(64, "--raw-size", help="Side of the simulated raw frames in pixels."),
    batch_size: int = typer.Option(32, "--batch-size", help="Patches per step."),
    patch: int = typer.Option(48, "--patch", help="Patch side in raw pixels (a multiple of 8)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    photons: float = typer.Option(30.0, "--photons", help="Peak photons per raw pixel and frame (×/÷ 2)."),
    pixel_size_nm: float = typer.Option(80.0, "--pixel-size-nm", help="Raw camera pixel in the sample (nm)."),
    na: float = typer.Option(1.4, "--na", help="Numerical aperture."),
    wavelength_nm: float = typer.Option(520.0, "--wavelength-nm", help="Emission wavelength (nm)."),
    line_spacing_nm: float = typer.Option(210.0, "--line-spacing-nm", help="Pattern period (nm)."),
    angle_offset_deg: float = typer.Option(8.0, "--angle-offset-deg", help="First pattern angle (degrees)."),
    validation_stacks: int = typer.Option(8, "--validation-stacks", help="Held-out simulated stacks compared with "
                                          "widefield and the classical 9-frame Wiener SIM."),
) -> None:
    """Train a learned SIM reconstruction on simulated raw stacks of your optics (or your own stacks) and export
    it with its card: validation PSNR of widefield, classical Wiener SIM and the network against the truth.

    Example: fluorecon train sim --out my_sim3.onnx --frames 3 --na 1.3 --line-spacing-nm 230
    """
    from pydantic import ValidationError

    from fluorecon.qc.training_inputs import add_card_statistics
    from fluorecon.tasks.sim.learned import (SIMLearnedSimulation, load_triples, simulate_triples, train_sim,
                                             training_config)

    try:
        if frames not in (3, 9):
            raise ValueError(f"--frames {frames}: give 9 (all) or 3 (one phase per angle).")
        sim = SIMLearnedSimulation(raw_shape=(raw_size, raw_size), n_stacks=stacks, photons=photons,
                                   photons_spread=2.0, pixel_size_nm=pixel_size_nm, na=na, wavelength_nm=wavelength_nm,
                                   line_spacing_nm=line_spacing_nm, angle_offset_deg=angle_offset_deg, seed=model.seed + 1)
        config = training_config(frames, steps=model.steps, device=model.device, sim=sim, batch_size=batch_size, patch=patch,
                                 filters=filters, val_stacks=validation_stacks, seed=model.seed, name=model.name)
        train = load_triples(data) if data is not None else simulate_triples(sim)
        val = simulate_triples(sim, n=validation_stacks, seed=sim.seed + 10_000)
        card, path = train_sim(config, model.out, data=(train, val), progress=True)
        if data is None:  # your own stacks: the card keeps the statistics of those (train_sim computes them)
                add_card_statistics(path, model.qc_inputs)
    except (ValidationError, *ERRORS) as err:
        fail(err)
    m = card.metrics
    typer.echo(f"Validation ({validation_stacks} stacks) PSNR: widefield {m['val_psnr_widefield']}, classical "
               f"9-frame Wiener {m['val_psnr_classical']}, learned {frames}-frame {m['val_psnr_learned']} dB. "
               f"Wrote {path}.")


def register(app: typer.Typer) -> None:
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("sim")(train_sim_command)
