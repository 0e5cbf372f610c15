"""Single-molecule localisation: MLE Gaussian fit (:mod:`.classical`), Deep-STORM and DECODE-style networks
(:mod:`.learned`), the astigmatic SMLM simulator (:mod:`.physics`)."""

from fluorecon.tasks import Task
from fluorecon.tasks.localize import cli, job
from fluorecon.tasks.localize.classical import localize_mle
from fluorecon.tasks.localize.learned import LocalizeConfig, _simulate, localize, train_localization_net

TASK = Task(
    key="localize", name="Localize (SMLM)",
    description="Single-molecule localisation: MLE Gaussian fit, Deep-STORM, DECODE-style; ThunderSTORM CSV.",
    spec=job.LocalizeJobSpec, config=LocalizeConfig, methods=("mle", "deepstorm", "decode"), simulate=_simulate,
    classical=localize_mle, train=train_localization_net, predict=localize,
    jobs=(job.JOB,), cli=cli.register, fiji_commands=("Localize (SMLM)...",),
)
