"""Add the out-of-distribution reference statistics (``qc.*``) to the cards of the shipped learned
SIM and light-field models, in place, without retraining: the statistics are computed on freshly
simulated training-like inputs drawn with the settings the card records (``qc.source`` says so).
Only metadata changes; the weights are untouched (the script checks the graph bytes).

Run: .venv/bin/python scripts/add_qc_stats.py [--stacks 16] [--volumes 12]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261126  # not the training seed: a fresh draw from the same distribution


def _graph_sha(path: Path) -> str:
    import onnx

    return hashlib.sha256(onnx.load(str(path)).graph.SerializeToString()).hexdigest()


def _rewrite(path: Path, qc: dict[str, str]) -> None:
    from fluorecon.core.modelcard import read_card, write_card

    before = _graph_sha(path)
    card = read_card(path)
    card = card.model_copy(update={"qc": {**card.qc, **qc}})
    write_card(path, card)
    assert _graph_sha(path) == before, f"{path}: weights changed"
    print(f"{path.name}: " + json.dumps({k: v for k, v in qc.items()}))


def sim_stats(path: Path, stacks: int) -> dict[str, str]:
    from fluorecon.core.modelcard import read_card
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.sim.learned import SIMLearnedSimulation, card_frames, sim_training_statistics, simulate_triples

    card = read_card(path)
    t = card.train
    frames, n_a, n_p = card_frames(card)
    photons, spread = t["photons"].split(" (x/÷")
    sim = SIMLearnedSimulation(
        raw_shape=tuple(int(v) for v in t["raw_shape"].split(",")), photons=float(photons),
        photons_spread=float(spread.rstrip(")")), background=float(t["background"]), n_angles=n_a, n_phases=n_p,
        pixel_size_nm=float(t["pixel_size_nm"]), na=float(t["na"]), wavelength_nm=float(t["wavelength_nm"]),
        line_spacing_nm=float(t["line_spacing_nm"]), angle_offset_deg=float(t["angle_offset_deg"]),
        kind=t["phantom"], angle_jitter_deg=float(t["angle_jitter_deg"]), spacing_jitter=float(t["spacing_jitter"]),
        modulation=tuple(float(v) for v in t["modulation"].split("-")),
        camera=CameraNoise.model_validate_json(t["noise_model"]), seed=SEED)
    triples = simulate_triples(sim, n=stacks)
    qc = sim_training_statistics(triples, frames, norm=card.norm, pixel_size_nm=sim.pixel_size_nm)
    qc["source"] = (f"{stacks} raw stacks simulated afresh (seed {SEED}) with the card's recorded training settings "
                    "(scripts/add_qc_stats.py); the model was not retrained")
    return qc


def lightfield_stats(path: Path, volumes: int) -> dict[str, str]:
    from fluorecon.core.modelcard import read_card
    from fluorecon.tasks.lightfield.qc import training_inputs_statistics

    qc = training_inputs_statistics(read_card(path), n=volumes, seed=SEED)
    qc["source"] = (f"{volumes} light fields simulated afresh (seed {SEED}) with the card's recorded train.simulation "
                    "and optics (scripts/add_qc_stats.py); the model was not retrained")
    return qc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=16)
    parser.add_argument("--volumes", type=int, default=12)
    args = parser.parse_args()
    for name in ("sim_2d_9frames.onnx", "sim_2d_3frames.onnx"):
        _rewrite(ROOT / "models" / name, sim_stats(ROOT / "models" / name, args.stacks))
    _rewrite(ROOT / "models" / "lightfield_vcd.onnx", lightfield_stats(ROOT / "models" / "lightfield_vcd.onnx",
                                                                       args.volumes))


if __name__ == "__main__":
    main()
