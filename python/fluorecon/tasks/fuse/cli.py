"""`fluorecon fuse VIEW1.tif VIEW2.tif ... OUT.tif`: multiview Richardson–Lucy fusion (Preibisch et
al. 2014) of views of one specimen on one grid; the same function as the server's ``fuse`` job."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer


def _stack(paths: list[Path], what: str, hint: str):
    """One file with a C axis, or several files (one per view) stacked as channels."""
    from fluorecon.core.io import TiffMeta, read_tiff

    images, metas = zip(*(read_tiff(p) for p in paths))
    if len(paths) == 1:
        return images[0], metas[0]
    if any(m.axes != metas[0].axes or i.shape != images[0].shape for i, m in zip(images, metas)) or "C" in metas[0].axes:
        shapes = ", ".join(f"{p.name} {m.axes} {i.shape}" for p, i, m in zip(paths, images, metas))
        raise typer.BadParameter(f"every {what} must be one channel with the same axes and shape; got {shapes}.",
                                 param_hint=hint)
    meta = metas[0]
    return np.stack(images), TiffMeta(axes="C" + meta.axes, pixel_size_um=meta.pixel_size_um,
                                      z_step_um=meta.z_step_um, unit=meta.unit)


def fuse_command(
    paths: List[Path] = typer.Argument(..., help="VIEW1.tif VIEW2.tif ... OUT.tif (views on one grid, same shape), "
                                       "or VIEWS.tif OUT.tif with the views as channels."),
    psf: Optional[List[Path]] = typer.Option(None, "--psf", help="PSF TIFF of each view, in view order (repeat the "
                                             "option), or one TIFF with one PSF per channel."),
    view_axes: Optional[str] = typer.Option(None, "--view-axes", help="Theoretical PSFs: detection axis of each view, "
                                            "e.g. z,x (needs --na and --wavelength-nm)."),
    na: Optional[float] = typer.Option(None, "--na", help="Detection numerical aperture (theoretical PSFs)."),
    wavelength_nm: Optional[float] = typer.Option(None, "--wavelength-nm", help="Emission wavelength, nm."),
    ni: float = typer.Option(1.515, "--ni", help="Immersion refractive index (as the server's psf.ni; water "
                             "dipping light-sheet objectives: 1.33)."),
    ns: float = typer.Option(1.33, "--ns", help="Sample refractive index."),
    sheet_fwhm_nm: Optional[float] = typer.Option(None, "--sheet-fwhm-nm", help="Light-sheet thickness (FWHM, nm)."),
    pixel_size_nm: Optional[float] = typer.Option(None, "--pixel-size-nm", help="Lateral pixel size, nm (default: TIFF)."),
    z_step_nm: Optional[float] = typer.Option(None, "--z-step-nm", help="Z step, nm (default: TIFF)."),
    num_iter: int = typer.Option(20, "--num-iter", help="Multiview RL iterations."),
    background: float = typer.Option(0.0, "--background", help="Camera offset (+ background) in ADU, subtracted from every view."),
    align: bool = typer.Option(True, "--register/--no-register", help="Translate views onto view 1 first."),
) -> None:
    """Fuse views of one specimen by multiview Richardson–Lucy (Preibisch et al. 2014)."""
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.deconvolve.classical import PSFParams
    from fluorecon.tasks.fuse.classical import FuseSpec, run_job

    if len(paths) < 2:
        raise typer.BadParameter("give the views and the output: VIEW1.tif VIEW2.tif OUT.tif (or VIEWS.tif OUT.tif).",
                                 param_hint="PATHS")
    *view_paths, out_path = paths
    if psf and (view_axes or na is not None):
        raise typer.BadParameter("give either --psf files or theoretical PSFs (--view-axes, --na, --wavelength-nm), "
                                 "not both.", param_hint="--psf")
    try:
        params = None
        if na is not None or wavelength_nm is not None:
            if na is None or wavelength_nm is None:
                raise typer.BadParameter("theoretical PSFs need both --na and --wavelength-nm.", param_hint="--na")
            params = PSFParams(na=na, wavelength_nm=wavelength_nm, ni=ni, ns=ns, pixel_size_nm=pixel_size_nm,
                               z_step_nm=z_step_nm)
        spec = FuseSpec(num_iter=num_iter, psf=params, background=background, align=align,
                        sheet_fwhm_nm=sheet_fwhm_nm,
                        view_axes=[a.strip().lower() for a in view_axes.split(",")] if view_axes else None)
    except ValidationError as err:
        raise typer.BadParameter("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()),
                                 param_hint="options") from None
    image, meta = _stack(view_paths, "view", "PATHS")
    psf_image = psf_meta = None
    if psf:
        psf_image, psf_meta = _stack(psf, "PSF", "--psf")
        if len(psf) == 1 and "C" not in psf_meta.axes:
            raise typer.BadParameter(f"{psf[0].name} is a single PSF; give one --psf per view or one TIFF with a PSF "
                                     "per channel.", param_hint="--psf")
    try:
        fused, axes, info = run_job(image, meta, spec, psf_image, psf_meta)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="PATHS") from None
    write_tiff(out_path, fused, TiffMeta(axes=axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um,
                                         unit=meta.unit), info=info)
    typer.echo(f"{out_path}: fused {image.shape[meta.axes.index('C')]} views ({spec.num_iter} iterations)")


def register(app: typer.Typer) -> None:
    from fluorecon.tasks.fuse import cli_simulate

    app.command("fuse")(fuse_command)
    cli_simulate.register(app)
