"""Command modules of the `fluorecon` CLI; each exposes `register(app)` (see fluorecon.cli)."""

from __future__ import annotations

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
