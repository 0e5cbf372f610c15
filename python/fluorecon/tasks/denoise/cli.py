"""`fluorecon simulate denoise` and `fluorecon train denoise`: thin wrappers over fluorecon.tasks.denoise.learned."""

from __future__ import annotations


import typer

from fluorecon.commands import SimulateOptions, TrainOptions, psf_settings_options, simulate_options, subgroup, train_options
from fluorecon.commands.train_like import like_options, train_like_command
from fluorecon.tasks.denoise import cli_classical, cli_dip


def _fail(err: Exception) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


@simulate_options(out_help="Folder to create: OUT/low/*.tif (noisy inputs), OUT/high/*.tif (high-photon targets), "
                  "OUT/clean/*.tif (noise-free truth), OUT/simulation.json.", n=16, n_help="Number of image pairs.",
                  size=None, size_help="Side in pixels (default 256 in 2D; 128 with 32 planes in 3D).", photons=15.0,
                  photons_help="Peak photons per pixel of the noisy input (5 = very noisy, 50 = moderate).",
                  photons_flag="--photons-low", kind="mixed")
@psf_settings_options(na_help="Numerical aperture of the simulated objective.", wavelength=False, param="optics")
def simulate_denoise(
    target: SimulateOptions = None,
    ndim: int = typer.Option(2, "--ndim", help="2 for YX planes, 3 for ZYX stacks."),
    photons_high: float = typer.Option(1000.0, "--photons-high", help="Peak photons per pixel of the target."),
    optics: dict = None,
) -> None:
    """Simulate low/high-photon training pairs of blurred phantoms (calibrated ImageJ TIFFs).

    Example: fluorecon simulate denoise --out data/denoise --n 16
    """
    from pydantic import ValidationError

    from fluorecon.tasks.denoise.learned import DenoiseSimulation, PSFSettings, simulate_pairs, write_pairs

    out, n, size = target.out, target.n, target.size
    try:
        shape = None
        if size is not None:
            shape = (size, size) if ndim == 2 else (max(8, size // 4), size, size)
        sim = DenoiseSimulation(ndim=ndim, n_images=n, shape=shape, photons_low=target.photons,
                                photons_high=photons_high, kind=target.kind, seed=target.seed,
                                psf=PSFSettings(**optics))
        write_pairs(out, simulate_pairs(sim), sim)
    except (ValidationError, ValueError) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/low and {out}/high (ground truth in {out}/clean).")


@train_options(data_help="care: folder with low/ and high/ TIFF pairs (same file names); n2n: two folders of matched "
               "noisy acquisitions, a/ and b/ (or low/ and high/); n2v/n2s: a folder of noisy TIFFs (DIR/low/*.tif or "
               "DIR/*.tif). Omit to train on freshly simulated data.",
               out_help="ONNX model to write (a .pt checkpoint is saved beside it).",
               steps_help="Optimizer steps (one batch of random patches each).", batch_size=None,
               batch_help="Patches per step (default 16 in 2D, 4 in 3D).", patch=None,
               patch_help="Patch side (default 64; 3D patches use 32 planes).", name="CARE denoising",
               seed_help="Seed for weights and patch sampling.", device_help="auto (CUDA if present), cpu or cuda.")
@like_options(like_help="Train for my microscope: fit the simulation to this raw "
              "image (pixel size from its calibration, camera gain/offset/read noise and "
              "photons estimated from it, nearest phantom structure) and fine-tune the "
              "shipped CARE model on it. Needs --na and --wavelength-nm; --steps, --batch-size (default 8) and --lr "
              "(5e-4 suits fine-tuning, as the server job uses) apply.",
              base_model_help="--like: the 2D CARE model to fine-tune "
              "(default: the shipped care_denoise_2d.onnx).")
def train_denoise_command(
    train: TrainOptions = None,
    method: str = typer.Option("care", "--method", help="care: supervised U-Net on low/high pairs; n2n: Noise2Noise; "
                               "n2v: Noise2Void; n2v2: N2V2 (Noise2Void without checkerboard artefacts); n2s: Noise2Self "
                               "(the last three need only noisy images)."),
    ndim: int = typer.Option(2, "--ndim", help="2: the model denoises planes; 3: whole z-stacks."),
    depth: int = typer.Option(2, "--depth", help="U-Net depth (tiles must be multiples of 2**depth)."),
    probabilistic: bool = typer.Option(False, "--probabilistic", help="Also predict a per-pixel uncertainty (Laplace scale)."),
    like: dict = None,
    struct_n2v_axis: str = typer.Option("none", "--struct-n2v-axis", help="structN2V (n2v, n2v2): noise correlated "
                                        "along horizontal (X: line-scan or rolling-shutter stripes) or vertical (Y) is "
                                        "masked along that axis too, so the network does not learn it (none: plain N2V)."),
    struct_n2v_span: int = typer.Option(5, "--struct-n2v-span", help="structN2V: pixels hidden along the axis (odd, "
                                        "blind spot included): about the noise correlation length."),
) -> None:
    """Train a denoising model and export it to ONNX with its model card.

    Validation PSNR/SSIM of the network, of non-local means and of the raw input are printed and
    stored in the card (metrics.*).

    Example: fluorecon train denoise --data data/denoise --out models/my_care.onnx --steps 2000
    Example: fluorecon train denoise --like frame.tif --na 1.4 --ni 1.515 --wavelength-nm 520 --out models/mine.onnx --steps 300
    """
    if like["image_path"] is not None:
        if method != "care":
            _fail(f"--like fine-tunes the CARE model; --method {method} trains on your images directly (drop --like).")
        if train.data is not None:
            _fail("--like simulates its training data; drop --data (or drop --like to train on your pairs).")
        return train_like_command("denoise", **like, out=train.out, steps=train.steps, batch_size=train.batch_size,
                                  lr=train.lr, seed=train.seed, device=train.device,
                                  name="" if train.name == "CARE denoising" else train.name)
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.denoise.learned import DenoiseConfig, train_denoise
    from fluorecon.tasks.denoise.spec import struct_masking
    from fluorecon.train import TrainConfig

    opts, name = train, train.name
    try:
        unet = UNetConfig(ndim=ndim, depth=depth, filters=opts.filters, probabilistic=probabilistic)
        side = opts.patch or 64
        patch_size = (side, side) if ndim == 2 else (min(32, side), side, side)
        train = TrainConfig(steps=opts.steps, batch_size=opts.batch_size or (16 if ndim == 2 else 4),
                            patch_size=patch_size, lr=opts.lr, seed=opts.seed, device=opts.device,
                            loss="laplace" if probabilistic else ("l1" if method == "care" else "l2"))
        if method in ("n2v", "n2s", "n2v2"):  # blind-spot nets must not add the input back (tasks/selfsupervised.py)
            unet = unet.model_copy(update={"residual": False})
        if method != "care" and name == "CARE denoising":
            name = {"n2n": "Noise2Noise", "n2v": "Noise2Void", "n2s": "Noise2Self", "n2v2": "N2V2"}.get(method, method) + " denoising"
            name = name.replace("Noise2Void", "structN2V") if struct_n2v_axis != "none" else name
        config = DenoiseConfig(method=method, ndim=ndim, unet=unet, train=train, name=name,
                               masking=struct_masking(struct_n2v_axis, struct_n2v_span))
        card, path = train_denoise(config, opts.out, data=opts.data)
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
