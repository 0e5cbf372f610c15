"""Isotropic restoration of anisotropic z-stacks (CARE isotropic, two-view fusion)."""

from fluorecon.tasks import Task
from fluorecon.tasks.isotropic import cli
from fluorecon.tasks.isotropic.learned import (IsotropicConfig, restore_isotropic, simulate_stack, stretch,
                                               train_isotropic)

TASK = Task(
    key="isotropic",
    name="Isotropic restoration",
    description="Restore axial resolution and sampling of anisotropic z-stacks (CARE isotropic, two-view fusion).",
    spec=IsotropicConfig, config=IsotropicConfig, methods=("care",),
    simulate=simulate_stack, classical=stretch, train=train_isotropic, predict=restore_isotropic,
    cli=cli.register, fiji_commands=("Isotropic restoration...",),
)
