"""The task registry: one module per task registers itself here with a stable key, a name and a
description; the CLI, the server and the plugin's model list derive their entries from it, so
adding a task never means editing a switch.

A task module calls :func:`register_task` at import time; :data:`TASK_MODULES` lists the modules
to import (one line per task).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

# Adding a task: write fluorecon/tasks/<key>.py calling register_task(...), then add it here.
TASK_MODULES: list[str] = [
    "fluorecon.tasks.denoise",
    "fluorecon.tasks.localize",
    "fluorecon.tasks.upsample",
    "fluorecon.tasks.isotropic",
    "fluorecon.tasks.crossmodal",
    "fluorecon.tasks.lightfield_learned",
    "fluorecon.tasks.sim_learned",
]


@dataclass(frozen=True)
class Task:
    """A reconstruction task.

    key : stable identifier, also the model card's ``task`` value (e.g. "denoise").
    name, description : shown in CLI help, server listings and Fiji menus.
    config : the task's pydantic config (literal ``task`` field = key).
    methods : method keys the task can train (the card's ``method``).
    simulate, train, baseline : callables the CLI/server dispatch to (None when not offered).
    """

    key: str
    name: str
    description: str
    config: type[BaseModel]
    methods: tuple[str, ...] = ()
    simulate: Callable[..., Any] | None = None
    train: Callable[..., Any] | None = None
    baseline: Callable[..., Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, Task] = {}
_loaded = False


def register_task(task: Task) -> Task:
    """Add `task` to the registry (re-registering the same key replaces it, for reloads)."""
    if not task.key.isidentifier() or task.key != task.key.lower():
        raise ValueError(f"Task key must be a lower-case identifier, got {task.key!r}.")
    _REGISTRY[task.key] = task
    return task


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in TASK_MODULES:
            importlib.import_module(name)


def all_tasks() -> list[Task]:
    """Every registered task, in registration order."""
    _load()
    return list(_REGISTRY.values())


def get_task(key: str) -> Task:
    """The task registered under `key`; a clear error lists the known keys otherwise."""
    _load()
    if key not in _REGISTRY:
        raise KeyError(f"Unknown task {key!r}; known tasks: {', '.join(sorted(_REGISTRY)) or 'none'}.")
    return _REGISTRY[key]
