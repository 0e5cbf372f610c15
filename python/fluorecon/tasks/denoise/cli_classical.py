"""`fluorecon denoise-classical IN OUT --method vst-bm3d|vst-nlm|bm3d|nlm|gaussian|median`: the classical baselines on a TIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def denoise_classical_command(
    image: Path = typer.Argument(..., help="Noisy input TIFF or OME-Zarr (YX planes; ZYX stacks are denoised plane "
                                 "by plane, as 3D stacks for nlm and vst-nlm)."),
    output: Path = typer.Argument(..., help="Denoised TIFF or OME-Zarr to write (float32, input's calibration). "
                                  "OUT.zarr, or an input larger than memory, runs plane by plane without holding "
                                  "the image."),
    method: str = typer.Option("nlm", "--method", help="vst-bm3d (strongest): generalised Anscombe transform with the "
                               "camera's Poisson-Gaussian noise estimated from the image, BM3D, exact unbiased inverse; "
                               "vst-nlm: the same with non-local means; nlm / bm3d: one noise level on the normalized "
                               "image; gaussian: blur with the largest sigma the noise allows; median: 3x3."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="Run the planes on this dask "
                                                 "cluster (tcp://host:8786); the output is written block by block."),
) -> None:
    """Denoise with a classical method (noise model estimated from each plane).

    Example: fluorecon denoise-classical noisy.tif nlm.tif --method bm3d
    """
    from fluorecon import __version__
    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.core.progress import progress_callback
    from fluorecon.core.streaming import open_lazy, streams
    from fluorecon.tasks.denoise.streaming import denoise_image, denoise_to_zarr

    info = f"fluorecon.version: {__version__}\nmethod: {method} (classical)\ninput: {image.name}"
    progress = progress_callback("denoise", unit=" planes")
    try:
        if dask_scheduler or streams(image, output):
            with open_lazy(image) as (data, meta):
                denoise_to_zarr(data, meta, output, method=method, info=info + "\nmode: block-wise", name=image.name,
                                progress=progress, scheduler=dask_scheduler)
            typer.echo(f"Wrote {output} ({method}, block-wise).")
            return
        data, meta = read_tiff(image)
        out = denoise_image(data, meta, method, name=image.name, progress=progress)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    write_tiff(output, out, meta, info=info)
    typer.echo(f"Wrote {output} ({method}).")


def register(app: typer.Typer) -> None:
    app.command("denoise-classical")(denoise_classical_command)
