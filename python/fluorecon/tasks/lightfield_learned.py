"""Learned light-field reconstruction: a VCD-Net-style network (:mod:`fluorecon.nets.vcd`) turns the
``nnum × nnum`` sub-aperture views of a rectified light field into the volume in one pass
(Wang et al., Nat. Methods 18, 551 (2021)), trained on volumes of beads and filaments projected by
the wave-optics forward model :class:`fluorecon.imaging.lightfield.LightField`.

Units (why the output is what it is): the network sees the light field normalized with its own
percentiles ``(lo, hi)`` (the card's ``norm``) and its output is mapped back with the same
``(lo, hi)``, as for every fluorecon model (DESIGN.md "Normalization"). Training fits the
normalized light field ``y'`` against the projection of the true volume, ``y' ≈ a·A(x) + b``, and
the target is ``a·x``: the background ``b`` belongs to no voxel. A returned volume ``v`` therefore
satisfies ``A(v − lo) ≈ lf − background`` in the light field's own intensity units.

Views: ``views[v·nnum + u, i, j] = lf[i·nnum + v, j·nnum + u]`` (the core helper's
``extract_views`` flattened over ``(v, u)``); the plugin's ``LightFieldViews.java`` implements the
same and ``tests/vectors/lightfield_views.*`` holds them to it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.core.io import TiffMeta
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.nets.vcd import VCDConfig, build_vcd
from fluorecon.train import TrainConfig, loss_fn, match_to_input, resolve_device

CITE = ("Wang Z. et al., Real-time volumetric reconstruction of biological dynamics with light-field microscopy "
        "and deep learning, Nat. Methods 18, 551 (2021); Broxton M. et al., Opt. Express 21, 25418 (2013)")


# --- views ----------------------------------------------------------------------------------


def views_as_channels(lf: np.ndarray, *, nnum: int) -> np.ndarray:
    """The sub-aperture views of a rectified light field as channels.

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        Rectified light field: lenslet (i, j) covers pixels ``[i·nnum, (i+1)·nnum)`` × ``[j·nnum, (j+1)·nnum)``.
    nnum : int
        Pixels per lenslet (odd).

    Returns
    -------
    ndarray, (nnum², n_ly, n_lx) float32
        ``out[v·nnum + u, i, j] = lf[i·nnum + v, j·nnum + u]``.
    """
    lf = np.asarray(lf, np.float32)
    check_lightfield_shape(lf.shape, nnum=nnum)
    ny, nx = lf.shape[0] // nnum, lf.shape[1] // nnum
    return np.ascontiguousarray(lf.reshape(ny, nnum, nx, nnum).transpose(1, 3, 0, 2).reshape(nnum * nnum, ny, nx))


def check_lightfield_shape(shape: Sequence[int], *, nnum: int) -> None:
    """Refuse anything but a rectified 2D light field of whole lenslets, in words."""
    if nnum < 3 or nnum % 2 == 0:
        raise ValueError(f"nnum = {nnum}: pixels per lenslet must be odd and at least 3.")
    if len(shape) != 2:
        raise ValueError(f"A light field is one 2D image (Y, X); got shape {tuple(shape)}. "
                         "Give one time point and one channel.")
    if shape[0] % nnum or shape[1] % nnum or min(shape) < nnum:
        raise ValueError(f"Light field {shape[0]}×{shape[1]} is not a whole number of {nnum}×{nnum} lenslets; "
                         "rectify it first (`fluorecon lightfield calibrate` on a white image, then "
                         "--calibration CAL.json).")


# --- configs --------------------------------------------------------------------------------


class LearnedLightFieldSimulation(BaseModel):
    """How training volumes and light fields are drawn."""

    model_config = ConfigDict(extra="forbid")

    n_volumes: int = Field(24, ge=2, description="Simulated (volume, light field) pairs.")
    n_lenslets: tuple[int, int] = Field((12, 12), description="Lenslets (Y, X) of each simulated light field.")
    beads: tuple[int, int] = Field((8, 40), description="Beads per volume, drawn uniformly in this range.")
    bead_sigma_px: tuple[float, float] = Field((1.0, 2.5), description="Lateral bead σ in voxels, uniform per volume "
                                               "(sub-voxel beads are below what a light field resolves laterally).")
    filaments: float = Field(0.5, ge=0, le=1, description="Share of volumes that also hold 3D filaments.")
    photons: tuple[float, float] = Field((300.0, 3000.0), description="Peak photons of the volume, log-uniform in this range.")
    background: float = Field(0.02, ge=0, description="Background photons per pixel as a fraction of the peak photons.")
    read_noise_e: float = Field(1.5, ge=0, description="Camera read noise (electrons).")
    seed: int = Field(0, description="Seed of volumes and noise.")


class LearnedLightFieldConfig(BaseModel):
    """Everything that defines a learned light-field model (CLI options, card record)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["lightfield"] = "lightfield"
    method: Literal["vcd"] = Field("vcd", description="'vcd': views as channels → volume (VCD-Net style).")
    name: str = Field("VCD light-field reconstruction", description="Model name shown in Fiji.")
    optics: dict = Field(default_factory=dict, description="LightFieldOptics fields (defaults: the core model's).")
    net: VCDConfig | None = Field(None, description="Network; nnum and z_planes come from the optics.")
    train: TrainConfig | None = Field(None, description="Optimisation; patch_size in LENSLETS (multiples of 2**depth).")
    simulation: LearnedLightFieldSimulation = Field(default_factory=LearnedLightFieldSimulation)
    norm: str = Field("percentile:1:99.8", description="Light-field normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")
    rl_iter: int = Field(8, ge=0, description="Richardson–Lucy iterations of the validation baseline (0 = skip).")

    @model_validator(mode="after")
    def _defaults(self) -> "LearnedLightFieldConfig":
        optics = self.lightfield_optics()
        net = self.net or VCDConfig(nnum=optics.nnum, z_planes=optics.n_planes)
        if (net.nnum, net.z_planes) != (optics.nnum, optics.n_planes):
            net = net.model_copy(update={"nnum": optics.nnum, "z_planes": optics.n_planes})
        self.net = net
        if self.train is None:
            # L2, not L1: volumes are mostly empty and L1 pulls faint beads to zero.
            self.train = TrainConfig(patch_size=(12, 12), batch_size=8, steps=600, lr=3e-3, loss="l2")
        if len(self.train.patch_size) != 2 or any(p % net.multiple for p in self.train.patch_size):
            raise ValueError(f"train.patch_size {self.train.patch_size} must be two multiples of {net.multiple} lenslets.")
        if any(p > n for p, n in zip(self.train.patch_size, self.simulation.n_lenslets)):
            raise ValueError(f"train.patch_size {self.train.patch_size} is larger than the simulated light fields "
                             f"({self.simulation.n_lenslets} lenslets).")
        parse_norm(self.norm)
        return self

    def lightfield_optics(self):
        from fluorecon.imaging.lightfield import LightFieldOptics

        return LightFieldOptics(**self.optics)


# --- simulation -----------------------------------------------------------------------------


def training_volume(shape: Sequence[int], *, nnum: int, rng: np.random.Generator, beads: tuple[int, int] = (8, 40),
                    sigma_px: tuple[float, float] = (1.0, 2.5), filaments: bool = False) -> np.ndarray:
    """A (Z, Y, X) volume of beads and, with `filaments`, 3D filaments; peak 1, float32."""
    from fluorecon.imaging.phantoms import phantom
    from fluorecon.tasks.lightfield import bead_volume

    shape = tuple(int(s) for s in shape)
    n = int(rng.integers(beads[0], beads[1] + 1))
    volume, _ = bead_volume(shape, n_beads=n, seed=int(rng.integers(2**31)),
                            sigma_px=float(rng.uniform(*sigma_px)))
    volume = np.asarray(volume, np.float32)
    volume = volume / max(float(volume.max()), 1e-12)
    if filaments:
        fil = phantom(shape, kind="filaments", seed=int(rng.integers(2**31))).astype(np.float32)
        volume = volume + float(rng.uniform(0.3, 1.0)) * fil / max(float(fil.max()), 1e-12)
    return (volume / max(float(volume.max()), 1e-12)).astype(np.float32)


def simulate_training_pairs(physics, sim: LearnedLightFieldSimulation, *, n: int | None = None,
                            seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` (light field in photo-electrons + read noise, true volume) pairs drawn through `physics`.

    Each volume (peak 1) is scaled to a log-uniform peak photon count, projected (``A``), a flat
    background added, then Poisson shot noise and Gaussian read noise applied.
    """
    rng = np.random.default_rng(sim.seed if seed is None else seed)
    pairs = []
    with torch.no_grad():
        for _ in range(n if n is not None else sim.n_volumes):
            volume = training_volume(physics.image_shape, nnum=physics.nnum, rng=rng, beads=sim.beads,
                                     sigma_px=sim.bead_sigma_px, filaments=bool(rng.uniform() < sim.filaments))
            photons = float(np.exp(rng.uniform(np.log(sim.photons[0]), np.log(sim.photons[1]))))
            mean = physics.A(torch.as_tensor(volume * photons, device=physics.device)).cpu().numpy()
            mean = np.clip(mean, 0, None) + sim.background * photons
            lf = rng.poisson(mean).astype(np.float32) + rng.normal(0, sim.read_noise_e, mean.shape).astype(np.float32)
            pairs.append((lf, volume))
    return pairs


def normalized_pair(lf: np.ndarray, volume: np.ndarray, physics, *, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(normalized light field, target volume ``a·x``) with ``lf' ≈ a·A(x) + b`` (module docstring)."""
    lo, hi = percentile_range(lf, *parse_norm(norm))
    lfn = normalize(lf, lo, hi)
    with torch.no_grad():
        projected = physics.A(torch.as_tensor(volume, device=physics.device)).cpu().numpy()
    a, _ = match_to_input(projected, lfn)
    return lfn, (np.float32(a) * np.asarray(volume, np.float32)).astype(np.float32)


# --- training -------------------------------------------------------------------------------


def _augment(lf: np.ndarray, volume: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # The light-field PSF of square lenslets under a round pupil is symmetric under lateral flips and
    # 90° turns of the whole image (lenslet grid and pixels inside a lenslet turn together).
    k = int(rng.integers(4))
    lf, volume = np.rot90(lf, k, axes=(-2, -1)), np.rot90(volume, k, axes=(-2, -1))
    if rng.integers(2):
        lf, volume = lf[..., ::-1], volume[..., ::-1]
    return np.ascontiguousarray(lf), np.ascontiguousarray(volume)


def train_vcd(network, pairs: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig, *, nnum: int,
              progress: bool = False) -> list[float]:
    """Train on lenslet-aligned random patches of (normalized light field, target volume) pairs."""
    device = resolve_device(config.device)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    network.to(device).train()
    opt = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.1,
                                                final_div_factor=100)
    py, px = config.patch_size
    losses = []
    start = time.perf_counter()
    for step in range(config.steps):
        xs, ys = [], []
        for _ in range(config.batch_size):
            lf, vol = pairs[int(rng.integers(len(pairs)))]
            ny, nx = lf.shape[0] // nnum, lf.shape[1] // nnum
            i, j = int(rng.integers(0, ny - py + 1)) * nnum, int(rng.integers(0, nx - px + 1)) * nnum
            lfp = lf[i:i + py * nnum, j:j + px * nnum]
            vp = vol[:, i:i + py * nnum, j:j + px * nnum]
            if config.augment and py == px:
                lfp, vp = _augment(lfp, vp, rng)
            xs.append(views_as_channels(lfp, nnum=nnum))
            ys.append(vp)
        xb = torch.from_numpy(np.stack(xs)).to(device)
        yb = torch.from_numpy(np.stack(ys)).to(device)
        loss = loss_fn(config.loss, network(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress and (step + 1) % max(1, config.steps // 10) == 0:
            print(f"  step {step + 1}/{config.steps} loss {np.mean(losses[-20:]):.5f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    network.eval().cpu()
    return losses


@torch.no_grad()
def predict_torch(network, lf_normalized: np.ndarray, *, nnum: int) -> np.ndarray:
    """Whole-image torch prediction of a normalized light field (no tiling): (Z, Y, X)."""
    network.eval()
    views = torch.from_numpy(views_as_channels(lf_normalized, nnum=nnum))[None]
    return network(views)[0].numpy()


# --- metrics --------------------------------------------------------------------------------


def psnr_fitted(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB, the truth's range) after the least-squares affine map of `estimate` onto `truth`:
    reconstructions in different units (photons, normalized, a·x) are compared on equal terms."""
    est = np.asarray(estimate, np.float64).ravel()
    ref = np.asarray(truth, np.float64).ravel()
    a, b = match_to_input(est, ref)
    mse = float(np.mean((a * est + b - ref) ** 2))
    span = float(ref.max() - ref.min())
    return float(10 * np.log10(span**2 / max(mse, 1e-20)))


def evaluate(pairs: list[tuple[np.ndarray, np.ndarray]], physics, predict_fn: Callable[[np.ndarray], np.ndarray], *,
             rl_iter: int) -> dict[str, str]:
    """Fitted PSNR (:func:`psnr_fitted`) of one back-projection, RL and the network vs the true volumes."""
    from fluorecon.tasks.lightfield import backproject, richardson_lucy_lightfield

    scores: dict[str, list[float]] = {}
    for lf, volume in pairs:
        cands = {"backprojection": backproject(lf, physics), "vcd": predict_fn(lf)}
        if rl_iter:
            cands["rl"] = richardson_lucy_lightfield(lf, physics, num_iter=rl_iter)
        for key, est in cands.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr_fitted(est, volume))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_volumes"] = str(len(pairs))
    out["val_reference"] = "true volume (peak 1); PSNR after a least-squares affine fit of each estimate"
    if rl_iter:
        out["val_rl_iter"] = str(rl_iter)
    return out


# --- card, export, prediction ---------------------------------------------------------------


def lightfield_card(net: VCDConfig, optics, *, name: str, norm: str, train: dict[str, str] | None = None,
                    metrics: dict[str, str] | None = None, tile_default: int = 48) -> ModelCard:
    """The card of a view → volume model: channels in = nnum², out = z planes, ``scale`` = nnum
    (tiles count lenslets), ``train.*`` recording nnum, the z planes and step and the optics."""
    m, halo = net.multiple, net.halo()
    tile = max(tile_default, 2 * halo + m)
    tile = -(-tile // m) * m
    record = {
        "nnum": str(net.nnum), "z_planes": str(net.z_planes), "z_step_um": repr(float(optics.z_step_um)),
        "z_min_um": repr(float(optics.z_min_um)), "z_max_um": repr(float(optics.z_max_um)),
        "voxel_size_um": repr(float(optics.voxel_size_um)), "optics": optics.model_dump_json(),
        "net": net.model_dump_json(), "views": "channel v*nnum+u = lf[i*nnum+v, j*nnum+u] (rectified light field)",
        "output_units": "light-field intensity above its low percentile: A(volume - lo) ~ lf - background",
    }
    record.update(train or {})
    return ModelCard(
        task="lightfield", method="vcd", name=name, axes_in="bcyx", axes_out="bcyx",
        channels_in=net.nnum**2, channels_out=net.z_planes, tile_multiple=(m, m), tile_halo=(halo, halo),
        tile_default=(tile, tile), scale=(net.nnum, net.nnum), norm=norm, outputs="mean", cite=CITE,
        description=(f"VCD-style light-field reconstruction: {net.nnum}×{net.nnum} views → {net.z_planes} z planes "
                     f"({optics.z_min_um:g}…{optics.z_max_um:g} µm, step {optics.z_step_um:g} µm) on the light field's "
                     "lateral grid."),
        train=record, metrics=metrics or {},
    )


def card_geometry(card: ModelCard) -> dict:
    """nnum, z planes, z step and voxel size recorded in a light-field card; a clear error otherwise."""
    if card.task != "lightfield":
        raise ValueError(f"Model '{card.name}' is a '{card.task}' model, not a light-field model (task = lightfield).")
    try:
        return {"nnum": int(card.train["nnum"]), "z_planes": int(card.train["z_planes"]),
                "z_step_um": float(card.train["z_step_um"]), "z_min_um": float(card.train["z_min_um"]),
                "voxel_size_um": float(card.train["voxel_size_um"])}
    except KeyError as err:
        raise ValueError(f"Model '{card.name}' card lacks train.{err.args[0]}; re-export it with "
                         "`fluorecon lightfield-learned train`.") from None


def volume_meta(card: ModelCard) -> TiffMeta:
    """ZYX calibration of a predicted volume: lateral voxel and z step from the card (µm)."""
    g = card_geometry(card)
    return TiffMeta(axes="ZYX", pixel_size_um=g["voxel_size_um"], z_step_um=g["z_step_um"])


def predict_learned(lf: np.ndarray, model: str | os.PathLike, *, tile: int | None = None, threads: int | None = None,
                    device: str = "auto", progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Reconstruct a volume from a rectified light field with a learned model (ONNX Runtime).

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        Rectified light field (any numeric dtype; computed in float32).
    model : path
        ONNX file with a light-field card (``task = lightfield``).
    tile : int, optional
        Tile side in lenslets (default: the card's); the halo is the card's.

    Returns
    -------
    ndarray, (Z, n_ly·nnum, n_lx·nnum) float32
        In the light field's intensity units (module docstring); calibration: :func:`volume_meta`.

    Examples
    --------
    >>> vol = predict_learned(lf, "models/lightfield_vcd.onnx")  # doctest: +SKIP
    """
    from fluorecon.core.tiling import plan_tiles, predict_tiled
    from fluorecon.infer import get_predictor

    predictor = get_predictor(model, device=device, threads=threads)
    card = predictor.card
    g = card_geometry(card)
    nnum = g["nnum"]
    lf = np.asarray(lf, np.float32)
    check_lightfield_shape(lf.shape, nnum=nnum)
    lo, hi = percentile_range(lf, *parse_norm(card.norm))
    views = views_as_channels(normalize(lf, lo, hi), nnum=nnum)
    plan = plan_tiles(views.shape[1:], tile=tile if tile else card.tile_default, halo=card.tile_halo,
                      multiple=card.tile_multiple, scale=card.scale)
    out = predict_tiled(predictor._run, views, plan, progress=progress)
    return denormalize(out, lo, hi).astype(np.float32)


def train_lightfield_learned(config: LearnedLightFieldConfig, out_path: str | os.PathLike, *, progress: bool = True,
                             commit: str = "", cache_dir: str | os.PathLike | None = None) -> tuple[ModelCard, Path]:
    """Simulate pairs, train the view → volume network, validate against one back-projection and
    Richardson–Lucy, export ONNX with its card and a ``.pt`` checkpoint beside it.

    Returns
    -------
    (card, onnx path)
    """
    from fluorecon.export import export_onnx
    from fluorecon.imaging.lightfield import LightField, LightFieldConfig

    optics = config.lightfield_optics()
    sim = config.simulation
    physics = LightField.from_config(LightFieldConfig(n_lenslets=sim.n_lenslets, optics=optics), cache_dir=cache_dir)
    raw = simulate_training_pairs(physics, sim)
    n_val = max(1, int(round(len(raw) * config.val_fraction)))
    pairs = [normalized_pair(lf, vol, physics, norm=config.norm) for lf, vol in raw]
    torch.manual_seed(config.train.seed)
    network = build_vcd(config.net)
    start = time.perf_counter()
    losses = train_vcd(network, pairs[:-n_val], config.train, nnum=optics.nnum, progress=progress)
    seconds = time.perf_counter() - start
    metrics = evaluate(raw[-n_val:], physics, lambda lf: predict_torch(
        network, normalize(lf, *percentile_range(lf, *parse_norm(config.norm))), nnum=optics.nnum),
        rl_iter=config.rl_iter)
    w = max(1, min(20, len(losses) // 2))
    train_info = {
        "data": "simulated beads + 3D filaments through fluorecon.imaging.lightfield.LightField",
        "simulation": sim.model_dump_json(), "pairs": str(len(raw) - n_val), "steps": str(config.train.steps),
        "batch_size": str(config.train.batch_size), "patch_lenslets": ",".join(map(str, config.train.patch_size)),
        "lr": str(config.train.lr), "loss": config.train.loss, "seed": str(config.train.seed),
        "loss_first": f"{np.mean(losses[:w]):.5f}", "loss_last": f"{np.mean(losses[-w:]):.5f}",
        "seconds": f"{seconds:.0f}", "commit": commit,
    }
    card = lightfield_card(config.net, optics, name=config.name, norm=config.norm, train=train_info, metrics=metrics)
    out_path = Path(out_path)
    m = config.net.multiple
    side = max(2 * card.tile_halo[0] + m, 2 * m)
    export_onnx(network, out_path, card, example_shape=(1, optics.nnum**2, side, side))
    torch.save({"config": config.model_dump(mode="json"), "state_dict": network.state_dict(),
                "card": card.to_metadata()}, out_path.with_suffix(".pt"))
    return card, out_path


def load_checkpoint(path: str | os.PathLike):
    """(network, config) from a ``.pt`` written by :func:`train_lightfield_learned`."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    config = LearnedLightFieldConfig(**state["config"])
    network = build_vcd(config.net)
    network.load_state_dict(state["state_dict"])
    return network.eval(), config


def card_record(card: ModelCard) -> str:
    """One line summarising a light-field card (for CLI output and Info)."""
    g = card_geometry(card)
    return (f"nnum {g['nnum']}, {g['z_planes']} planes from {g['z_min_um']:g} µm every {g['z_step_um']:g} µm, "
            f"voxel {g['voxel_size_um']:.4g} µm")


def optics_json(card: ModelCard) -> dict:
    return json.loads(card.train.get("optics", "{}"))



def read_lightfield(path: str | os.PathLike, *, calibration: str | os.PathLike | None = None) -> tuple[np.ndarray, TiffMeta]:
    """A light-field TIFF as one 2D float32 plane, rectified with a lenslet-grid JSON when given."""
    from fluorecon.core.io import read_tiff

    image, meta = read_tiff(path)
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        squeezed = np.squeeze(image)
        if squeezed.ndim != 2:
            raise ValueError(f"{Path(path).name} has axes {meta.axes!r} {image.shape}; a light field is one 2D plane "
                             "(save one time point / channel).")
        image = squeezed
    if calibration is not None:
        from fluorecon.tasks.lightfield import LensletGrid, rectify

        grid = LensletGrid.model_validate_json(Path(calibration).read_text())
        image = np.asarray(rectify(image, grid), np.float32)
    return image, meta


def predict_to_file(image_path: str | os.PathLike, out_path: str | os.PathLike, *, model: str | os.PathLike,
                    calibration: str | os.PathLike | None = None, tile: int | None = None, threads: int | None = None,
                    device: str = "auto") -> str:
    """`fluorecon lightfield-learned predict`: read, (rectify,) predict, write a z-calibrated TIFF
    whose description records the model, its sha256 and the provider that ran; returns a summary line."""
    from fluorecon import __version__
    from fluorecon.core.io import write_tiff
    from fluorecon.infer import get_predictor

    lf, _ = read_lightfield(image_path, calibration=calibration)
    start = time.perf_counter()
    volume = predict_learned(lf, model, tile=tile, threads=threads, device=device)
    seconds = time.perf_counter() - start
    predictor = get_predictor(model, device=device, threads=threads)
    card = predictor.card
    meta = volume_meta(card)
    info = "\n".join([
        "fluorecon.command = lightfield-learned predict", f"fluorecon.version = {__version__}",
        "lightfield.method = learned", f"model.name = {card.name}", f"model.file = {Path(model).name}",
        f"model.sha256 = {predictor.sha256}", f"lightfield.geometry = {card_record(card)}",
        f"lightfield.z_min_um = {card.train.get('z_min_um')}", f"execution.provider = {predictor.provider}",
        f"calibration = {calibration or 'none (input already rectified)'}",
    ])
    write_tiff(out_path, volume, meta, info=info)
    return (f"Wrote {out_path}: {volume.shape[0]} planes {volume.shape[1]}×{volume.shape[2]} "
            f"({card_record(card)}) in {seconds:.2f} s on {predictor.provider}.")


def _register() -> None:
    """Add the learned method to the ``lightfield`` task (the iterative core module may register
    the task itself; whichever loads first, the entry ends up with both methods)."""
    from dataclasses import replace

    from fluorecon.tasks import _REGISTRY, Task, register_task

    existing = _REGISTRY.get("lightfield")
    learned = {"predict": predict_learned, "output_meta": volume_meta, "train_config": LearnedLightFieldConfig}
    if existing is not None:
        register_task(replace(existing, methods=tuple(dict.fromkeys((*existing.methods, "vcd"))),
                              train=existing.train or train_lightfield_learned, extra={**existing.extra, **learned}))
        return
    from fluorecon.tasks.lightfield import backproject, simulate

    register_task(Task(
        key="lightfield", name="Light-field reconstruction",
        description="Volume from one light-field image: Richardson–Lucy over the wave-optics projector, or a "
                    "VCD-style view → volume network (one pass).",
        config=LearnedLightFieldConfig, methods=("rl", "vcd"), simulate=simulate, train=train_lightfield_learned,
        baseline=backproject, extra=learned,
    ))


_register()
