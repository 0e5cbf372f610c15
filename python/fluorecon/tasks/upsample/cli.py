"""`fluorecon simulate|train upsample`: thin wrappers over fluorecon.tasks.upsample.learned. Apply the
models with `fluorecon predict` (it divides the calibration by the card's scale)."""

from __future__ import annotations

from typing import Optional

import typer

from fluorecon.commands import ERRORS, SimulateOptions, TrainOptions, fail as _fail, print_metrics as _print_metrics, option_group, simulate_options, subgroup, train_options
from fluorecon.commands.train_like import like_options, train_like_command


def _scale_options(ndim_help: str):
    """--ndim and --factor of `simulate upsample` and `train upsample`, in place of the parameter `scale`, which
    receives them as a dict."""
    return option_group("scale", {
        "ndim": (int, typer.Option(2, "--ndim", help=ndim_help)),
        "factor": (int, typer.Option(2, "--factor", help="Upsampling factor per axis: 2 or 4.")),
    }, dict)


# --- simulate -------------------------------------------------------------------------------


@simulate_options(out_help="Folder to create: OUT/low/*.tif (inputs, coarse pixels), OUT/high/*.tif (noise-free "
                  "targets, factor× finer), OUT/simulation.json.", n=16, n_help="Number of pairs.", size=None,
                  size_help="High-resolution side (default 256; 128 with 32 planes in 3D).", photons=50.0,
                  photons_help="Peak photons per low-resolution pixel.", kind="mixed")
@_scale_options(ndim_help="2 for YX planes, 3 for ZYX stacks.")
def simulate_upsample(
    target: SimulateOptions = None,
    scale: dict = None,
    na_low: float = typer.Option(0.8, "--na-low", help="NA of the low-resolution system."),
    na_high: float = typer.Option(1.4, "--na-high", help="NA of the high-resolution system."),
    pixel_size_nm: float = typer.Option(50.0, "--pixel-size-nm", help="High-resolution pixel size (nm)."),
) -> None:
    """Simulate low/high-resolution pairs (lower-NA blur, coarser pixels, camera noise).

    Example: fluorecon simulate upsample --out data/up2 --factor 2 --n 16
    """
    from pydantic import ValidationError

    from fluorecon.tasks.upsample.learned import UpsampleSimulation, simulate_pairs, write_pairs

    out, n, size, ndim = target.out, target.n, target.size, scale["ndim"]
    try:
        shape = None if size is None else ((size, size) if ndim == 2 else (max(8, size // 4), size, size))
        sim = UpsampleSimulation(**scale, shape=shape, n_images=n, photons=target.photons, na_low=na_low,
                                 na_high=na_high, pixel_size_nm=pixel_size_nm, kind=target.kind, seed=target.seed)
        write_pairs(out, simulate_pairs(sim), sim)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/low and {out}/high.")


# --- train ----------------------------------------------------------------------------------


@train_options(data_help="Folder with low/ and high/ (factor× larger) TIFF pairs; omit to train on freshly simulated "
               "pairs.", out_help="ONNX model to write (a .pt checkpoint is saved beside it).", patch=32,
               patch_help="Patch side in INPUT pixels (3D: patch/4 planes).", name="CARE upsampling")
@_scale_options(ndim_help="2: planes; 3: z-stacks (every axis upsampled).")
@like_options(like_help="Train for my microscope: fit the simulation to this raw "
              "image, taken as the model's input (pixel size from its calibration or "
              "--pixel-size-nm, camera noise and photons estimated from it, nearest phantom "
              "structure; --na and --wavelength-nm required) and fine-tune the shipped ×2 "
              "model on it. --steps, --batch-size (default 8), --lr apply.",
              base_model_help="--like: the 2D ×2 model to fine-tune "
              "(default: the shipped care_upsample2x_2d.onnx).")
def train_upsample_command(
    train: TrainOptions = None,
    scale: dict = None,
    sigma_extra_px: Optional[str] = typer.Option(None, "--sigma-extra-px", help="Forward-model blur σ per axis in output "
                                                 "pixels, comma list (for the consistency check on your own data)."),
    like: dict = None,
) -> None:
    """Train an upsampling model (×2/×4) and export it with `scale` in its card.

    Example: fluorecon train upsample --data data/up2 --out models/my_up2.onnx --factor 2
    Example: fluorecon train upsample --like frame.tif --na 0.8 --wavelength-nm 520 --out models/mine_up2.onnx --steps 300
    """
    if like["image_path"] is not None:
        if train.data is not None:
            _fail("--like simulates its training data; drop --data (or drop --like to train on your pairs).")
        if scale["ndim"] != 2 or scale["factor"] != 2:
            _fail("--like fine-tunes the shipped 2D ×2 model; drop --ndim/--factor.")
        return train_like_command("upsample", **like, out=train.out, steps=train.steps, batch_size=train.batch_size,
                                  lr=train.lr, seed=train.seed, device=train.device,
                                  name="" if train.name == "CARE upsampling" else train.name)
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.upsample.learned import UpsampleConfig, train_upsample

    try:
        sigma = tuple(float(v) for v in sigma_extra_px.split(",")) if sigma_extra_px else None
        ndim = scale["ndim"]
        config = UpsampleConfig(**scale, name=train.name, sigma_extra_px=sigma,
                                unet=UNetConfig(ndim=ndim, depth=2, filters=train.filters), train=train.config(ndim))
        card, path = train_upsample(config, train.out, data=train.data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("bicubic", "bicubic"), ("rl", "RL-TV (blur + downsample)"), ("care", "CARE")])
    typer.echo(f"Wrote {path} (scale {','.join(map(str, card.scale))}).")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("upsample")(simulate_upsample)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("upsample")(train_upsample_command)
