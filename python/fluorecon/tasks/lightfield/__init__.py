"""Light-field reconstruction: the wave-optics projector (:mod:`.physics`, :mod:`.psf`), lenslet calibration
(:mod:`.calibration`), Richardson–Lucy (:mod:`.classical`) and a VCD-style network (:mod:`.model`, :mod:`.train`,
:mod:`.learned`, :mod:`.qc`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.lightfield import cli, job, job_calibrate
from fluorecon.tasks.lightfield.classical import LightFieldSpec, richardson_lucy_lightfield, simulate
from fluorecon.tasks.lightfield.learned import predict_learned
from fluorecon.tasks.lightfield.model import LearnedLightFieldConfig, volume_meta
from fluorecon.tasks.lightfield.qc import lightfield_consistency
from fluorecon.tasks.lightfield.train import train_lightfield_learned

TASK = Task(
    key="lightfield", name="Light-field reconstruction",
    description="Volume from one light-field image: Richardson–Lucy over the wave-optics projector, or a "
                "VCD-style view → volume network (one pass).",
    spec=LightFieldSpec, config=LearnedLightFieldConfig, methods=("rl", "vcd"),
    simulate=simulate, classical=richardson_lucy_lightfield, train=train_lightfield_learned, predict=predict_learned,
    qc=lightfield_consistency, jobs=(job.JOB, job_calibrate.JOB), cli=cli.register,
    fiji_commands=("Light-field...",),
    extra={"output_meta": volume_meta, "train_config": LearnedLightFieldConfig},
)
