"""Upsampling: recover resolution lost to a lower-NA system and coarser pixels (CARE; bicubic and RL-TV
baselines), with a forward-model consistency check."""

from fluorecon.tasks import Task
from fluorecon.tasks.upsample import cli
from fluorecon.tasks.upsample.learned import (UpsampleConfig, bicubic, check_superres, predict_superres,
                                              simulate_pairs, train_upsample)

TASK = Task(
    key="upsample",
    name="Upsample",
    description="Recover resolution lost to a lower-NA system and coarser pixels (×2/×4; CARE; bicubic and RL baselines).",
    spec=UpsampleConfig, config=UpsampleConfig, methods=("care",),
    simulate=simulate_pairs, classical=bicubic, train=train_upsample, predict=predict_superres, qc=check_superres,
    cli=cli.register, fiji_commands=("Super-resolve...",),
)
