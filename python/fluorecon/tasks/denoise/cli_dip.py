"""`fluorecon dip IN OUT`: deep-image-prior denoising of one image, with the discrepancy stopping rule."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def dip_command(
    image: Path = typer.Argument(..., help="Noisy input TIFF (a YX plane or a ZYX stack, camera units)."),
    output: Path = typer.Argument(..., help="Denoised TIFF to write (float32, input's calibration)."),
    iterations: int = typer.Option(2000, "--num-iter", help="Upper bound on iterations; the discrepancy "
                                   "principle usually stops earlier."),
    tau: float = typer.Option(1.0, "--tau", help="Stop when the residual variance falls to tau × the noise variance "
                              "estimated from the image (larger: smoother, earlier)."),
    no_early_stop: bool = typer.Option(False, "--no-early-stop", help="Run all iterations (overfits the noise)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random input and the weights."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu or cuda."),
    qc_dir: Optional[Path] = typer.Option(None, "--qc", help="Also write consistency.tif and qc.json here."),
) -> None:
    """Denoise one image with the deep image prior (Ulyanov et al., CVPR 2018): no training data.

    Example: fluorecon dip noisy.tif dip.tif --num-iter 3000
    """
    from fluorecon import __version__
    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.tasks.denoise.dip import DIPConfig, deep_image_prior

    try:
        data, meta = read_tiff(image)
        if meta.axes not in ("YX", "ZYX"):
            raise ValueError(f"{image.name} has axes {meta.axes}; the deep image prior takes one YX plane or ZYX stack.")
        config = DIPConfig(num_iter=iterations, tau=tau, early_stop=not no_early_stop, seed=seed, device=device)
        result = deep_image_prior(data, config=config)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    info = "\n".join([f"fluorecon.version: {__version__}", "method: deep image prior (Ulyanov et al. 2018)",
                      f"setting.config: {config.model_dump_json()}", f"stopped_at: {result.stopped_at}",
                      f"stop_reason: {result.reason}", f"noise_model: a={result.noise.a:.5g}, b={result.noise.b:.5g}",
                      f"input: {image.name}"])
    write_tiff(output, result.image, meta, info=info)
    typer.echo(f"Stopped at iteration {result.stopped_at}: {result.reason}. Wrote {output}.")
    if qc_dir is not None:
        from fluorecon.qc.report import check_result

        report = check_result(data, result.image, noise=result.noise, out_dir=qc_dir, meta=meta)
        for w in report.warnings:
            typer.echo(f"Warning: {w}")


def register(app: typer.Typer) -> None:
    app.command("dip")(dip_command)
