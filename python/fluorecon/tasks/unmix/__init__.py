"""Spectral unmixing: NNLS, NMF, phasor and a learned network (:mod:`.classical`); the spectral forward model
(:mod:`.physics`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.unmix import cli, job
from fluorecon.tasks.unmix.classical import UnmixSpec, build_unmix_model, unmix_learned, unmix_nnls
from fluorecon.tasks.unmix.physics import simulate_spectral

TASK = Task(
    key="unmix", name="Spectral unmixing",
    description="Spectral unmixing (NNLS, NMF, learned), bleed-through correction and spectral phasors.",
    spec=UnmixSpec, methods=("nnls", "nmf", "learned"),
    simulate=simulate_spectral, classical=unmix_nnls, train=build_unmix_model, predict=unmix_learned,
    jobs=(job.JOB,), cli=cli.register, fiji_commands=("Unmix...", "Spectral phasor..."),
)
