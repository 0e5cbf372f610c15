"""Every task package is found by discovery and has its parts: a spec, CLI commands, its server jobs
(when it has any) and the Fiji commands that run it; nothing lists the tasks by hand."""

import pkgutil
import re
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

import fluorecon.tasks as tasks_pkg
from fluorecon.cli import app
from fluorecon.server.jobtypes import JOB_TYPES
from fluorecon.tasks import Task, all_tasks, get_task

ROOT = Path(__file__).resolve().parents[2]
JAVA = ROOT / "java-plugin" / "src" / "main"
# Fiji commands that serve every task (models, server, result checks), not one.
CROSS_TASK_FIJI = {"Models...", "Server...", "Check result (QC)...", "Process file..."}  # Process file runs several tasks' jobs
EXPECTED = {"denoise", "deconvolve", "upsample", "isotropic", "crossmodal", "localize", "sim", "lightfield", "unmix",
            "register", "fuse"}


def _plugins_config() -> list[Path]:
    """The plugin's plugins.config: in the sources, or as the build wrote it (it may be generated)."""
    return sorted(JAVA.rglob("plugins.config")) or sorted((ROOT / "java-plugin" / "target" / "classes").glob("plugins.config"))


def _fiji_commands() -> set[str]:
    """Menu command names of the plugin: from plugins.config, else the quoted "…..." labels of the
    Java sources."""
    configs = _plugins_config()
    if configs:
        return {m.group(1) for p in configs for m in re.finditer(r'^[^#].*?,\s*"([^"]+)"', p.read_text(), re.M)}
    return {m.group(1) for p in JAVA.rglob("*.java") for m in re.finditer(r'"([^"]+\.\.\.)"', p.read_text())}


def _commands(typer_app: typer.Typer, prefix: str = "") -> set[str]:
    """Every command path of a Typer app, e.g. "deconvolve", "simulate denoise", "sim learned"."""
    names = {prefix + (c.name or c.callback.__name__) for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        names |= _commands(group.typer_instance, prefix + group.name + " ")
    return names


def test_every_task_package_is_discovered():
    packages = {m.name for m in pkgutil.iter_modules(tasks_pkg.__path__) if m.ispkg}
    assert {t.key for t in all_tasks()} == packages
    assert EXPECTED <= packages
    loose = [m.name for m in pkgutil.iter_modules(tasks_pkg.__path__) if not m.ispkg]
    assert len(loose) <= 3, loose


@pytest.mark.parametrize("task", all_tasks(), ids=lambda t: t.key)
def test_task_has_its_parts(task: Task):
    assert get_task(task.key) is task
    assert isinstance(task.spec, type) and issubclass(task.spec, BaseModel)
    # CLI: the task's register(app) adds commands that name the task (or its group) to a fresh app.
    fresh = typer.Typer()
    assert task.cli is not None
    task.cli(fresh)
    mine = _commands(fresh)
    assert mine and mine <= _commands(app), f"{task.key}: {mine - _commands(app)} missing from `fluorecon`"
    # Server: each job is registered under its own name, with the spec it declares.
    for job in task.jobs:
        assert JOB_TYPES[job.task] is job
    if task.jobs:
        assert task.spec is task.jobs[0].spec
    # Fiji: the commands the task names exist in the plugin.
    assert task.fiji_commands, f"{task.key} names no Fiji command"
    assert set(task.fiji_commands) <= _fiji_commands()


def test_every_fiji_command_and_job_belongs_to_a_task():
    claimed = {c for t in all_tasks() for c in t.fiji_commands}
    if _plugins_config():  # the menu's own list: each of its commands runs a task or is cross-task
        assert _fiji_commands() - CROSS_TASK_FIJI <= claimed
    task_jobs = {j.task for t in all_tasks() for j in t.jobs}
    assert set(JOB_TYPES) - task_jobs == {"qc", "predict"}  # the cross-task jobs (any task's model for predict)


def test_unknown_task_says_which_exist():
    with pytest.raises(KeyError, match="known tasks: crossmodal, deconvolve"):
        get_task("nope")
