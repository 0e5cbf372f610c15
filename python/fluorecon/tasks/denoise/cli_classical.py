"""`fluorecon denoise-classical IN OUT --method vst-bm3d|vst-nlm|bm3d|nlm|gaussian|median`: the classical baselines on a TIFF."""

from __future__ import annotations

from pathlib import Path

import typer


def denoise_classical_command(
    image: Path = typer.Argument(..., help="Noisy input TIFF (YX planes; ZYX stacks are denoised plane by plane for bm3d)."),
    output: Path = typer.Argument(..., help="Denoised TIFF to write (float32, input's calibration)."),
    method: str = typer.Option("nlm", "--method", help="vst-bm3d (strongest): generalised Anscombe transform with the "
                               "camera's Poisson-Gaussian noise estimated from the image, BM3D, exact unbiased inverse; "
                               "vst-nlm: the same with non-local means; nlm / bm3d: one noise level on the normalized "
                               "image; gaussian: blur with the largest sigma the noise allows; median: 3x3."),
) -> None:
    """Denoise with a classical method (noise model estimated from the image).

    Example: fluorecon denoise-classical noisy.tif nlm.tif --method bm3d
    """
    import numpy as np

    from fluorecon import __version__
    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.tasks.denoise.learned import denoise_classical

    try:
        data, meta = read_tiff(image)
        if not np.isfinite(data).all():
            raise ValueError(f"{image.name} contains NaN or infinite pixels; replace them (Process › Math › Remove "
                             "NaNs…) first.")
        if min(data.shape[-2:]) < 8:
            raise ValueError(f"{image.name} is too small to denoise ({data.shape[-2]}×{data.shape[-1]} pixels); "
                             "the noise estimate and the patches need at least 8×8.")
        spatial = 3 if "Z" in meta.axes and method in ("nlm", "vst-nlm") else 2
        blocks = data.reshape((-1,) + data.shape[data.ndim - spatial:])
        out = np.stack([denoise_classical(b, method=method) for b in blocks]).reshape(data.shape)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    write_tiff(output, out.astype(np.float32), meta,
               info=f"fluorecon.version: {__version__}\nmethod: {method} (classical)\ninput: {image.name}")
    typer.echo(f"Wrote {output} ({method}).")


def register(app: typer.Typer) -> None:
    app.command("denoise-classical")(denoise_classical_command)
