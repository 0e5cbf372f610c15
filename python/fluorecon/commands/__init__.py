"""Command modules of the `fluorecon` CLI; each exposes `register(app)` (see fluorecon.cli)."""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

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


def option_group(param: str, options: dict[str, tuple[type, Any]], build: Callable[..., Any]):
    """A decorator that puts the typer `options` ({name: (type, typer.Option(...))}, in order) into the command's
    signature where its parameter `param` stands, and calls the command with ``param=build(**their values)``: one
    definition of a group of options that several commands share (names, defaults and help written once)."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(func)
        params: list[inspect.Parameter] = []
        for p in inspect.signature(func).parameters.values():
            if p.name == param:
                params += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option,
                                             annotation=kind) for name, (kind, option) in options.items()]
            else:
                params.append(p.replace(annotation=hints.get(p.name, p.annotation)))

        @functools.wraps(func)
        def command(**values: Any) -> None:
            grouped = {name: values.pop(name) for name in options}
            return func(**values, **{param: build(**grouped)})

        command.__signature__ = inspect.Signature(params, return_annotation=None)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


@dataclass(frozen=True)
class TrainOptions:
    """The values of the shared training options (see `train_options`)."""

    out: Path
    steps: int
    batch_size: Optional[int]
    patch: Optional[int]
    filters: int
    lr: float
    seed: int
    device: str
    data: Optional[Path] = None
    name: str = ""

    def config(self, ndim: int):
        return train_config(self.steps, self.batch_size, self.patch, ndim, self.lr, self.seed, self.device)


def train_options(*, patch: Optional[int], patch_help: str, data_help: Optional[str] = None, name: Optional[str] = None,
                  out_help: str = "ONNX model to write.", steps: int = 1000, steps_help: str = "Optimizer steps.",
                  batch_size: Optional[int] = 16, batch_help: str = "Patches per step.", filters: int = 16,
                  filters_help: str = "U-Net filters at the first level.", lr: float = 1e-3,
                  seed_help: str = "Seed for weights and patches.", device_help: str = "auto, cpu or cuda.",
                  param: str = "train"):
    """The options of `fluorecon train <task>` ([--data] --out --steps --batch-size --patch --filters --lr [--name]
    --seed --device) in place of the command's parameter `param`, which receives a `TrainOptions`; the
    task gives its defaults and the help that is its own (--data only with `data_help`, --name with `name`)."""
    options: dict[str, tuple[Any, Any]] = {}
    if data_help is not None:
        options["data"] = (Optional[Path], typer.Option(None, "--data", help=data_help))
    options.update({
        "out": (Path, typer.Option(..., "--out", help=out_help)),
        "steps": (int, typer.Option(steps, "--steps", help=steps_help)),
        "batch_size": (int if batch_size is not None else Optional[int], typer.Option(batch_size, "--batch-size", help=batch_help)),
        "patch": (int if patch is not None else Optional[int], typer.Option(patch, "--patch", help=patch_help)),
        "filters": (int, typer.Option(filters, "--filters", help=filters_help)),
        "lr": (float, typer.Option(lr, "--lr", help="Peak learning rate.")),
    })
    if name is not None:
        options["name"] = (str, typer.Option(name, "--name", help="Model name shown in Fiji."))
    options["seed"] = (int, typer.Option(0, "--seed", help=seed_help))
    options["device"] = (str, typer.Option("auto", "--device", help=device_help))
    return option_group(param, options, TrainOptions)


@dataclass(frozen=True)
class SimulateOptions:
    """The values of the options every `fluorecon simulate <task>` has (see `simulate_options`; `n` is 1 where the
    command has no --n)."""

    out: Path
    size: Optional[int]
    photons: float
    seed: int
    n: int = 1
    kind: str = "mixed"


PHANTOM_HELP = "Phantom: mixed, filaments, vesicles, membranes or nuclei."


def qc_inputs_option(default: int, what: str) -> Any:
    """--qc-inputs of `fluorecon train <task>`: how many fresh simulated inputs (`what`) give the card's
    out-of-distribution statistics (fluorecon.qc.training_inputs.add_card_statistics)."""
    return typer.Option(default, "--qc-inputs", help=f"Fresh simulated {what} for the card's out-of-distribution "
                        "statistics (half as many more calibrate the alarm).")


def simulate_options(*, out_help: str, n: Optional[int], n_help: str = "", size: Optional[int], size_help: str,
                     photons: float, photons_help: str, photons_flag: str = "--photons", kind: Optional[str] = None,
                     param: str = "target"):
    """--out (the folder to create), [--n], --size, the peak photons, [--kind] and --seed of `fluorecon simulate
    <task>` in place of the command's parameter `param`, which receives a `SimulateOptions`. `n` None: no --n (one
    specimen); `kind`: the default phantom of --kind (None: no --kind)."""
    options: dict[str, tuple[Any, Any]] = {"out": (Path, typer.Option(..., "--out", help=out_help))}
    if n is not None:
        options["n"] = (int, typer.Option(n, "--n", help=n_help))
    options.update({
        "size": (int if size is not None else Optional[int], typer.Option(size, "--size", help=size_help)),
        "photons": (float, typer.Option(photons, photons_flag, help=photons_help)),
    })
    if kind is not None:
        options["kind"] = (str, typer.Option(kind, "--kind", help=PHANTOM_HELP))
    options["seed"] = (int, typer.Option(0, "--seed", help="Same seed, same data."))
    return option_group(param, options, SimulateOptions)


@dataclass(frozen=True)
class ModelOptions:
    """The values of the options of a `fluorecon train <task>` whose trainer sets its own network (see
    `model_options`)."""

    out: Path
    steps: int
    qc_inputs: int
    name: str
    seed: int
    device: str = "auto"


def model_options(*, steps: int, qc_inputs: int, qc_what: str, name_help: str = "the file name",
                  seed_help: str = "Seed of data and weights.", device: bool = False, param: str = "model"):
    """--out --steps --qc-inputs --name --seed [--device] of a `fluorecon train <task>` whose trainer sets its own
    network (register, unmix, localize, sim; the U-Net trainers take `train_options`) in place of the command's
    parameter `param`, which receives a `ModelOptions`. `name_help`: what the model is called without --name."""
    options: dict[str, tuple[Any, Any]] = {
        "out": (Path, typer.Option(..., "--out", help="ONNX model to write (with its model card).")),
        "steps": (int, typer.Option(steps, "--steps", help="Optimizer steps.")),
        "qc_inputs": (int, qc_inputs_option(qc_inputs, qc_what)),
        "name": (str, typer.Option("", "--name", help=f"Model name shown in Fiji (default: {name_help}).")),
        "seed": (int, typer.Option(0, "--seed", help=seed_help)),
    }
    if device:
        options["device"] = (str, typer.Option("auto", "--device", help="auto, cpu or cuda."))
    return option_group(param, options, ModelOptions)


#: Defaults of the simulated widefield PSF's optics options (psf_settings_options).
PSF_DEFAULTS = {"pixel_size_nm": 100.0, "na": 1.2, "wavelength_nm": 520.0}


def psf_settings_options(*, na_help: str, wavelength: bool = True, param: str = "psf", stated: str = ""):
    """The optics options of the simulated widefield PSF (`PSFSettings` fields: --pixel-size-nm --na
    [--wavelength-nm --ni]) in place of the command's parameter `param`, which receives them as a dict.
    `stated`: a mode in which they must be stated (e.g. "--like"): then they default to None (None in the dict
    when not given) and the command fills :data:`PSF_DEFAULTS` itself outside that mode."""

    def default(key: str):
        return None if stated else PSF_DEFAULTS[key]

    note = f" (default {{:g}}; {stated}: required)" if stated else ""
    options: dict[str, tuple[Any, Any]] = {
        "pixel_size_nm": (Optional[float] if stated else float,
                          typer.Option(default("pixel_size_nm"), "--pixel-size-nm", help="Pixel size in the sample (nm)"
                                       + (f" (default 100; {stated}: the image's calibration unless given)." if stated else "."))),
        "na": (Optional[float] if stated else float,
               typer.Option(default("na"), "--na", help=na_help + note.format(PSF_DEFAULTS["na"]))),
    }
    if wavelength:
        options["wavelength_nm"] = (Optional[float] if stated else float,
                                    typer.Option(default("wavelength_nm"), "--wavelength-nm", help="Emission wavelength (nm)"
                                                 + (note.format(PSF_DEFAULTS["wavelength_nm"]) if stated else ".")))
        options["ni"] = (float, typer.Option(1.33, "--ni", help="Immersion refractive index (1.515 oil, 1.33 water, "
                                             "1.0 air)."))
    return option_group(param, options, dict)


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



def write_simulation_json(out: Path, task: str, seed: int, files: dict[str, str], **parameters: Any) -> Path:
    """OUT/simulation.json of `fluorecon simulate <task>`: the task, the seed, where the inputs and the ground
    truth are (`files`, globs relative to OUT) and every parameter used (pydantic models as their JSON), written
    atomically — the record that, with the same fluorecon, remakes the data."""
    import json

    from pydantic import BaseModel

    from fluorecon import __version__
    from fluorecon.core.atomic import atomic_path

    def plain(value: Any) -> Any:
        return json.loads(value.model_dump_json()) if isinstance(value, BaseModel) else value

    record = {"task": task, "fluorecon_version": __version__, "seed": seed, "files": files,
              **{k: plain(v) for k, v in parameters.items()}}
    path = out / "simulation.json"
    with atomic_path(path, suffix=".json.part") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    return path
