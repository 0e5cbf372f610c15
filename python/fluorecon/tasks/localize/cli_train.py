"""`fluorecon simulate localize`: a simulated SMLM time stack with its ground-truth table; `fluorecon train
localize`: a Deep-STORM or DECODE-style network trained on simulated frames of your acquisition
(fluorecon.tasks.localize.train, as scripts/train_smlm_models.py trains the shipped ones)."""

from __future__ import annotations

from pathlib import Path

import typer

from fluorecon.commands import ERRORS, fail, qc_inputs_option, subgroup

STRUCTURE_HELP = "Where emitters sit: filaments, rings or uniform."
CAMERA_HELP = "Camera noise model: emccd, scmos or ideal."


def simulate_localize(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/frames.tif (T, Y, X; camera ADU, calibrated), "
                             "OUT/truth.csv (ThunderSTORM CSV of every emitter that is on: ground truth), "
                             "OUT/simulation.json (the parameters used)."),
    n: int = typer.Option(200, "--n", help="Number of frames."),
    size: int = typer.Option(64, "--size", help="Frame side in pixels."),
    photons: float = typer.Option(2000.0, "--photons", help="Mean photons per emitter per frame (log-normal)."),
    density: float = typer.Option(0.5, "--density", help="Mean emitters on per µm² per frame."),
    structure: str = typer.Option("filaments", "--structure", help=STRUCTURE_HELP),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Camera pixel size in the sample (nm)."),
    sigma_nm: float = typer.Option(130.0, "--sigma-nm", help="Gaussian PSF σ (nm)."),
    background: float = typer.Option(20.0, "--background", help="Background photons per pixel per frame."),
    camera: str = typer.Option("emccd", "--camera", help=CAMERA_HELP),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate an SMLM acquisition: blinking emitters on a structure, camera noise, ground-truth table.

    Example: fluorecon simulate localize --out data/smlm --n 200 --density 0.5
    """
    from pydantic import ValidationError

    from fluorecon.commands import write_simulation_json
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.localize.learned import write_thunderstorm_csv
    from fluorecon.tasks.localize.physics import SMLMConfig, simulate_smlm

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


def train_localize(
    out: Path = typer.Option(..., "--out", help="ONNX model to write (with its model card)."),
    method: str = typer.Option("deepstorm", "--method", help="deepstorm or decode."),
    steps: int = typer.Option(3000, "--steps", help="Optimizer steps."),
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
    qc_inputs: int = qc_inputs_option(96, "frames"),
    name: str = typer.Option("", "--name", help="Model name shown in Fiji (default: method and acquisition)."),
    seed: int = typer.Option(0, "--seed", help="Seed of data and weights."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
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
        cfg = training_config(method, steps=steps, pixel_size_nm=pixel_size_nm, sigma_nm=sigma_nm, photons=photons,
                              background=background, camera=camera, density_range=(0.1, density_max),
                              num_samples=samples, batch_size=batch_size, patch=patch, filters=filters, seed=seed,
                              device=device)
        card = train(cfg, out, progress=True, n_val=validation_frames,
                     qc_inputs=qc_inputs, log=lambda line: typer.echo(line, err=True),
                     name=name or f"{method} 2D ({pixel_size_nm:g} nm px, {camera}, simulated)")
    except (ValidationError, *ERRORS) as err:
        fail(err)
    m = card.metrics
    typer.echo(f"Validation (filaments, {validation_frames} frames per density): Jaccard low "
               f"{m['val_jaccard_low_density']}, high {m['val_jaccard_high_density']}; RMSE low "
               f"{m['val_rmse_nm_low_density']} nm, high {m['val_rmse_nm_high_density']} nm; threshold "
               f"{card.train['threshold']}. Wrote {out}.")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("localize")(simulate_localize)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("localize")(train_localize)
