"""The `fluorecon` command line. Each command group lives in fluorecon.commands.<name> and
exposes `register(app)`; this module only assembles them."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="fluorecon",
    help="Deep-learning fluorescence image reconstruction with classical baselines and honest checks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# One module per command group; adding a task means adding its module name here.
COMMAND_MODULES = [
    "fluorecon.commands.models",
    "fluorecon.commands.denoise",
    "fluorecon.commands.predict",
    "fluorecon.commands.localize",
    "fluorecon.commands.unmix",
    "fluorecon.commands.register",
    "fluorecon.commands.fuse",
    "fluorecon.commands.deconvolve",
    "fluorecon.commands.superres",
    "fluorecon.commands.serve",
    "fluorecon.commands.bench",
    "fluorecon.commands.qc",
    "fluorecon.commands.dip",
    "fluorecon.commands.classical",
    "fluorecon.commands.lightfield",
    "fluorecon.commands.lightfield_learned",
    "fluorecon.commands.sim",
    "fluorecon.commands.sim_learned",
    "fluorecon.commands.cache",
]


def _assemble() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_assemble()

if __name__ == "__main__":
    app()
