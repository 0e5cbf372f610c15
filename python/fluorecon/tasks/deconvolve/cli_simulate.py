"""`fluorecon simulate deconvolve`: blurred, noisy inputs, their sharp ground truth, the PSF that made them
and the parameters used; `fluorecon train deconvolve`: the learned deconvolution trained on such data
(fluorecon.tasks.deconvolve.learned, as scripts/train_deconv_model.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def simulate_deconvolve(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/low/*.tif (blurred, noisy, ADU), OUT/clean/*.tif "
                             "(sharp phantoms: ground truth), OUT/psf.tif, OUT/simulation.json (the parameters used)."),
    n: int = typer.Option(8, "--n", help="Number of images."),
    size: int = typer.Option(128, "--size", help="Side in pixels."),
    photons: float = typer.Option(50.0, "--photons", help="Peak photons per pixel (each image drawn log-uniformly "
                                  "within ×/÷ 2 of it)."),
    kind: str = typer.Option("mixed", "--kind", help="Phantom: mixed, filaments, vesicles, membranes or nuclei."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Pixel size in the sample (nm)."),
    na: float = typer.Option(1.2, "--na", help="Numerical aperture of the simulated objective."),
    wavelength_nm: float = typer.Option(520.0, "--wavelength-nm", help="Emission wavelength (nm)."),
    ni: float = typer.Option(1.33, "--ni", help="Immersion refractive index (1.515 oil, 1.33 water, 1.0 air)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate deconvolution data: blurred noisy images, sharp ground truth, the PSF and the parameters.

    Example: fluorecon simulate deconvolve --out data/deconvolve --n 8
    """
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.deconvolve.learned import simulate_deconvolution_pairs
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings

    try:
        sim = DenoiseSimulation(ndim=2, n_images=n, shape=(size, size), photons_low=photons, kind=kind, seed=seed,
                                psf=PSFSettings(na=na, pixel_size_nm=pixel_size_nm, wavelength_nm=wavelength_nm,
                                                ni=ni))
        pairs, psf = simulate_deconvolution_pairs(sim, n=n, seed=seed)
    except (ValidationError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    meta = TiffMeta(axes="YX", pixel_size_um=pixel_size_nm / 1000)
    for sub in ("low", "clean"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, (low, clean) in enumerate(pairs):
        write_tiff(out / "low" / f"{i:03d}.tif", low, meta, info="fluorecon simulate deconvolve: blurred, noisy (ADU)")
        write_tiff(out / "clean" / f"{i:03d}.tif", clean, meta,
                   info="fluorecon simulate deconvolve: sharp phantom (ground truth, relative intensity)")
    write_tiff(out / "psf.tif", psf.astype("float32"), meta, info="fluorecon simulate deconvolve: the PSF (sum 1)")
    params = {"task": "deconvolve", "n": n, "seed": seed, "simulation": json.loads(sim.model_dump_json()),
              "files": {"inputs": "low/*.tif", "ground_truth": "clean/*.tif", "psf": "psf.tif"},
              "offset_adu": sim.camera.offset}
    (out / "simulation.json").write_text(json.dumps(params, indent=2))
    typer.echo(f"Wrote {n} images to {out}/low (ground truth in {out}/clean, PSF {out}/psf.tif, "
               f"parameters {out}/simulation.json).")


def register(app: typer.Typer) -> None:
    from fluorecon.commands import subgroup

    subgroup(app, "simulate", "Simulate training data for a task.").command("deconvolve")(simulate_deconvolve)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("deconvolve")(train_deconvolve)


def train_deconvolve(
    out: Path = typer.Option(..., "--out", help="ONNX model to write (with its model card)."),
    steps: int = typer.Option(400, "--steps", help="Optimizer steps."),
    n: int = typer.Option(16, "--n", help="Simulated images (one in five held out for validation)."),
    size: int = typer.Option(256, "--size", help="Side of the simulated images in pixels (≥ 64)."),
    photons: float = typer.Option(60.0, "--photons", help="Peak photons per pixel of the inputs."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Pixel size in the sample (nm)."),
    na: float = typer.Option(1.2, "--na", help="Numerical aperture of the PSF."),
    wavelength_nm: float = typer.Option(520.0, "--wavelength-nm", help="Emission wavelength (nm)."),
    ni: float = typer.Option(1.33, "--ni", help="Immersion refractive index (1.515 oil, 1.33 water, 1.0 air)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    name: str = typer.Option("CARE deconvolution 2D", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed of data and weights."),
) -> None:
    """Train a learned (CARE) deconvolution model on simulated data for your PSF, compared with
    Richardson–Lucy on held-out images (as scripts/train_deconv_model.py trains the shipped one).

    Example: fluorecon train deconvolve --out my_deconv.onnx --na 1.4 --wavelength-nm 600 --pixel-size-nm 65
    """
    from pydantic import ValidationError

    from fluorecon.tasks.deconvolve.learned import LearnedDeconvolveConfig, train_learned_deconvolution
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings

    try:
        if size < 64:
            raise ValueError(f"--size {size}: training patches are 64 × 64; give --size 64 or more.")
        sim = DenoiseSimulation(ndim=2, n_images=max(2, n), shape=(size, size), photons_low=photons,
                                photons_spread=1.5, seed=seed,
                                psf=PSFSettings(na=na, pixel_size_nm=pixel_size_nm, wavelength_nm=wavelength_nm,
                                                ni=ni))
        config = LearnedDeconvolveConfig(name=name, simulation=sim, steps=steps, filters=filters, seed=seed)
        card, path = train_learned_deconvolution(config, out)
    except (ValidationError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    m = card.metrics
    typer.echo(f"Validation ({m['val_images']} images) PSNR: input {m['val_psnr_input']}, Richardson–Lucy "
               f"{m['val_psnr_rl']}, CARE {m['val_psnr_care']} dB. Wrote {path}.")
