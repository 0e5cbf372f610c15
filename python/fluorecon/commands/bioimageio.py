"""`fluorecon bioimageio export|import`: bioimage.io model packages out of and into carded ONNX models
(the mapping and its limits: fluorecon.core.bioimageio)."""

from __future__ import annotations

from pathlib import Path

import typer

group = typer.Typer(help="bioimage.io model packages (rdf.yaml format 0.5): export a fluorecon model, import one.",
                    no_args_is_help=True)


@group.command("export")
def export_command(
    model: Path = typer.Argument(..., help="fluorecon ONNX model (every shipped model: image-to-image, SIM, "
                                 "SMLM, unmixing, registration, light field)."),
    out: Path = typer.Argument(..., help="Package to write (.zip: rdf.yaml, ONNX weights, test tensors, cover, README)."),
) -> None:
    """Write a bioimage.io package of a fluorecon model; `bioimageio test OUT.zip` checks it.

    Example: fluorecon bioimageio export models/care_denoise_2d.onnx care_denoise_2d.bioimageio.zip
    """
    from fluorecon.core.bioimageio import PackageError, export_package
    from fluorecon.core.modelcard import ModelCardError

    try:
        rdf = export_package(model, out)
    except (PackageError, ModelCardError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {out} (bioimage.io model format {rdf['format_version']}, '{rdf['name']}').")


@group.command("import")
def import_command(
    package: Path = typer.Argument(..., help="bioimage.io package (.zip) with ONNX, torchscript or pytorch_state_dict "
                                               "weights."),
    out: Path = typer.Argument(..., help="fluorecon model to write (.onnx with a card synthesised from the rdf)."),
    python: Path = typer.Option(None, "--python", help="Python with torch and the architecture's library (e.g. "
                                "CAREamics' venv) that converts PyTorch weights to ONNX; default: this one."),
    onnx_weights: Path = typer.Option(None, "--onnx-weights", help="ONNX converted from this package's PyTorch "
                                      "weights before (bioimageio_convert.py), used instead of converting again."),
    size_step: int = typer.Option(None, "--size-step", min=1, help="input size step of a fully convolutional network "
                                  "exported with fixed sizes (2^depth for a UNet)."),
) -> None:
    """Make a carded fluorecon model from a bioimage.io package, runnable by `fluorecon predict`.

    Example: fluorecon bioimageio import n2v.zip models/n2v_imported.onnx
    Example: fluorecon bioimageio import careamics_n2v.zip n2v.onnx --python ~/careamics-venv/bin/python
    """
    from fluorecon.core.bioimageio import PackageError, import_package
    from fluorecon.core.modelcard import ModelCardError

    try:
        card = import_package(package, out, python=python, onnx_weights=onnx_weights, size_step=size_step)
    except (PackageError, ModelCardError) as err:
        typer.echo(f"Error: cannot import {package.name}: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {out}: task {card.task}, norm {card.norm}, output {card.denorm}, "
               f"tile multiple {','.join(map(str, card.tile_multiple))}, halo {','.join(map(str, card.tile_halo))}.")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="bioimageio")
