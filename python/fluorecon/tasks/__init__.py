"""The tasks: one package per task under ``fluorecon/tasks/<key>/``, found by discovery.

Each task package defines ``TASK = Task(...)`` in its ``__init__``; :func:`all_tasks` imports every
sub-package of this one (``pkgutil``) and collects them, so adding a task is adding a folder — the
CLI (:mod:`fluorecon.cli`), the server's job types (:mod:`fluorecon.server.jobtypes`) and the test
that checks every task's parts all read this registry. Nothing here lists the tasks by hand.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Task:
    """A reconstruction task and its parts (None / empty where a task lacks a part).

    key : stable identifier = the package name = the model card's ``task`` value (e.g. "denoise").
    name, description : shown in CLI help, server listings and Fiji menus.
    spec : the pydantic contract of the task's server job (its first job's spec).
    config : the pydantic training config of the learned method (literal ``task`` field = key).
    methods : method keys the task offers (the card's ``method`` for learned ones).
    simulate, classical, train, predict, qc : the callables the CLI, server and benches dispatch to.
    jobs : the server job types (:class:`fluorecon.server.job.JobType`) this task contributes.
    cli : ``register(app)`` adding the task's commands to the ``fluorecon`` Typer app.
    fiji_commands : the plugin's menu commands (``plugins.config`` names) that run this task.
    """

    key: str
    name: str
    description: str
    spec: type[BaseModel] | None = None
    config: type[BaseModel] | None = None
    methods: tuple[str, ...] = ()
    simulate: Callable[..., Any] | None = None
    classical: Callable[..., Any] | None = None
    train: Callable[..., Any] | None = None
    predict: Callable[..., Any] | None = None
    qc: Callable[..., Any] | None = None
    jobs: tuple[Any, ...] = ()
    cli: Callable[[Any], None] | None = None
    fiji_commands: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key.isidentifier() or self.key != self.key.lower():
            raise ValueError(f"Task key must be a lower-case identifier, got {self.key!r}.")


_REGISTRY: dict[str, Task] = {}


def _discover() -> dict[str, Task]:
    if not _REGISTRY:
        for info in pkgutil.iter_modules(__path__, __name__ + "."):
            if not info.ispkg:
                continue
            task = getattr(importlib.import_module(info.name), "TASK", None)
            if isinstance(task, Task):
                if task.key != info.name.rpartition(".")[2]:
                    raise ValueError(f"{info.name} defines TASK with key {task.key!r}; the key must be the package name.")
                _REGISTRY[task.key] = task
    return _REGISTRY


def all_tasks() -> list[Task]:
    """Every task package's TASK, in key order."""
    return list(_discover().values())


def get_task(key: str) -> Task:
    """The task under `key`; a clear error lists the known keys otherwise."""
    tasks = _discover()
    if key not in tasks:
        raise KeyError(f"Unknown task {key!r}; known tasks: {', '.join(sorted(tasks)) or 'none'}.")
    return tasks[key]


#: Where the Fiji plugin finds each job type's contract (``<task>.json``), relative to the repository root.
SPEC_RESOURCES = "java-plugin/src/main/resources/org/fluorecon/specs"


def spec_resources() -> dict[str, str]:
    """The JSON files the Fiji plugin reads its defaults and bounds from: one ``<job task>.json`` per job type of
    every task, the job spec's JSON Schema as pydantic writes it (``properties.<field>``: ``default``,
    ``minimum``/``exclusiveMinimum``/``maximum``/``exclusiveMaximum``, ``enum``, ``description``, ``examples`` for
    a required field's usual value; nested specs under ``$defs``). ``scripts/make_spec_resources.py`` writes them,
    ``tests/tasks/test_spec_resources.py`` checks that they are up to date."""
    files = {}
    for task in all_tasks():
        for job in task.jobs:
            schema = job.spec.model_json_schema()
            files[f"{job.task}.json"] = json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return files
