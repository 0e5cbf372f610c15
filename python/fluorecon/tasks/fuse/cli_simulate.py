"""`fluorecon simulate fuse`: views of one 3D specimen, each blurred by a light-sheet PSF along its own detection
axis, with the specimen (ground truth), the PSFs and the parameters — what `fluorecon fuse` takes."""

from __future__ import annotations

from pathlib import Path

import typer

from fluorecon.commands import ERRORS, SimulateOptions, fail, simulate_options, subgroup


@simulate_options(out_help="Folder to create: OUT/views.tif (Z, C = views, Y, X; camera ADU, calibrated), "
                  "OUT/truth.tif (the specimen: ground truth), OUT/psfs.tif (one PSF per view as its channels), "
                  "OUT/simulation.json (the parameters used).", n=None, size=48,
                  size_help="Lateral side in voxels (z: half of it).", photons=200.0,
                  photons_help="Peak photons per voxel of each view.", kind="vesicles")
def simulate_fuse(
    target: SimulateOptions = None,
    view_axes: str = typer.Option("z,x", "--view-axes", help="Detection axis of each view, e.g. z,x (two views at "
                                  "90°) or z,x,y."),
    na: float = typer.Option(0.8, "--na", help="Detection numerical aperture."),
    wavelength_nm: float = typer.Option(520.0, "--wavelength-nm", help="Emission wavelength (nm)."),
    ni: float = typer.Option(1.33, "--ni", help="Immersion refractive index."),
    sheet_fwhm_nm: float = typer.Option(1500.0, "--sheet-fwhm-nm", help="Light-sheet thickness (FWHM, nm)."),
    voxel_nm: float = typer.Option(200.0, "--pixel-size-nm", help="Isotropic voxel size (nm)."),
    background: float = typer.Option(100.0, "--background", help="Camera offset in ADU."),
) -> None:
    """Simulate multiview light-sheet data: one 3D specimen seen along several detection axes.

    Example: fluorecon simulate fuse --out data/multiview --view-axes z,x
    """
    import numpy as np
    import torch

    from fluorecon.commands import write_simulation_json
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.imaging.forward import Blur
    from fluorecon.imaging.noise import CameraNoise, apply_noise
    from fluorecon.imaging.phantoms import phantom
    from fluorecon.tasks.deconvolve.classical import PSFParams
    from fluorecon.tasks.fuse.classical import view_psf

    out, size, photons, kind, seed = target.out, target.size, target.photons, target.kind, target.seed
    axes = [a.strip().lower() for a in view_axes.split(",") if a.strip()]
    try:
        if len(axes) < 2 or any(a not in ("z", "y", "x") for a in axes):
            raise ValueError(f"--view-axes {view_axes!r}: give two or more of z, y, x, e.g. z,x.")
        optics = PSFParams(na=na, wavelength_nm=wavelength_nm, ni=ni)
        shape = (max(8, size // 2), size, size)
        truth = phantom(shape, kind=kind, seed=seed)
        psfs = [view_psf(shape, (voxel_nm,) * 3, a, optics, sheet_fwhm_nm=sheet_fwhm_nm) for a in axes]
        camera = CameraNoise(photons=photons, offset=background)
    except ERRORS as err:
        fail(err)
    views = [apply_noise(Blur(p, image_shape=shape, device="cpu").A(torch.from_numpy(truth)).numpy(), camera,
                         seed=seed + 1 + i) for i, p in enumerate(psfs)]
    psf_shape = tuple(max(p.shape[i] for p in psfs) for i in range(3))
    padded = [np.pad(p, [((n - k) // 2, n - k - (n - k) // 2) for k, n in zip(p.shape, psf_shape)]) for p in psfs]
    out.mkdir(parents=True, exist_ok=True)
    um = voxel_nm / 1000
    meta = TiffMeta(axes="ZCYX", pixel_size_um=um, z_step_um=um)  # ImageJ order: the views are the channels
    write_tiff(out / "views.tif", np.stack(views, axis=1).astype(np.float32), meta,
               info=f"fluorecon simulate fuse: views along {','.join(axes)} as channels (ADU)")
    write_tiff(out / "truth.tif", truth.astype(np.float32), TiffMeta(axes="ZYX", pixel_size_um=um, z_step_um=um),
               info="fluorecon simulate fuse: the specimen (ground truth, relative intensity)")
    write_tiff(out / "psfs.tif", np.stack(padded, axis=1).astype(np.float32), meta,
               info=f"fluorecon simulate fuse: PSF of each view (sum 1), views along {','.join(axes)}")
    write_simulation_json(out, "fuse", seed, {"inputs": "views.tif", "ground_truth": "truth.tif", "psfs": "psfs.tif"},
                          shape_zyx=list(shape), kind=kind, view_axes=axes, optics=optics,
                          sheet_fwhm_nm=sheet_fwhm_nm, voxel_nm=voxel_nm, camera=camera)
    typer.echo(f"Wrote {len(axes)} views {shape} to {out}/views.tif (ground truth {out}/truth.tif, PSFs "
               f"{out}/psfs.tif, parameters {out}/simulation.json).")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("fuse")(simulate_fuse)
