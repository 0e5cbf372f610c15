"""`fluorecon simulate|train crossmodal`: thin wrappers over fluorecon.tasks.crossmodal.learned. Apply the
models with `fluorecon predict`."""

from __future__ import annotations


import typer

from fluorecon.commands import ERRORS, SimulateOptions, TrainOptions, fail as _fail, print_metrics as _print_metrics, simulate_options, subgroup, train_options


@simulate_options(out_help="Folder to create: OUT/input/*.tif (widefield), OUT/target/*.tif (confocal).", n=16,
                  n_help="Number of pairs.", size=256, size_help="Side in pixels.", photons=100.0,
                  photons_help="Peak photons of the widefield input.", photons_flag="--photons-in")
def simulate_crossmodal(target: SimulateOptions = None) -> None:
    """Simulate registered widefield → confocal pairs (same phantom, two PSFs, independent noise).

    Example: fluorecon simulate crossmodal --out data/wf2cf
    """
    from pydantic import ValidationError

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.crossmodal.learned import CrossModalSimulation, simulate_pairs

    out, n, size = target.out, target.n, target.size
    try:
        sim = CrossModalSimulation(shape=(size, size), n_images=n, photons_in=target.photons, seed=target.seed)
        meta = TiffMeta(axes="YX", pixel_size_um=sim.pixel_size_nm / 1000)
        for i, p in enumerate(simulate_pairs(sim)):
            write_tiff(out / "input" / f"{i:03d}.tif", p.source, meta, info="fluorecon simulate crossmodal: widefield")
            write_tiff(out / "target" / f"{i:03d}.tif", p.target, meta, info="fluorecon simulate crossmodal: confocal")
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    typer.echo(f"Wrote {n} pairs to {out}/input and {out}/target.")


@train_options(data_help="Folder with input/ and target/ registered TIFF pairs; omit to train on simulated widefield "
               "→ confocal pairs.", patch=64, patch_help="Patch side (multiple of 4).", name="Widefield to confocal")
def train_crossmodal_command(
    train: TrainOptions = None,
    modality_in: str = typer.Option("widefield", "--modality-in", help="Input modality (recorded in the card)."),
    modality_out: str = typer.Option("confocal", "--modality-out", help="Output modality (recorded in the card)."),
    match_units: bool = typer.Option(True, "--match-units/--no-match-units", help="Map targets into the input's units "
                                     "(same fluorophore); --no-match-units for unrelated contrasts."),
) -> None:
    """Train a paired cross-modality translation model.

    Example: fluorecon train crossmodal --data data/wf2cf --out models/wf2cf.onnx
    """
    from pydantic import ValidationError

    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.crossmodal.learned import CrossModalConfig, train_crossmodal

    try:
        config = CrossModalConfig(modality_in=modality_in, modality_out=modality_out, match_units=match_units, name=train.name,
                                  unet=UNetConfig(ndim=2, depth=2, filters=train.filters), train=train.config(2))
        card, path = train_crossmodal(config, train.out, data=train.data)
    except (ValidationError, *ERRORS) as err:
        _fail(err)
    _print_metrics(card, [("input", modality_in + " input"), ("care", "CARE translation")])
    typer.echo(f"Wrote {path} ({modality_in} → {modality_out}).")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("crossmodal")(simulate_crossmodal)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("crossmodal")(train_crossmodal_command)
