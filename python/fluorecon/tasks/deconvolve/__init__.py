"""Deconvolution: Richardson–Lucy (plain, accelerated, TV) and Wiener with a theoretical or measured PSF
(:mod:`.classical`), and a learned CARE-style deconvolution trained on simulated pairs (:mod:`.learned`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.deconvolve import cli, job
from fluorecon.tasks.deconvolve.classical import METHODS, DeconvolveSpec, deconvolve_image
from fluorecon.tasks.deconvolve.learned import (LearnedDeconvolveConfig, simulate_deconvolution_pairs,
                                                train_learned_deconvolution)

TASK = Task(
    key="deconvolve",
    name="Deconvolve",
    description="Richardson–Lucy (+ acceleration, + TV) and Wiener deconvolution; theoretical or measured PSF.",
    spec=DeconvolveSpec, config=LearnedDeconvolveConfig, methods=tuple(METHODS),
    simulate=simulate_deconvolution_pairs, classical=deconvolve_image, train=train_learned_deconvolution,
    jobs=(job.JOB,), cli=cli.register, fiji_commands=("Deconvolve...",),
)
