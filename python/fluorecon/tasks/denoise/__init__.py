"""Denoising: CARE on low/high pairs, Noise2Void / N2V2 / Noise2Self / Noise2Noise without clean data
(:mod:`.selfsupervised`), deep image prior (:mod:`.dip`), non-local means and BM3D baselines (:mod:`.classical`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.denoise import cli, job, job_dip, job_like
from fluorecon.tasks.denoise.classical import denoise_classical
from fluorecon.tasks.denoise.learned import train_denoise
from fluorecon.tasks.denoise.qc import evaluate
from fluorecon.tasks.denoise.simulate import simulate_pairs
from fluorecon.tasks.denoise.spec import DenoiseConfig

TASK = Task(
    key="denoise",
    name="Denoise",
    description="Remove shot and camera noise (CARE U-Net on low/high pairs; non-local means baseline).",
    spec=job.TrainDenoiseSpec, config=DenoiseConfig,
    methods=("care", "n2n", "n2v", "n2s", "n2v2"),
    simulate=simulate_pairs, classical=denoise_classical, train=train_denoise, qc=evaluate,
    jobs=(job.JOB, job.CLASSICAL_JOB, job_dip.JOB, job_like.JOB), cli=cli.register,
    # Denoise... runs every same-grid image-to-image model; "Train on this image..." is the train-denoise job,
    # "Train for my microscope..." the train-like job (tasks/denoise/like.py).
    fiji_commands=("Denoise...", "Train on this image...", "Train for my microscope..."),
)
