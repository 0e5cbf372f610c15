"""`fluorecon simulate localize`: a simulated SMLM time stack with its ground-truth table; `fluorecon train
localize`: a Deep-STORM or DECODE-style network trained on simulated frames of your acquisition
(fluorecon.tasks.localize.train, as scripts/train_smlm_models.py trains the shipped ones)."""

from __future__ import annotations

from pathlib import Path

import typer

from fluorecon.commands import (ERRORS, ModelOptions, SimulateOptions, fail, model_options, simulate_options,
                                subgroup)

STRUCTURE_HELP = "Where emitters sit: filaments, rings or uniform."
CAMERA_HELP = "Camera noise model: emccd, scmos or ideal."


@simulate_options(out_help="Folder to create: OUT/frames.tif (T, Y, X; camera ADU, calibrated), OUT/truth.csv "
                  "(ThunderSTORM CSV of every emitter that is on: ground truth), OUT/simulation.json (the parameters "
                  "used).", n=200, n_help="Number of frames.", size=64, size_help="Frame side in pixels.",
                  photons=2000.0, photons_help="Mean photons per emitter per frame (log-normal).")
def simulate_localize(
    target: SimulateOptions = None,
    density: float = typer.Option(0.5, "--density", help="Mean emitters on per µm² per frame."),
    structure: str = typer.Option("filaments", "--structure", help=STRUCTURE_HELP),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Camera pixel size in the sample (nm)."),
    sigma_nm: float = typer.Option(130.0, "--sigma-nm", help="Gaussian PSF σ (nm)."),
    background: float = typer.Option(20.0, "--background", help="Background photons per pixel per frame."),
    camera: str = typer.Option("emccd", "--camera", help=CAMERA_HELP),
) -> None:
    """Simulate an SMLM acquisition: blinking emitters on a structure, camera noise, ground-truth table.

    Example: fluorecon simulate localize --out data/smlm --n 200 --density 0.5
    """
    from pydantic import ValidationError

    from fluorecon.commands import write_simulation_json
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.localize.learned import write_thunderstorm_csv
    from fluorecon.tasks.localize.physics import SMLMConfig, simulate_smlm

    out, n, size, photons, seed = target.out, target.n, target.size, target.photons, target.seed
    try:
        config = SMLMConfig(shape=(size, size), num_frames=n, pixel_size_nm=pixel_size_nm, structure=structure,
                            density=density, photons=photons, background=background, sigma_nm=sigma_nm,
                            camera=camera, seed=seed)
    except ValidationError as err:
        fail(err)
    data = simulate_smlm(config)
    out.mkdir(parents=True, exist_ok=True)
    write_tiff(out / "frames.tif", data.frames, TiffMeta(axes="TYX", pixel_size_um=pixel_size_nm / 1000),
               info="fluorecon simulate localize: SMLM frames (camera ADU)")
    write_thunderstorm_csv(out / "truth.csv", data.truth)
    write_simulation_json(out, "localize", seed, {"inputs": "frames.tif", "ground_truth": "truth.csv"},
                          simulation=config, camera=config.camera_model())
    typer.echo(f"Wrote {n} frames ({len(data.truth)} emitter-frames on) to {out}/frames.tif (ground truth "
               f"{out}/truth.csv, parameters {out}/simulation.json).")


@model_options(steps=3000, qc_inputs=96, qc_what="frames", name_help="method and acquisition", device=True)
def train_localize(
    model: ModelOptions = None,
    method: str = typer.Option("deepstorm", "--method", help="deepstorm or decode."),
    samples: int = typer.Option(2048, "--samples", help="Simulated training frames (a pool reused every epoch)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames per step."),
    patch: int = typer.Option(32, "--patch", help="Training frame side in pixels."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Your camera pixel size in the sample (nm)."),
    sigma_nm: float = typer.Option(130.0, "--sigma-nm", help="Your PSF σ (nm)."),
    photons: float = typer.Option(2000.0, "--photons", help="Mean photons per emitter per frame."),
    background: float = typer.Option(20.0, "--background", help="Background photons per pixel per frame."),
    camera: str = typer.Option("emccd", "--camera", help=CAMERA_HELP),
    density_max: float = typer.Option(3.0, "--density-max", help="Highest emitter density trained on (/µm²); "
                                      "densities are drawn uniformly from 0.1 to this."),
    validation_frames: int = typer.Option(48, "--validation-frames", help="Held-out filament frames per density "
                                          "(low, high) for the threshold and the card's metrics."),
) -> None:
    """Train a Deep-STORM or DECODE-style localisation network on simulated frames of your acquisition; the peak
    threshold is chosen on held-out frames and written into the card with the validation Jaccard and RMSE.

    Example: fluorecon train localize --out my_deepstorm.onnx --pixel-size-nm 108 --sigma-nm 140 --camera scmos
    """
    from pydantic import ValidationError

    from fluorecon.tasks.localize.train import train_localize as train, training_config

    if method not in ("deepstorm", "decode"):
        fail(ValueError(f"--method {method!r}: use deepstorm or decode."))
    try:
        cfg = training_config(method, steps=model.steps, pixel_size_nm=pixel_size_nm, sigma_nm=sigma_nm,
                              photons=photons, background=background, camera=camera, density_range=(0.1, density_max),
                              num_samples=samples, batch_size=batch_size, patch=patch, filters=filters, seed=model.seed,
                              device=model.device)
        card = train(cfg, model.out, progress=True, n_val=validation_frames,
                     qc_inputs=model.qc_inputs, log=lambda line: typer.echo(line, err=True),
                     name=model.name or f"{method} 2D ({pixel_size_nm:g} nm px, {camera}, simulated)")
    except (ValidationError, *ERRORS) as err:
        fail(err)
    m = card.metrics
    typer.echo(f"Validation (filaments, {validation_frames} frames per density): Jaccard low "
               f"{m['val_jaccard_low_density']}, high {m['val_jaccard_high_density']}; RMSE low "
               f"{m['val_rmse_nm_low_density']} nm, high {m['val_rmse_nm_high_density']} nm; threshold "
               f"{card.train['threshold']}. Wrote {model.out}.")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("localize")(simulate_localize)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("localize")(train_localize)
