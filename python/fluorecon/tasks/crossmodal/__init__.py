"""Cross-modality translation from registered pairs (e.g. widefield → confocal)."""

from fluorecon.tasks import Task
from fluorecon.tasks.crossmodal import cli
from fluorecon.tasks.crossmodal.learned import CrossModalConfig, simulate_pairs, train_crossmodal

TASK = Task(
    key="crossmodal",
    name="Cross-modality translation",
    description="Translate one modality into another from registered pairs (e.g. widefield → confocal).",
    spec=CrossModalConfig, config=CrossModalConfig, methods=("care",),
    simulate=simulate_pairs, train=train_crossmodal,
    # The plugin runs these same-grid image-to-image models through Denoise...
    cli=cli.register, fiji_commands=("Image-to-image...",),
)
