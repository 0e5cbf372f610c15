"""Multiview fusion: views registered by phase correlation, fused by multiview Richardson–Lucy
(Preibisch et al. 2014) (:mod:`.classical`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.fuse import cli, job
from fluorecon.tasks.fuse.classical import FuseSpec, fuse_multiview

TASK = Task(
    key="fuse", name="Multiview fusion",
    description="Fuse views of one sample (multiview Richardson–Lucy, Preibisch et al. 2014).",
    spec=FuseSpec, methods=("multiview-rl",), classical=fuse_multiview,
    jobs=(job.JOB,), cli=cli.register, fiji_commands=("Multiview fusion...",),
)
