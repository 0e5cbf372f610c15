"""`fluorecon simulate|train upsample|isotropic|crossmodal`: thin wrappers over
fluorecon.tasks.upsample, .isotropic and .crossmodal. Apply the models with `fluorecon predict`
(it divides the calibration by the card's scale and runs isotropic models on XZ and YZ views)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import subgroup

ERRORS = (ValueError, FileNotFoundError)


def _fail(err: Exception) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


def _train_config(steps: int, batch_size: int, patch: int, ndim: int, lr: float, seed: int, device: str):
    from fluorecon.train import TrainConfig

    patch_size = (patch,) * 2 if ndim == 2 else (max(4, patch // 4), patch, patch)
    return TrainConfig(steps=steps, batch_size=batch_size, patch_size=patch_size, lr=lr, seed=seed, device=device)


def _print_metrics(card, rows: list[tuple[str, str]], extra: tuple[str, ...] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Validation")
    for col in ("", "PSNR (dB)", "SSIM", *extra):
        table.add_column(col)
    for key, label in rows:
        if f"val_psnr_{key}" in card.metrics:
            frc = [card.metrics.get(f"val_axial_frc_nm_{key}", "")] if extra else []
            table.add_row(label, card.metrics[f"val_psnr_{key}"], card.metrics[f"val_ssim_{key}"], *frc)
    Console().print(table)


# --- simulate -------------------------------------------------------------------------------


def simulate_upsample(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/low/*.tif (inputs, coarse pixels), "
                             "OUT/high/*.tif (noise-free targets, factor× finer), OUT/simulation.json."),
    ndim: int = typer.Option(2, "--ndim", help="2 for YX planes, 3 for ZYX stacks."),
    factor: int = typer.Option(2, "--factor", help="Upsampling factor per axis: 2 or 4."),
    n: int = typer.Option(16, "--n", help="Number of pairs."),
    size: Optional[int] = typer.Option(None, "--size", help="High-resolution side (default 256; 128 with 32 planes in 3D)."),
    photons: float = typer.Option(50.0, "--photons", help="Peak photons per low-resolution pixel."),
    na_low: float = typer.Option(0.8, "--na-low", help="NA of the low-resolution system."),
    na_high: float = typer.Option(1.4, "--na-high", help="NA of the high-resolution system."),
    pixel_size_nm: float = typer.Option(50.0, "--pixel-size-nm", help="High-resolution pixel size (nm)."),
    kind: str = typer.Option("mixed", "--kind", help="Phantom: mixed, filaments, vesicles, membranes or nuclei."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate low/high-resolution pairs (lower-NA blur, coarser pixels, camera noise).

    Example: fluorecon simulate upsample --out data/up2 --factor 2 --n 16
    """
    from pydantic import ValidationError

    from fluorecon.tasks.upsample import UpsampleSimulation, simulate_pairs, write_pairs

    try:
        shape = None if size is None else ((size, size) if ndim == 2 else (max(8, size // 4), size, size))
        sim = UpsampleSimulation(ndim=ndim, factor=factor, shape=shape, n_images=n, photons=photons, na_low=na_low,
                                 na_high=na_high, pixel_size_nm=pixel_size_nm, kind=kind, seed=seed)
        write_pairs(out, simulate_pairs(sim), sim)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/low and {out}/high.")


def simulate_isotropic(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/stacks/*.tif (anisotropic acquisitions), "
                             "OUT/truth/*.tif (isotropic ground truth)."),
    z_factor: int = typer.Option(4, "--z-factor", help="z step / lateral pixel size of the stacks."),
    n: int = typer.Option(4, "--n", help="Number of stacks."),
    size: int = typer.Option(128, "--size", help="Lateral side in pixels (isotropic depth = size / 2)."),
    photons: float = typer.Option(200.0, "--photons", help="Peak photons per pixel."),
    na: float = typer.Option(1.0, "--na", help="Numerical aperture."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Lateral pixel size (nm)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate anisotropic z-stacks (wide axial PSF, z step = z_factor × pixel) and their isotropic truth.

    Example: fluorecon simulate isotropic --out data/iso --z-factor 4
    """
    import numpy as np
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.isotropic import IsotropicSimulation, simulate_stack

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


def simulate_crossmodal(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/input/*.tif (widefield), OUT/target/*.tif (confocal)."),
    n: int = typer.Option(16, "--n", help="Number of pairs."),
    size: int = typer.Option(256, "--size", help="Side in pixels."),
    photons_in: float = typer.Option(100.0, "--photons-in", help="Peak photons of the widefield input."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate registered widefield → confocal pairs (same phantom, two PSFs, independent noise).

    Example: fluorecon simulate crossmodal --out data/wf2cf
    """
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.crossmodal import CrossModalSimulation, simulate_pairs

    try:
        sim = CrossModalSimulation(shape=(size, size), n_images=n, photons_in=photons_in, seed=seed)
        meta = TiffMeta(axes="YX", pixel_size_um=sim.pixel_size_nm / 1000)
        for i, p in enumerate(simulate_pairs(sim)):
            write_tiff(out / "input" / f"{i:03d}.tif", p.source, meta, info="fluorecon simulate crossmodal: widefield")
            write_tiff(out / "target" / f"{i:03d}.tif", p.target, meta, info="fluorecon simulate crossmodal: confocal")
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/input and {out}/target.")


# --- train ----------------------------------------------------------------------------------


def train_upsample_command(
    data: Optional[Path] = typer.Option(None, "--data", help="Folder with low/ and high/ (factor× larger) TIFF pairs; "
                                        "omit to train on freshly simulated pairs."),
    out: Path = typer.Option(..., "--out", help="ONNX model to write (a .pt checkpoint is saved beside it)."),
    ndim: int = typer.Option(2, "--ndim", help="2: planes; 3: z-stacks (every axis upsampled)."),
    factor: int = typer.Option(2, "--factor", help="Upsampling factor per axis: 2 or 4."),
    steps: int = typer.Option(1000, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(16, "--batch-size", help="Patches per step."),
    patch: int = typer.Option(32, "--patch", help="Patch side in INPUT pixels (3D: patch/4 planes)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    sigma_extra_px: Optional[str] = typer.Option(None, "--sigma-extra-px", help="Forward-model blur σ per axis in output "
                                                 "pixels, comma list (for the consistency check on your own data)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    name: str = typer.Option("CARE upsampling", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and patches."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Train an upsampling model (×2/×4) and export it with `scale` in its card.

    Example: fluorecon train upsample --data data/up2 --out models/my_up2.onnx --factor 2
    """
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.upsample import UpsampleConfig, train_upsample

    try:
        sigma = tuple(float(v) for v in sigma_extra_px.split(",")) if sigma_extra_px else None
        config = UpsampleConfig(ndim=ndim, factor=factor, name=name, sigma_extra_px=sigma,
                                unet=UNetConfig(ndim=ndim, depth=2, filters=filters),
                                train=_train_config(steps, batch_size, patch, ndim, lr, seed, device))
        card, path = train_upsample(config, out, data=data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("bicubic", "bicubic"), ("rl", "RL-TV (blur + downsample)"), ("care", "CARE")])
    typer.echo(f"Wrote {path} (scale {','.join(map(str, card.scale))}).")


def train_isotropic_command(
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of anisotropic ZYX TIFF stacks (or with stacks/); "
                                        "omit to train on simulated stacks."),
    out: Path = typer.Option(..., "--out", help="ONNX model to write."),
    z_factor: int = typer.Option(4, "--z-factor", help="z step / lateral pixel size of the stacks."),
    sigma_extra_px: Optional[float] = typer.Option(None, "--sigma-extra-px", help="sqrt(σz² − σxy²) in lateral pixels "
                                                   "(default: from the simulation's optics)."),
    steps: int = typer.Option(1000, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(16, "--batch-size", help="Patches per step."),
    patch: int = typer.Option(48, "--patch", help="Patch side of lateral planes (multiple of 4)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    name: str = typer.Option("CARE isotropic restoration", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and patches."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Train an isotropic-restoration model on degraded lateral planes (Weigert et al. 2017).

    Example: fluorecon train isotropic --data data/iso --out models/my_iso.onnx --z-factor 4 --sigma-extra-px 4.4
    """
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.isotropic import IsotropicConfig, train_isotropic

    try:
        config = IsotropicConfig(z_factor=z_factor, sigma_extra_px=sigma_extra_px, name=name,
                                 unet=UNetConfig(ndim=2, depth=2, filters=filters),
                                 # L2: L1's conditional median read ~7 % dark (DESIGN.md, isotropic training).
                                 train=_train_config(steps, batch_size, patch, 2, lr, seed, device)
                                 .model_copy(update={"loss": "l2"}))
        card, path = train_isotropic(config, out, data=data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("interp", "linear z interpolation"), ("care", "CARE isotropic")], extra=("axial FRC (nm)",))
    typer.echo(f"Wrote {path} (z_factor {card.train['z_factor']}).")


def train_crossmodal_command(
    data: Optional[Path] = typer.Option(None, "--data", help="Folder with input/ and target/ registered TIFF pairs; "
                                        "omit to train on simulated widefield → confocal pairs."),
    out: Path = typer.Option(..., "--out", help="ONNX model to write."),
    modality_in: str = typer.Option("widefield", "--modality-in", help="Input modality (recorded in the card)."),
    modality_out: str = typer.Option("confocal", "--modality-out", help="Output modality (recorded in the card)."),
    match_units: bool = typer.Option(True, "--match-units/--no-match-units", help="Map targets into the input's units "
                                     "(same fluorophore); --no-match-units for unrelated contrasts."),
    steps: int = typer.Option(1000, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(16, "--batch-size", help="Patches per step."),
    patch: int = typer.Option(64, "--patch", help="Patch side (multiple of 4)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    name: str = typer.Option("Widefield to confocal", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and patches."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Train a paired cross-modality translation model.

    Example: fluorecon train crossmodal --data data/wf2cf --out models/wf2cf.onnx
    """
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.crossmodal import CrossModalConfig, train_crossmodal

    try:
        config = CrossModalConfig(modality_in=modality_in, modality_out=modality_out, match_units=match_units, name=name,
                                  unet=UNetConfig(ndim=2, depth=2, filters=filters),
                                  train=_train_config(steps, batch_size, patch, 2, lr, seed, device))
        card, path = train_crossmodal(config, out, data=data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("input", modality_in + " input"), ("care", "CARE translation")])
    typer.echo(f"Wrote {path} ({modality_in} → {modality_out}).")


def register(app: typer.Typer) -> None:
    simulate = subgroup(app, "simulate", "Simulate training data for a task.")
    train = subgroup(app, "train", "Train a model for a task and export it to ONNX.")
    simulate.command("upsample")(simulate_upsample)
    simulate.command("isotropic")(simulate_isotropic)
    simulate.command("crossmodal")(simulate_crossmodal)
    train.command("upsample")(train_upsample_command)
    train.command("isotropic")(train_isotropic_command)
    train.command("crossmodal")(train_crossmodal_command)
