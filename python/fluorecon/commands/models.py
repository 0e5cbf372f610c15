"""`fluorecon models [DIR]` lists model cards; `fluorecon export CHECKPOINT` re-exports a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

REPO_MODELS = Path(__file__).resolve().parents[3] / "models"


def default_models_dir() -> Path:
    """./models when it exists, else the models/ folder of the fluorecon source tree."""
    local = Path("models")
    return local if local.is_dir() else REPO_MODELS


def models_command(
    folder: Optional[Path] = typer.Argument(None, help="Folder with .onnx models (default: ./models, else the shipped models)."),
) -> None:
    """List the fluorecon models in a folder: task, method, model version, sha256 (first 12 hex digits of the
    card's model.sha256, the network's fingerprint), axes, tile settings and validation PSNR."""
    from rich.console import Console
    from rich.table import Table

    from fluorecon.core.modelcard import ModelCardError, read_card

    folder = folder or default_models_dir()
    if not folder.is_dir():
        typer.echo(f"Error: {folder} is not a folder.", err=True)
        raise typer.Exit(2)
    table = Table(title=f"fluorecon models in {folder}")
    for col in ("file", "task", "method", "name", "version", "sha256", "axes", "tile (default/halo/multiple)",
                "outputs", "val PSNR", "MB"):
        table.add_column(col)
    files = sorted(folder.glob("*.onnx"))
    for path in files:
        size = f"{path.stat().st_size / 1e6:.2f}"
        try:
            card = read_card(path)
        except ModelCardError as err:
            table.add_row(path.name, "-", "-", f"[red]{err}[/red]", "", "", "", "", "", "", size)
            continue
        tile = "/".join(",".join(map(str, v)) for v in (card.tile_default, card.tile_halo, card.tile_multiple))
        psnr = ", ".join(f"{k.removeprefix('val_psnr_')} {v}" for k, v in card.metrics.items() if k.startswith("val_psnr_"))
        table.add_row(path.name, card.task, card.method, card.name, card.model_version or "-",
                      card.model_sha256[:12] or "-", card.axes_in, tile, card.outputs, psnr or "-", size)
    Console(width=200).print(table)
    if not files:
        typer.echo(f"No .onnx files in {folder}.")


def export_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.pt) saved by `fluorecon train`."),
    out: Path = typer.Option(..., "--out", help="ONNX file to write (with the card; parity-checked against torch)."),
) -> None:
    """Export a training checkpoint to ONNX with its model card; refused if ONNX Runtime and torch disagree."""
    import torch

    from fluorecon.core.modelcard import ModelCard
    from fluorecon.export import ExportError, export_onnx
    from fluorecon.nets.unet import UNetConfig, build_network

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network = build_network(UNetConfig(**state["config"]["unet"]))
        network.load_state_dict(state["state_dict"])
        card = ModelCard.from_metadata(state["card"])
        export_onnx(network, out, card)
    except FileNotFoundError:
        typer.echo(f"Error: checkpoint not found: {checkpoint}", err=True)
        raise typer.Exit(2) from None
    except (KeyError, RuntimeError, ValueError, ExportError) as err:
        typer.echo(f"Error: cannot export {checkpoint.name}: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {out}.")


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
    app.command("export")(export_command)
