"""`fluorecon deconvolve`: Richardson–Lucy, RL-TV, Wiener locally or on the server; learned via ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import spec_option
from fluorecon.tasks.deconvolve.spec import DeconvolveSpec, PSFParams


def _fail(err: Exception | str) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


def deconvolve_command(
    input: Path = typer.Argument(..., help="Input TIFF (YX, ZYX or any TZCYX hyperstack)."),
    output: Path = typer.Argument(..., help="Output TIFF (float32, calibration and axes kept)."),
    # Generated from the contract (tasks/deconvolve/spec.py): flag names, defaults and help; --microscope stays as an
    # alias of --kind; --iterations is rewritten to --num-iter by commands.aliases.
    method: str = spec_option(DeconvolveSpec, "method", help_extra="learned: an ONNX model (--model)."),
    iterations: int = spec_option(DeconvolveSpec, "num_iter"),
    stop: str = spec_option(DeconvolveSpec, "stop"),
    tv_lambda: float = spec_option(DeconvolveSpec, "tv_lambda"),
    balance: float = spec_option(DeconvolveSpec, "balance"),
    background: float = spec_option(DeconvolveSpec, "background"),
    psf: Optional[Path] = typer.Option(None, "--psf", help="Measured PSF TIFF (bead image); else theoretical."),
    psf_pixel_size_nm: Optional[str] = spec_option(DeconvolveSpec, "psf_pixel_size_nm",
                                                   help_extra="Comma list, e.g. '65' or '200,65' (default: the PSF "
                                                   "TIFF's calibration)."),
    psf_background: str = spec_option(DeconvolveSpec, "psf_background"),
    na: Optional[float] = spec_option(PSFParams, "na", help_extra="(theoretical PSF)"),
    wavelength_nm: Optional[float] = spec_option(PSFParams, "wavelength_nm"),
    microscope: str = spec_option(PSFParams, "kind", "--microscope"),
    excitation_nm: Optional[float] = spec_option(PSFParams, "excitation_nm"),
    pinhole_au: float = spec_option(PSFParams, "pinhole_au"),
    ni: float = spec_option(PSFParams, "ni"),
    ns: float = spec_option(PSFParams, "ns"),
    pixel_size_nm: Optional[float] = spec_option(PSFParams, "pixel_size_nm"),
    z_step_nm: Optional[float] = spec_option(PSFParams, "z_step_nm"),
    psf_energy: float = spec_option(DeconvolveSpec, "psf_energy"),
    psf_extent_um: Optional[float] = spec_option(DeconvolveSpec, "psf_extent_um"),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX model for --method learned."),
    chunks: Optional[int] = typer.Option(None, "--chunks", help="Process in blocks of this size with the PSF's halo (large data; block-wise default 256)."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="Run the blocks on this dask cluster (tcp://host:8786)."),
    server: Optional[str] = typer.Option(None, "--server", help="Run on a fluorecon server (URL, e.g. http://127.0.0.1:8765)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (local runs)."),
) -> None:
    """Deconvolve an image; the PSF is theoretical (defaults from the TIFF calibration) or measured.

    Example: fluorecon deconvolve cells.tif cells-deconvolved.tif --method rl-accel --num-iter 20 --na 1.4 --wavelength-nm 520
    """
    from pydantic import ValidationError

    from fluorecon.core.io import TiffError, read_tiff, write_tiff
    from fluorecon.tasks.deconvolve.classical import DeconvolutionCancelled, DeconvolveSpec, PSFParams, deconvolve_image

    from fluorecon.core.streaming import streams

    stream = method != "learned" and not server and streams(input, output)
    try:
        if stream:  # OME-Zarr output or too big for memory: read lazily, block by block (core/blocks.py)
            from contextlib import ExitStack

            from fluorecon.core.streaming import open_lazy

            stack = ExitStack()
            image, meta = stack.enter_context(open_lazy(input))
        else:
            image, meta = read_tiff(input)
        if method == "learned":
            if model is None:
                _fail("--method learned needs --model MODEL.onnx (a deconvolution model from models/).")
            from fluorecon.infer import predict

            result = predict(image, model, axes=meta.axes, device=device, task="deconvolve")
            write_tiff(output, result, meta, info=f"fluorecon learned deconvolution, model {model.name}")
            typer.echo(f"Wrote {output}")
            return
        psf_params = None
        if psf is None:
            if na is None or wavelength_nm is None:
                _fail("Give --psf PSF.tif, or --na and --wavelength-nm for a theoretical PSF.")
            psf_params = PSFParams(kind=microscope, na=na, wavelength_nm=wavelength_nm, excitation_nm=excitation_nm,
                                   pinhole_au=pinhole_au, ni=ni, ns=ns, pixel_size_nm=pixel_size_nm, z_step_nm=z_step_nm)
        elif pixel_size_nm or z_step_nm:
            meta.pixel_size_um = pixel_size_nm / 1000 if pixel_size_nm else meta.pixel_size_um
            meta.z_step_um = z_step_nm / 1000 if z_step_nm else meta.z_step_um
        sampling = tuple(float(v) for v in psf_pixel_size_nm.split(",")) if psf_pixel_size_nm else None
        spec = DeconvolveSpec(method=method, num_iter=iterations, stop=stop, tv_lambda=tv_lambda, balance=balance,
                              background=background, psf=psf_params, psf_pixel_size_nm=sampling,
                              psf_background=psf_background, psf_energy=psf_energy, psf_extent_um=psf_extent_um)
        if stream:
            from fluorecon.tasks.deconvolve.streaming import deconvolve_to_zarr

            with stack:
                psf_image, psf_meta = read_tiff(psf) if psf else (None, None)
                report = {}
                deconvolve_to_zarr(image, meta, spec, output, psf_image=psf_image, psf_meta=psf_meta,
                                   chunks=chunks or 256, device=None if device == "auto" else device,
                                   progress=_bar(" blocks"), scheduler=dask_scheduler, report=report)
                if "psf_crop" in report:
                    typer.echo(f"Note: {report['psf_crop']}.")
        elif server:
            from fluorecon.server.client import run_remote

            job = run_remote(server, input, output, spec, psf_path=psf, progress=_bar())
            if (job.get("values") or {}).get("stop_message"):
                typer.echo(f"Deconvolution {job['values']['stop_message']}.")
        else:
            psf_image, psf_meta = read_tiff(psf) if psf else (None, None)
            report: dict = {}
            result, info = deconvolve_image(
                image, meta, spec, psf_image=psf_image, psf_meta=psf_meta,
                device=None if device == "auto" else device, chunks=chunks, scheduler=dask_scheduler, progress=_bar(),
                report=report,
            )
            write_tiff(output, result, meta, info=info)
            if "psf_crop" in report:
                typer.echo(f"Note: {report['psf_crop']}.")
            if "stop_message" in report:
                typer.echo(f"Deconvolution {report['stop_message']}.")
    except (ValidationError, ValueError, TiffError, DeconvolutionCancelled, RuntimeError) as err:
        _fail(err)
    typer.echo(f"Wrote {output}")


def _bar(unit: str = " iterations"):
    from fluorecon.core.progress import progress_callback

    return progress_callback("deconvolve", unit=unit)


def register(app: typer.Typer) -> None:
    from fluorecon.tasks.deconvolve import cli_simulate

    app.command("deconvolve")(deconvolve_command)
    cli_simulate.register(app)
