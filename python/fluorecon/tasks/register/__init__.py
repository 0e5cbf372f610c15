"""Registration and drift correction: translation by phase correlation (:mod:`.correlate`,
:mod:`.classical`), learned deformable registration (:mod:`.learned`), SMLM table drift by redundant
cross-correlation (:mod:`.table`); motion simulation (:mod:`.physics`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.register import cli, job, job_table
from fluorecon.tasks.register.classical import RegisterSpec, register_time_series
from fluorecon.tasks.register.learned import register_learned, train_deform_network
from fluorecon.tasks.register.physics import simulate_drift

TASK = Task(
    key="register", name="Registration (drift correction)",
    description="Translation drift correction of time series and SMLM tables; learned deformable registration.",
    spec=RegisterSpec, methods=("translation", "rcc", "learned"),
    simulate=simulate_drift, classical=register_time_series, train=train_deform_network, predict=register_learned,
    jobs=(job.JOB, job_table.JOB), cli=cli.register, fiji_commands=("Correct drift...",),
)
