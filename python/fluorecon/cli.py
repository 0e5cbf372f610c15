"""The `fluorecon` command line, assembled: the cross-task commands of fluorecon.commands (models,
predict, qc, serve, bench), then every task's commands (``TASK.cli``, found by discovery in
fluorecon.tasks). Adding a task's commands is writing its ``cli.py``; nothing here lists them."""

from __future__ import annotations

import typer

from fluorecon import __version__
from fluorecon.commands import bench, bioimageio, cache, models, predict, qc, serve
from fluorecon.commands.aliases import AliasGroup
from fluorecon.tasks import all_tasks

app = typer.Typer(
    name="fluorecon",
    help="Deep-learning fluorescence image reconstruction with classical baselines and honest checks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    cls=AliasGroup,  # old option names (--iterations, --offset, --pixel-nm, …) as hidden aliases
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fluorecon {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the fluorecon version and exit.")) -> None:
    """Deep-learning fluorescence image reconstruction with classical baselines and honest checks."""


def _assemble() -> None:
    for module in (models, predict, serve, bench, qc, cache, bioimageio):
        module.register(app)
    for task in all_tasks():
        if task.cli is not None:
            task.cli(app)


_assemble()

if __name__ == "__main__":
    app()
