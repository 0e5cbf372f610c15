"""`fluorecon simulate deconvolve`: blurred, noisy inputs, their sharp ground truth, the PSF that made them
and the parameters used; `fluorecon train deconvolve`: the learned deconvolution trained on such data
(fluorecon.tasks.deconvolve.learned, as scripts/train_deconv_model.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import PSF_DEFAULTS, SimulateOptions, psf_settings_options, simulate_options
from fluorecon.commands.train_like import camera_options


@simulate_options(out_help="Folder to create: OUT/low/*.tif (blurred, noisy, ADU), OUT/clean/*.tif (sharp phantoms: "
                  "ground truth), OUT/psf.tif, OUT/simulation.json (the parameters used).", n=8,
                  n_help="Number of images.", size=128, size_help="Side in pixels.", photons=50.0,
                  photons_help="Peak photons per pixel (each image drawn log-uniformly within ×/÷ 2 of it).", kind="mixed")
@psf_settings_options(na_help="Numerical aperture of the simulated objective.", param="optics")
def simulate_deconvolve(target: SimulateOptions = None, optics: dict = None) -> None:
    """Simulate deconvolution data: blurred noisy images, sharp ground truth, the PSF and the parameters.

    Example: fluorecon simulate deconvolve --out data/deconvolve --n 8
    """
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.deconvolve.learned import simulate_deconvolution_pairs
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings

    out, n, size, seed = target.out, target.n, target.size, target.seed
    try:
        sim = DenoiseSimulation(ndim=2, n_images=n, shape=(size, size), photons_low=target.photons, kind=target.kind,
                                seed=seed, psf=PSFSettings(**optics))
        pairs, psf = simulate_deconvolution_pairs(sim, n=n, seed=seed)
    except (ValidationError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    meta = TiffMeta(axes="YX", pixel_size_um=optics["pixel_size_nm"] / 1000)
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


@psf_settings_options(na_help="Numerical aperture of the PSF", param="optics", stated="--like")
@camera_options()
def train_deconvolve(
    out: Path = typer.Option(..., "--out", help="ONNX model to write (with its model card)."),
    steps: int = typer.Option(400, "--steps", help="Optimizer steps."),
    n: int = typer.Option(16, "--n", help="Simulated images (one in five held out for validation)."),
    size: int = typer.Option(256, "--size", help="Side of the simulated images in pixels (≥ 64)."),
    photons: float = typer.Option(60.0, "--photons", help="Peak photons per pixel of the inputs."),
    optics: dict = None,
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    name: str = typer.Option("CARE deconvolution 2D", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed of data and weights."),
    like: Optional[Path] = typer.Option(None, "--like", help="Train for my microscope: fit the simulation to this raw "
                                        "image (pixel size from its calibration or --pixel-size-nm, camera noise and "
                                        "photons estimated from it, nearest phantom structure; the PSF from --na and "
                                        "--wavelength-nm, which must be given) and fine-tune the shipped learned "
                                        "deconvolution model on it (--steps applies; --n, --size, --photons, "
                                        "--filters do not)."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="--like: random initial weights instead of the "
                                      "shipped model's."),
    base_model: Optional[Path] = typer.Option(None, "--base-model", help="--like: the 2D deconvolution model to "
                                              "fine-tune (default: the shipped care_deconvolve_2d.onnx)."),
    device: str = typer.Option("auto", "--device", help="--like: auto (CUDA if present), cpu or cuda."),
    camera: dict = None,
) -> None:
    """Train a learned (CARE) deconvolution model on simulated data for your PSF, compared with
    Richardson–Lucy on held-out images (as scripts/train_deconv_model.py trains the shipped one).

    Example: fluorecon train deconvolve --out my_deconv.onnx --na 1.4 --wavelength-nm 600 --pixel-size-nm 65
    Example: fluorecon train deconvolve --like frame.tif --na 1.4 --ni 1.515 --wavelength-nm 520 --out mine.onnx --steps 300
    """
    if like is not None:
        from fluorecon.commands.train_like import train_like_command

        # NA and wavelength default for a designed simulation; fitted to an image they must be stated.
        return train_like_command("deconvolve", like, out=out, steps=steps, batch_size=None, lr=5e-4, seed=seed,
                                  device=device, name="" if name == "CARE deconvolution 2D" else name,
                                  na=optics["na"], wavelength_nm=optics["wavelength_nm"],
                                  pixel_size_nm=optics["pixel_size_nm"], ni=optics["ni"],
                                  from_scratch=from_scratch, base_model=base_model, **camera)
    from pydantic import ValidationError

    from fluorecon.tasks.deconvolve.learned import LearnedDeconvolveConfig, train_learned_deconvolution
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings

    optics = {**PSF_DEFAULTS, **{k: v for k, v in optics.items() if v is not None}}
    try:
        if size < 64:
            raise ValueError(f"--size {size}: training patches are 64 × 64; give --size 64 or more.")
        sim = DenoiseSimulation(ndim=2, n_images=max(2, n), shape=(size, size), photons_low=photons,
                                photons_spread=1.5, seed=seed, psf=PSFSettings(**optics))
        config = LearnedDeconvolveConfig(name=name, simulation=sim, steps=steps, filters=filters, seed=seed)
        card, path = train_learned_deconvolution(config, out)
    except (ValidationError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    m = card.metrics
    typer.echo(f"Validation ({m['val_images']} images) PSNR: input {m['val_psnr_input']}, Richardson–Lucy "
               f"{m['val_psnr_rl']}, CARE {m['val_psnr_care']} dB. Wrote {path}.")
