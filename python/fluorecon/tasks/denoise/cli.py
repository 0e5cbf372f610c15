"""`fluorecon simulate denoise` and `fluorecon train denoise`: thin wrappers over fluorecon.tasks.denoise.learned."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import subgroup
from fluorecon.tasks.denoise import cli_classical, cli_dip


def _fail(err: Exception) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


def simulate_denoise(
    out: Path = typer.Option(..., "--out", help="Folder to create: OUT/low/*.tif (noisy inputs), OUT/high/*.tif "
                             "(high-photon targets), OUT/clean/*.tif (noise-free truth), OUT/simulation.json."),
    ndim: int = typer.Option(2, "--ndim", help="2 for YX planes, 3 for ZYX stacks."),
    n: int = typer.Option(16, "--n", help="Number of image pairs."),
    size: Optional[int] = typer.Option(None, "--size", help="Side in pixels (default 256 in 2D; 128 with 32 planes in 3D)."),
    photons_low: float = typer.Option(15.0, "--photons-low", help="Peak photons per pixel of the noisy input "
                                      "(5 = very noisy, 50 = moderate)."),
    photons_high: float = typer.Option(1000.0, "--photons-high", help="Peak photons per pixel of the target."),
    kind: str = typer.Option("mixed", "--kind", help="Phantom: mixed, filaments, vesicles, membranes or nuclei."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Pixel size in the sample (nm)."),
    na: float = typer.Option(1.2, "--na", help="Numerical aperture of the simulated objective."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same data."),
) -> None:
    """Simulate low/high-photon training pairs of blurred phantoms (calibrated ImageJ TIFFs).

    Example: fluorecon simulate denoise --out data/denoise --n 16
    """
    from pydantic import ValidationError

    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings, simulate_pairs, write_pairs

    try:
        shape = None
        if size is not None:
            shape = (size, size) if ndim == 2 else (max(8, size // 4), size, size)
        sim = DenoiseSimulation(ndim=ndim, n_images=n, shape=shape, photons_low=photons_low, photons_high=photons_high,
                                kind=kind, seed=seed, psf=PSFSettings(na=na, pixel_size_nm=pixel_size_nm))
        write_pairs(out, simulate_pairs(sim), sim)
    except (ValidationError, ValueError) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/low and {out}/high (ground truth in {out}/clean).")


def train_denoise_command(
    data: Optional[Path] = typer.Option(None, "--data", help="care: folder with low/ and high/ TIFF pairs (same file names); "
                                        "n2n: two folders of matched noisy acquisitions, a/ and b/ (or low/ and high/); "
                                        "n2v/n2s: a folder of noisy TIFFs (DIR/low/*.tif or DIR/*.tif). "
                                        "Omit to train on freshly simulated data."),
    out: Path = typer.Option(..., "--out", help="ONNX model to write (a .pt checkpoint is saved beside it)."),
    method: str = typer.Option("care", "--method", help="care: supervised U-Net on low/high pairs; n2n: Noise2Noise; "
                               "n2v: Noise2Void; n2v2: N2V2 (Noise2Void without checkerboard artefacts); n2s: Noise2Self "
                               "(the last three need only noisy images)."),
    ndim: int = typer.Option(2, "--ndim", help="2: the model denoises planes; 3: whole z-stacks."),
    steps: int = typer.Option(1000, "--steps", help="Optimizer steps (one batch of random patches each)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Patches per step (default 16 in 2D, 4 in 3D)."),
    patch: Optional[int] = typer.Option(None, "--patch", help="Patch side (default 64; 3D patches use 32 planes)."),
    depth: int = typer.Option(2, "--depth", help="U-Net depth (tiles must be multiples of 2**depth)."),
    filters: int = typer.Option(16, "--filters", help="U-Net filters at the first level."),
    probabilistic: bool = typer.Option(False, "--probabilistic", help="Also predict a per-pixel uncertainty (Laplace scale)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    name: str = typer.Option("CARE denoising", "--name", help="Model name shown in Fiji."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and patch sampling."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cpu or cuda."),
) -> None:
    """Train a denoising model and export it to ONNX with its model card.

    Validation PSNR/SSIM of the network, of non-local means and of the raw input are printed and
    stored in the card (metrics.*).

    Example: fluorecon train denoise --data data/denoise --out models/my_care.onnx --steps 2000
    """
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.denoise.learned import DenoiseConfig, train_denoise
    from fluorecon.train import TrainConfig

    try:
        unet = UNetConfig(ndim=ndim, depth=depth, filters=filters, probabilistic=probabilistic)
        side = patch or 64
        patch_size = (side, side) if ndim == 2 else (min(32, side), side, side)
        train = TrainConfig(steps=steps, batch_size=batch_size or (16 if ndim == 2 else 4), patch_size=patch_size,
                            lr=lr, seed=seed, device=device,
                            loss="laplace" if probabilistic else ("l1" if method == "care" else "l2"))
        if method in ("n2v", "n2s", "n2v2"):  # blind-spot nets must not add the input back (tasks/selfsupervised.py)
            unet = unet.model_copy(update={"residual": False})
        if method != "care" and name == "CARE denoising":
            name = {"n2n": "Noise2Noise", "n2v": "Noise2Void", "n2s": "Noise2Self", "n2v2": "N2V2"}.get(method, method) + " denoising"
        config = DenoiseConfig(method=method, ndim=ndim, unet=unet, train=train, name=name)
        card, path = train_denoise(config, out, data=data)
    except (ValidationError, ValueError, FileNotFoundError) as err:
        _fail(err)
    console = Console()
    rows = [(label, card.metrics[f"val_psnr_{key}"], card.metrics[f"val_ssim_{key}"])
            for key, label in (("input", "noisy input"), ("nlm", "non-local means"), ("care", "CARE"),
                               ("n2n", "Noise2Noise"), ("n2v", "Noise2Void"), ("n2v2", "N2V2"), ("n2s", "Noise2Self"))
            if f"val_psnr_{key}" in card.metrics]
    if rows:  # self-supervised training on noisy images alone has no clean validation: no empty table
        table = Table(title=f"Validation ({card.metrics.get('val_images', '?')} images)")
        for col in ("", "PSNR (dB)", "SSIM"):
            table.add_column(col)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(f"Wrote {path} (checkpoint {path.with_suffix('.pt')}).")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("denoise")(simulate_denoise)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("denoise")(train_denoise_command)
    cli_dip.register(app)
    cli_classical.register(app)
