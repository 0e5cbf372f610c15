"""Structured illumination: classical generalised-Wiener SIM with the pattern estimated from the data
(:mod:`.classical`, :mod:`.estimate`), and a learned reconstruction from full or reduced raw sets (:mod:`.learned`,
:mod:`.predict`); the SIM forward model is in :mod:`.physics`."""

from fluorecon.tasks import Task
from fluorecon.tasks.sim import cli, job
from fluorecon.tasks.sim.classical import reconstruct_sim
from fluorecon.tasks.sim.learned import SIMLearnedConfig, simulate_triples, train_sim
from fluorecon.tasks.sim.predict import predict_sim, sim_consistency

TASK = Task(
    key="sim",
    name="SIM reconstruction",
    description="Structured illumination: classical Wiener SIM, and a learned reconstruction from full or reduced "
                "raw sets at low light.",
    spec=job.SimSpec, config=SIMLearnedConfig, methods=("wiener", "learned"),
    simulate=simulate_triples, classical=reconstruct_sim, train=train_sim, predict=predict_sim, qc=sim_consistency,
    jobs=(job.JOB,), cli=cli.register, fiji_commands=("SIM reconstruction...",),
)
