"""Command modules of the `fluorecon` CLI; each exposes `register(app)` (see fluorecon.cli)."""

from __future__ import annotations

import typing
from typing import Any

import typer


def subgroup(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """The sub-command group `name` of `app` (e.g. `simulate`, `train`), created on first use, so
    every task's command module can add `fluorecon simulate <task>` without owning the group."""
    for info in app.registered_groups:
        if info.name == name:
            return info.typer_instance
    group = typer.Typer(name=name, help=help, no_args_is_help=True)
    app.add_typer(group, name=name, help=help)
    return group


def spec_option(spec: type, name: str, *aliases: str, help_extra: str = "", default: Any = ...) -> Any:
    """A typer option generated from field `name` of the pydantic `spec` (the task's contract): the flag
    ``--name-with-dashes`` (plus `aliases`, the flags the CLI had before), the field's default (None where the
    field is required: the command then asks for it) and the field's description as help. The spec validates
    the value, with the same bounds and messages as the server."""
    from pydantic_core import PydanticUndefined

    field = spec.model_fields[name]
    value = field.default if default is ... else default
    if value is PydanticUndefined:
        value = None
    choices = typing.get_args(field.annotation) if typing.get_origin(field.annotation) is typing.Literal else ()
    text = " ".join(t for t in (field.description or "", f"({' | '.join(map(str, choices))})" if choices else "",
                                help_extra) if t)
    return typer.Option(value, f"--{name.replace('_', '-')}", *aliases, help=text)


ERRORS = (ValueError, FileNotFoundError)


def fail(err: Exception) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


def train_config(steps: int, batch_size: int, patch: int, ndim: int, lr: float, seed: int, device: str):
    from fluorecon.train import TrainConfig

    patch_size = (patch,) * 2 if ndim == 2 else (max(4, patch // 4), patch, patch)
    return TrainConfig(steps=steps, batch_size=batch_size, patch_size=patch_size, lr=lr, seed=seed, device=device)


def print_metrics(card, rows: list[tuple[str, str]], extra: tuple[str, ...] = ()) -> None:
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

