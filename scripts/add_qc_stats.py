"""Add the out-of-distribution reference statistics (``qc.*``, fluorecon.qc.ood) to the card of every
shipped model, in place, without retraining: the statistics are computed on freshly simulated
training-like inputs drawn with the settings each card records (fluorecon.qc.training_inputs;
``qc.source`` says so). A reference set gives each feature's mean, spread and correlations; a second,
independent held-out set calibrates the alarm threshold (``qc.feature_threshold``). Only metadata
changes; the weights are untouched (the script checks the graph bytes).

Run: .venv/bin/python scripts/add_qc_stats.py [--only care_denoise_2d.onnx,...] [--reference 96 --held-out 48]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from fluorecon.qc.training_inputs import QC_SEED as SEED  # noqa: E402  (fresh draws, not a training seed)

#: model file → (reference inputs, held-out inputs); slow simulations get fewer.
MODELS = {
    "care_denoise_2d.onnx": (96, 48), "care_denoise_3d.onnx": (32, 24), "care_deconvolve_2d.onnx": (96, 48),
    "care_crossmodal_2d.onnx": (96, 48), "care_upsample2x_2d.onnx": (96, 48), "care_isotropic_2d.onnx": (24, 16),
    "deepstorm_2d.onnx": (96, 48), "decode_2d.onnx": (96, 48), "unmix_4label.onnx": (32, 24),
    "register_deform_2d.onnx": (96, 48), "sim_2d_9frames.onnx": (48, 32), "sim_2d_3frames.onnx": (48, 32),
    "lightfield_vcd.onnx": (16, 12),
}


def _graph_sha(path: Path) -> str:
    import onnx

    return hashlib.sha256(onnx.load(str(path)).graph.SerializeToString()).hexdigest()


def model_statistics(path: Path, n_ref: int, n_cal: int) -> dict[str, str]:
    from fluorecon.core.modelcard import read_card
    from fluorecon.qc.training_inputs import card_statistics

    qc = card_statistics(read_card(path), n_reference=n_ref, n_held_out=n_cal, seed=SEED)
    qc["source"] += "; the model was not retrained (scripts/add_qc_stats.py)"
    return qc


def rewrite(path: Path, qc: dict[str, str]) -> None:
    from fluorecon.qc.training_inputs import write_card_statistics

    before = _graph_sha(path)
    write_card_statistics(path, qc)
    assert _graph_sha(path) == before, f"{path}: weights changed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Comma-separated model files (default: all shipped).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply the numbers of simulated inputs.")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODELS)
    for name in names:
        n_ref, n_cal = (max(8, int(v * args.scale)) for v in MODELS[name])
        t = time.time()
        qc = model_statistics(ROOT / "models" / name, n_ref, n_cal)
        rewrite(ROOT / "models" / name, qc)
        print(f"{name}: threshold {qc['feature_threshold']} ({qc['feature_calibration']}), {time.time() - t:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
