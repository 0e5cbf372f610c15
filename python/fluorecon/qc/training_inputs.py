"""Redraw a shipped model's training inputs from the simulation its card records, without retraining.

The out-of-distribution statistics (``qc.*``, fluorecon.qc.ood) describe the inputs a model was
trained on. For a model trained on simulation they can be recomputed at any time: the card's
``train.*`` keys record the simulation (PSF, camera, photons, phantom family, pixel size), so a fresh
draw from the same distribution (another seed) gives inputs the model has never seen but that are
exactly "in distribution". :func:`training_inputs` returns such inputs, one model input each, in
the units and layout the user gives the model (camera ADU; a YX plane, a ZYX stack, or the channels
a multi-channel model takes together). ``scripts/add_qc_stats.py`` writes the statistics into the
cards; the tests calibrate and check the OOD detector on further fresh draws.

Each reader is keyed by (task, method); a card without a recorded simulation raises ValueError.
"""

from __future__ import annotations

import json

import numpy as np

from fluorecon.core.modelcard import ModelCard

#: Features left out per model: a model whose training inputs had no camera units (registration:
#: phantoms scaled to 0–1) cannot judge a user's intensity scale.
EXCLUDE = {("register", "voxelmorph"): ("log10_range",)}


def _denoise_sim(card: ModelCard, **update):
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.denoise.spec import DenoiseSimulation, PSFSettings

    t = card.train
    ndim = card.ndim
    fields = dict(ndim=ndim, kind=t.get("phantom", "mixed"), psf=PSFSettings.model_validate_json(t["psf"]),
                  camera=CameraNoise.model_validate_json(t["noise_model"]),
                  shape=(256, 256) if ndim == 2 else (32, 128, 128))
    if "photons_low" in t:
        fields.update(photons_low=float(t["photons_low"]), photons_high=float(t.get("photons_high", 1000)))
    # A simulation fitted to a user's image (tasks/denoise/like.py) records what it set besides the defaults.
    fields.update({k: float(t[k]) for k in ("photons_spread", "background", "structure_scale") if k in t})
    if "target" in t:
        fields["target"] = t["target"]
    fields.update(update)
    return DenoiseSimulation(**fields)


def _denoise(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.tasks.denoise.simulate import simulate_pairs

    return [p.low for p in simulate_pairs(_denoise_sim(card, **update), n=n, seed=seed)]


def _deconvolve(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.tasks.deconvolve.learned import LearnedDeconvolveConfig, simulate_deconvolution_pairs

    default = LearnedDeconvolveConfig().simulation
    t = card.train  # a fitted model (tasks/deconvolve/like.py) records its own spread and background
    sim = _denoise_sim(card, photons_low=float(t.get("photons", default.photons_low)),
                       photons_spread=float(t.get("photons_spread", default.photons_spread)),
                       background=float(t.get("background", default.background)), **update)
    return [x for x, _ in simulate_deconvolution_pairs(sim, n=n, seed=seed)[0]]


def _crossmodal(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.tasks.crossmodal.learned import CrossModalSimulation, simulate_pairs

    sim = CrossModalSimulation.model_validate_json(card.train["simulation"]).model_copy(update=update)
    return [p.source for p in simulate_pairs(sim, n=n, seed=seed)]


def _upsample(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.upsample.learned import UpsampleSimulation, simulate_pairs

    t = card.train
    sim = UpsampleSimulation(ndim=card.ndim, factor=int(t["factor"]), shape=(256, 256),
                             pixel_size_nm=float(t["pixel_size_nm"]), na_high=float(t["na_high"]),
                             na_low=float(t["na_low"]), photons=float(t["photons"]), kind=t.get("phantom", "mixed"),
                             camera=CameraNoise.model_validate_json(t["noise_model"]),
                             # a fitted model (tasks/upsample/like.py) records what it set besides the defaults
                             **{k: float(t[k]) for k in ("photons_spread", "background", "structure_scale") if k in t})
    sim = sim.model_copy(update=update)
    return [p.low for p in simulate_pairs(sim, n=n, seed=seed)]


def _isotropic(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.tasks.isotropic.learned import IsotropicSimulation, simulate_stack

    sim = IsotropicSimulation.model_validate_json(card.train["simulation"]).model_copy(update=update)
    rng = np.random.default_rng(seed)
    return [simulate_stack(sim, seed=int(rng.integers(2**31)))[0] for _ in range(n)]


def _localize(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    """One camera frame (ADU) each; the density is drawn per frame from the card's range."""
    from fluorecon.tasks.localize.physics import SMLMConfig, simulate_smlm

    t = card.train
    lo, hi = (float(v) for v in t["density_per_um2"].split("-"))
    sim = SMLMConfig(structure="uniform", camera=t.get("camera", "emccd"), pixel_size_nm=float(t["pixel_size_nm"]),
                     sigma_nm=float(t["psf_sigma_nm"]), photons=float(t["photons"]),
                     photons_log_sigma=float(t["photons_log_sigma"]), background=float(t["background_photons"]))
    sim = sim.model_copy(update=update)
    rng = np.random.default_rng(seed)
    return [simulate_smlm(sim, shape=(64, 64), num_frames=1, density=float(rng.uniform(lo, hi)),
                          seed=int(rng.integers(2**31))).frames[0].astype(np.float32) for _ in range(n)]


def _unmix(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    """Lambda stacks (C, Y, X) as in tasks.unmix.train_unmix_network (photons 5–300, background 0–3)."""
    from fluorecon.imaging.noise import CameraNoise, apply_noise
    from fluorecon.tasks.unmix.physics import simulate_labels

    mixing = np.array([[float(v) for v in row.split(",")] for row in card.train["mixing"].split(";")], np.float32)
    rng = np.random.default_rng(seed)
    recorded = card.train.get("photons", "5-300").split()[0]  # "5-300 log-uniform"
    photons_range = update.get("photons_range", tuple(float(v) for v in recorded.split("-")))
    out = []
    for _ in range(n):
        spec = simulate_labels((128, 128), mixing.shape[1], seed=int(rng.integers(2**31)))
        abundance = spec * rng.uniform(0.2, 1.0, (mixing.shape[1], 1, 1)).astype(np.float32)
        camera = CameraNoise(photons=float(np.exp(rng.uniform(*np.log(photons_range)))),
                             background=float(rng.uniform(0.0, 3.0)), offset=100.0, read_noise_e=1.5)
        clean = np.tensordot(mixing, abundance, axes=([1], [0]))
        out.append(apply_noise(clean, camera, seed=int(rng.integers(2**31))).astype(np.float32))
    return out


def _register(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    """One image each (fixed or moving), as in tasks.register_deform.train_deform_network: smoothed
    phantoms and smooth random textures in 0–1, plus white noise σ 0.02."""
    from scipy import ndimage

    from fluorecon.imaging.phantoms import phantom

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            img = ndimage.gaussian_filter(phantom((128, 128), seed=int(rng.integers(2**31))), 1.0)
        else:
            texture = ndimage.gaussian_filter(rng.random((128, 128)), rng.uniform(1.5, 3.0))
            img = (texture - texture.min()) / np.ptp(texture)
        out.append((img + rng.normal(0, 0.02, img.shape)).astype(np.float32))
    return out


def _sim(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    """The model's frames (n_frames, Y, X) of raw SIM stacks simulated with the card's settings."""
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.sim.learned import SIMLearnedSimulation, simulate_triples
    from fluorecon.tasks.sim.predict import card_frames

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
        camera=CameraNoise.model_validate_json(t["noise_model"]), seed=seed).model_copy(update=update)
    return [tr.raw[list(frames)] for tr in simulate_triples(sim, n=n, seed=seed)]


def _lightfield(card: ModelCard, n: int, seed: int, **update) -> list[np.ndarray]:
    from fluorecon.tasks.lightfield.model import LearnedLightFieldSimulation, card_geometry
    from fluorecon.tasks.lightfield.qc import lightfield_physics
    from fluorecon.tasks.lightfield.train import simulate_training_pairs

    sim = LearnedLightFieldSimulation.model_validate_json(card.train["simulation"]).model_copy(update=update)
    g = card_geometry(card)
    physics = lightfield_physics(card, (sim.n_lenslets[0] * g["nnum"], sim.n_lenslets[1] * g["nnum"]))
    return [lf for lf, _ in simulate_training_pairs(physics, sim, n=n, seed=seed)]


READERS = {
    ("denoise", "care"): _denoise, ("deconvolve", "care"): _deconvolve, ("crossmodal", "care"): _crossmodal,
    ("upsample", "care"): _upsample, ("isotropic", "care"): _isotropic, ("localize", "deepstorm"): _localize,
    ("localize", "decode"): _localize, ("unmix", "unet"): _unmix, ("register", "voxelmorph"): _register,
    ("sim", "learned"): _sim, ("lightfield", "vcd"): _lightfield,
}


def training_inputs(card: ModelCard, *, n: int, seed: int, **update) -> list[np.ndarray]:
    """`n` fresh inputs from the training distribution the card records (`update` changes simulation
    fields, e.g. ``photons_low=…`` for a shifted distribution)."""
    reader = READERS.get((card.task, card.method))
    if reader is None:
        raise ValueError(f"No recorded training simulation is known for task {card.task!r}, method "
                         f"{card.method!r}; compute qc.* statistics from the training data instead.")
    return reader(card, n, seed, **update)


def pixel_size_nm(card: ModelCard) -> float | None:
    """The training pixel size the card records (nm), if any."""
    t = card.train
    if "pixel_size_nm" in t:
        # An upsampling card records the high-resolution (output) pixel; its input pixel is factor× larger.
        return float(t["pixel_size_nm"]) * (float(t["factor"]) if card.task == "upsample" and "factor" in t else 1)
    if "psf" in t:
        return float(json.loads(t["psf"])["pixel_size_nm"])
    if "simulation" in t:
        sim = json.loads(t["simulation"])
        if "pixel_size_nm" in sim:
            return float(sim["pixel_size_nm"])
    if "voxel_size_um" in t:
        return float(t["voxel_size_um"]) * 1000
    return None


#: Seed of the fresh draws behind a card's ``qc.*`` statistics: not a training seed, so the inputs are new.
QC_SEED = 20261126


def card_statistics(card: ModelCard, *, n_reference: int, n_held_out: int, seed: int = QC_SEED) -> dict[str, str]:
    """The card's out-of-distribution statistics (``qc.*``, fluorecon.qc.ood) from `n_reference` fresh inputs of
    its recorded training simulation, the alarm threshold calibrated on `n_held_out` more (an independent draw)."""
    from fluorecon.qc.ood import training_statistics

    ref = training_inputs(card, n=n_reference, seed=seed)
    cal = training_inputs(card, n=n_held_out, seed=seed + 1)
    qc = training_statistics(ref, norm=card.norm, pixel_size_nm=pixel_size_nm(card), calibration=cal,
                             exclude=EXCLUDE.get((card.task, card.method), ()))
    qc["source"] = (f"{n_reference} + {n_held_out} inputs simulated afresh (seeds {seed}, {seed + 1}) with the card's "
                    "recorded training settings (fluorecon.qc.training_inputs)")
    return qc


def add_card_statistics(path, n_reference: int) -> None:
    """Recompute the ``qc.*`` statistics of the freshly trained model at `path` from `n_reference` simulated inputs
    (half as many more, at least 2, calibrate the alarm) and write them into its card."""
    from fluorecon.core.modelcard import read_card

    write_card_statistics(path, card_statistics(read_card(path), n_reference=n_reference,
                                                n_held_out=max(2, n_reference // 2)))


def write_card_statistics(path, qc: dict[str, str]) -> None:
    """Replace the ``qc.*`` statistics in the card of the ONNX model at `path` (metadata only; the weights stay)."""
    from fluorecon.core.modelcard import read_card, write_card

    card = read_card(path)
    stale = ("input_quantiles", "quantile_levels", "noise_std_norm", "pixel_size_nm", "source")
    kept = {k: v for k, v in card.qc.items() if not k.startswith("feature") and k not in stale}
    write_card(path, card.model_copy(update={"qc": {**kept, **qc}}))
