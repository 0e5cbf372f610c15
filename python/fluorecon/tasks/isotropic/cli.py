"""`fluorecon simulate|train isotropic`: thin wrappers over fluorecon.tasks.isotropic.learned. Apply the
models with `fluorecon predict` (it runs isotropic models on XZ and YZ views)."""

from __future__ import annotations

from typing import Optional

import typer

from fluorecon.commands import ERRORS, SimulateOptions, TrainOptions, fail as _fail, print_metrics as _print_metrics, simulate_options, subgroup, train_options


@simulate_options(out_help="Folder to create: OUT/stacks/*.tif (anisotropic acquisitions), OUT/truth/*.tif "
                  "(isotropic ground truth).", n=4, n_help="Number of stacks.", size=128,
                  size_help="Lateral side in pixels (isotropic depth = size / 2).", photons=200.0,
                  photons_help="Peak photons per pixel.")
def simulate_isotropic(
    target: SimulateOptions = None,
    z_factor: int = typer.Option(4, "--z-factor", help="z step / lateral pixel size of the stacks."),
    na: float = typer.Option(1.0, "--na", help="Numerical aperture."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Lateral pixel size (nm)."),
) -> None:
    """Simulate anisotropic z-stacks (wide axial PSF, z step = z_factor × pixel) and their isotropic truth.

    Example: fluorecon simulate isotropic --out data/iso --z-factor 4
    """
    import numpy as np
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.isotropic.learned import IsotropicSimulation, simulate_stack

    out, n, size, photons, seed = target.out, target.n, target.size, target.photons, target.seed
    try:
        depth = max(z_factor, (size // 2) // z_factor * z_factor)
        sim = IsotropicSimulation(shape=(depth, size, size), z_factor=z_factor, n_stacks=n, photons=photons, na=na,
                                  pixel_size_nm=pixel_size_nm, seed=seed)
        px = pixel_size_nm / 1000
        rng = np.random.default_rng(seed)
        for i in range(n):
            acquired, truth = simulate_stack(sim, seed=int(rng.integers(2**31)))
            write_tiff(out / "stacks" / f"{i:03d}.tif", acquired, TiffMeta(axes="ZYX", pixel_size_um=px, z_step_um=px * z_factor),
                       info="fluorecon simulate isotropic: anisotropic acquisition")
            write_tiff(out / "truth" / f"{i:03d}.tif", truth, TiffMeta(axes="ZYX", pixel_size_um=px, z_step_um=px),
                       info="fluorecon simulate isotropic: isotropic truth (same units)")
        (out / "simulation.json").write_text(sim.model_dump_json(indent=2))
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    typer.echo(f"Wrote {n} stacks to {out}/stacks (truth in {out}/truth).")


@train_options(data_help="Folder of anisotropic ZYX TIFF stacks (or with stacks/); omit to train on simulated stacks.",
               patch=48, patch_help="Patch side of lateral planes (multiple of 4).", name="CARE isotropic restoration")
def train_isotropic_command(
    train: TrainOptions = None,
    z_factor: int = typer.Option(4, "--z-factor", help="z step / lateral pixel size of the stacks."),
    sigma_extra_px: Optional[float] = typer.Option(None, "--sigma-extra-px", help="sqrt(σz² − σxy²) in lateral pixels "
                                                   "(default: from the simulation's optics)."),
) -> None:
    """Train an isotropic-restoration model on degraded lateral planes (Weigert et al. 2017).

    Example: fluorecon train isotropic --data data/iso --out models/my_iso.onnx --z-factor 4 --sigma-extra-px 4.4
    """
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.isotropic.learned import IsotropicConfig, train_isotropic

    try:
        config = IsotropicConfig(z_factor=z_factor, sigma_extra_px=sigma_extra_px, name=train.name,
                                 unet=UNetConfig(ndim=2, depth=2, filters=train.filters),
                                 # L2: L1's conditional median read ~7 % dark (DESIGN.md, isotropic training).
                                 train=train.config(2).model_copy(update={"loss": "l2"}))
        card, path = train_isotropic(config, train.out, data=train.data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("interp", "linear z interpolation"), ("care", "CARE isotropic")], extra=("axial FRC (nm)",))
    typer.echo(f"Wrote {path} (z_factor {card.train['z_factor']}).")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("isotropic")(simulate_isotropic)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("isotropic")(train_isotropic_command)
