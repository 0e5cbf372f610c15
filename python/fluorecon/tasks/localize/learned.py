"""Single-molecule localisation (SMLM): classical MLE fitting, Deep-STORM and a DECODE-style network.

Pipeline of every method: camera ADU → photons (offset, gain, EM gain, QE from the camera) →
localisation table (``fluorecon.tasks.localize.physics`` conventions: nm, origin at the image corner,
0-based frames) → ThunderSTORM CSV (1-based frames, :data:`THUNDERSTORM_HEADER`) and a Gaussian
rendering.

Networks read ``photons / input_scale`` (the card's ``norm`` is ``photons:<input_scale>``: SMLM
frames are mostly background, so per-frame percentiles would change the scale from frame to frame;
the camera calibration gives a fixed one). Peak extraction, the part a Fiji command re-implements:

* Deep-STORM (output (1, s·Y, s·X) density): fine pixels that are the maximum of their 5×5
  neighbourhood (edge-replicated) and exceed ``train.threshold``; position = fine-pixel centre + the centroid of
  the (2h+1)×(2h+1) neighbourhood, h = :func:`centroid_half_width` (3 at s = 4: the output blob has σ ≈ 1.2
  fine pixels, and a 3×3 centroid truncates it, which snapped positions to the fine grid), negative values
  clipped to 0; x_nm = (j + 0.5 + cx)·p/s.
* DECODE (output (10, Y, X), channels ``train.output_channels``): pixels where p is the maximum of
  its 3×3 neighbourhood (zero outside the frame) and p > 0.05, kept when the 3×3 sum of p exceeds
  ``train.threshold``, plus every pixel with p > 0.6;
  x_nm = (j + 0.5 + dx)·p, y likewise, z, photons, background and σ read at that pixel; the first
  and last frame use themselves as their missing neighbour.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fluorecon.core.atomic import atomic_path
from fluorecon.core.modelcard import ModelCard, read_card
from fluorecon.export import ExportError, export_onnx
from fluorecon.imaging.noise import CameraNoise
from fluorecon.nets.localization import (
    DECODE_CHANNELS, DENSITY_SCALE, LocalizationNetConfig, build_localization_net, decode_loss, deepstorm_loss,
)
from fluorecon.qc.smlm_metrics import score_localizations
from fluorecon.tasks.localize.classical import localize_mle
from fluorecon.tasks.localize.physics import (AstigmaticPSF, SMLMConfig, empty_table, photons_from_adu, render_emitters,
                                    simulate_smlm)
from fluorecon.train import resolve_device

THUNDERSTORM_HEADER = ('"id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]","offset [photon]",'
                       '"bkgstd [photon]","sigma [nm]","uncertainty [nm]"')
_CSV_COLUMNS = ("photons", "background", "bkgstd", "sigma_nm", "uncertainty_nm")
Method = Literal["mle", "deepstorm", "decode"]
CONFIDENT_P = 0.6
MODELS_DIR = Path(__file__).resolve().parents[4] / "models"
DEFAULT_MODELS = {"deepstorm": MODELS_DIR / "deepstorm_2d.onnx", "decode": MODELS_DIR / "decode_2d.onnx"}


class LocalizeConfig(BaseModel):
    """Options of `fluorecon localize` (and of a server job or the Fiji command)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["localize"] = "localize"
    method: Method = Field("mle", description="'mle' (Gaussian fit), 'deepstorm' or 'decode' (ONNX models).")
    model: str | None = Field(None, description="ONNX model for deepstorm/decode; default: the shipped one.")
    pixel_size_nm: float = Field(100.0, gt=0, description="Camera pixel size in the sample plane.")
    camera_offset: float = Field(100.0, description="Camera offset (bias) in ADU.")
    camera_gain: float = Field(1.0, gt=0, description="ADU per electron (after EM gain).")
    em_gain: float | None = Field(None, ge=1, description="EMCCD multiplication gain; None for sCMOS/CCD.")
    qe: float = Field(1.0, gt=0, le=1, description="Quantum efficiency.")
    read_noise_e: float = Field(1.5, ge=0, description="Read noise in electrons.")
    sigma_nm: float = Field(130.0, gt=0, description="PSF width σ (MLE).")
    astigmatism: AstigmaticPSF | None = Field(None, description="Astigmatic calibration for 3D MLE.")
    threshold: float | None = Field(None, gt=0, description="Detection threshold (MLE: DoG noise σ, default 5; "
                                                           "networks: default from the model card).")

    def camera(self) -> CameraNoise:
        return CameraNoise(photons=1.0, offset=self.camera_offset, gain=self.camera_gain, em_gain=self.em_gain,
                           qe=self.qe, read_noise_e=self.read_noise_e)


def time_series(image: np.ndarray, axes: str, name: str) -> np.ndarray:
    """(T, Y, X) from an image with ImageJ axes; a plain stack's slices (Z) are taken as frames.

    Raises ValueError naming `name` for any other layout (channels, or both z and t)."""
    squeeze = [i for i, a in enumerate(axes) if a not in "YX" and image.shape[i] == 1]
    image = np.squeeze(image, axis=tuple(squeeze)) if squeeze else image
    axes = "".join(a for i, a in enumerate(axes) if i not in squeeze)
    if axes == "YX":
        return image[None]
    if axes in ("TYX", "ZYX"):
        return image
    raise ValueError(f"{name} has axes {axes!r}; localisation needs one time series (T or Z, Y, X). "
                     "Split channels and z first (Image › Stacks › Tools).")


# --------------------------------------------------------------------------- peak extraction

def centroid_half_width(scale: int) -> int:
    """Half-width h (fine pixels) of the Deep-STORM centroid window: 0.75 camera pixel, at least 1."""
    return max(1, int(round(0.75 * scale)))


def _centroid(image: np.ndarray, t: np.ndarray, r: np.ndarray, c: np.ndarray,
              half: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Centroid offsets (dx, dy) of the clipped (2·half+1)² neighbourhood around (t, r, c) (edge-replicated)."""
    ny, nx = image.shape[1:]
    off = np.arange(-half, half + 1)
    rr = np.clip(r[:, None, None] + off[None, :, None], 0, ny - 1)
    cc = np.clip(c[:, None, None] + off[None, None, :], 0, nx - 1)
    w = np.clip(image[t[:, None, None], rr, cc], 0, None).astype(np.float64)
    total = w.sum((1, 2)) + 1e-12
    dy = (w.sum(2) * off).sum(1) / total
    dx = (w.sum(1) * off).sum(1) / total
    return dx, dy


def deepstorm_peaks(density: np.ndarray, *, scale: int, pixel_size_nm: float, threshold: float,
                    frame_offset: int = 0) -> np.ndarray:
    """Localisations from Deep-STORM densities (T, s·Y, s·X) (see the module doc)."""
    density = np.asarray(density, np.float32)
    # 5×5 fine pixels (1.25 camera pixels at ×4): one emitter's blob can show two 3×3 maxima.
    peaks = (density == ndimage.maximum_filter(density, size=(1, 5, 5), mode="nearest")) & (density > threshold)
    t, r, c = np.nonzero(peaks)
    dx, dy = _centroid(density, t, r, c, centroid_half_width(scale))
    table = empty_table(len(t))
    fine = pixel_size_nm / scale
    table["frame"] = t + frame_offset
    table["x_nm"] = (c + 0.5 + dx) * fine
    table["y_nm"] = (r + 0.5 + dy) * fine
    table["z_nm"] = 0.0
    return table


def decode_peaks(output: np.ndarray, *, pixel_size_nm: float, threshold: float = 0.5,
                 frame_offset: int = 0) -> np.ndarray:
    """Localisations from DECODE outputs (T, 10, Y, X) (channels in DECODE_CHANNELS; see the module doc)."""
    output = np.asarray(output, np.float32)
    p = output[:, 0]
    local = (p == ndimage.maximum_filter(p, size=(1, 3, 3), mode="constant")) & (p > 0.05)
    agg = ndimage.uniform_filter(p, size=(1, 3, 3), mode="constant") * 9
    # A pixel the network is confident about on its own is an emitter even beside a brighter
    # one: emitters closer than a pixel apart otherwise merge (DECODE's spatial integration).
    t, r, c = np.nonzero((local & (agg > threshold)) | (p > CONFIDENT_P))
    v = output[t, :, r, c]  # (K, 10)
    table = empty_table(len(t))
    table["frame"] = t + frame_offset
    table["x_nm"] = (c + 0.5 + v[:, 1]) * pixel_size_nm
    table["y_nm"] = (r + 0.5 + v[:, 2]) * pixel_size_nm
    table["z_nm"] = v[:, 3]
    table["photons"] = v[:, 4]
    table["uncertainty_nm"] = np.sqrt((v[:, 5] ** 2 + v[:, 6] ** 2) / 2) * pixel_size_nm
    table["uncertainty_z_nm"] = v[:, 7]
    table["background"] = v[:, 9]
    table["bkgstd"] = np.sqrt(np.clip(v[:, 9], 0, None))
    return table


# --------------------------------------------------------------------------- ONNX models

def _norm_scale(card: ModelCard) -> float:
    kind, _, value = card.norm.partition(":")
    if kind != "photons":
        raise ValueError(f"Model {card.name!r} normalizes with {card.norm!r}; localisation models use "
                         "'photons:<scale>'. Pick a model trained by `fluorecon` for the localize task.")
    return float(value)


class LocalizationModel:
    """An ONNX localisation model with its card (Deep-STORM or DECODE)."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.card = read_card(self.path)
        if self.card.task != "localize" or self.card.method not in ("deepstorm", "decode"):
            raise ValueError(f"{self.path.name} is a '{self.card.task}/{self.card.method}' model; "
                             "`localize` needs a localize/deepstorm or localize/decode model.")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        self.provider = self.session.get_providers()[0]
        self.input_name = self.session.get_inputs()[0].name
        self.input_scale = _norm_scale(self.card)
        self.multiple = self.card.tile_multiple[0]
        self.threshold = float(self.card.train.get("threshold", 0.5 if self.card.method == "decode" else 5.0))

    @property
    def method(self) -> str:
        return self.card.method

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run (B, C, Y, X) normalised input of any size: reflect-pads to the tile multiple and crops."""
        b, c, ny, nx = batch.shape
        m = self.multiple
        py, px = (-ny) % m, (-nx) % m
        if py or px:
            batch = np.pad(batch, ((0, 0), (0, 0), (0, py), (0, px)), mode="reflect" if min(ny, nx) > max(py, px) else "edge")
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]
        s = self.card.scale[0]
        return out[..., : ny * s, : nx * s]

    def inputs(self, photons: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Network input for frames [start, stop) of a (T, Y, X) photon stack."""
        x = photons / np.float32(self.input_scale)
        if self.card.method == "deepstorm":
            return x[start:stop, None]
        idx = np.arange(start, stop)
        prev, nxt = np.clip(idx - 1, 0, len(x) - 1), np.clip(idx + 1, 0, len(x) - 1)
        return np.stack([x[prev], x[idx], x[nxt]], 1)


def localize_network(frames: np.ndarray, model: LocalizationModel, *, camera: CameraNoise, pixel_size_nm: float,
                     threshold: float | None = None, batch_frames: int = 16,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Localise with a Deep-STORM or DECODE ONNX model; frames (T, Y, X) in ADU."""
    photons = photons_from_adu(frames, camera)
    thr = model.threshold if threshold is None else threshold
    tables = []
    total = len(photons)
    for start in range(0, total, batch_frames):
        stop = min(start + batch_frames, total)
        out = model.run(model.inputs(photons, start, stop))
        if model.method == "deepstorm":
            tables.append(deepstorm_peaks(out[:, 0], scale=model.card.scale[0], pixel_size_nm=pixel_size_nm,
                                          threshold=thr, frame_offset=start))
        else:
            tables.append(decode_peaks(out, pixel_size_nm=pixel_size_nm, threshold=thr, frame_offset=start))
        if progress is not None:
            progress(stop, total)
    return np.concatenate(tables) if tables else empty_table(0)


def localize(frames: np.ndarray, config: LocalizeConfig | None = None, *,
             progress: Callable[[int, int], None] | None = None, **options) -> np.ndarray:
    """Localise single molecules in a (T, Y, X) ADU stack.

    Parameters
    ----------
    frames : ndarray (T, Y, X) or (Y, X), any real dtype, camera ADU
    config : LocalizeConfig, optional
        Method, model, camera, pixel size; keyword `options` override its fields.
    progress : callable(done_frames, total_frames), optional

    Returns
    -------
    Localisation table (structured array; see :func:`fluorecon.tasks.localize.physics.empty_table`).

    Examples
    --------
    >>> table = localize(stack, method="mle", pixel_size_nm=100, camera_offset=100)  # doctest: +SKIP
    """
    config = LocalizeConfig.model_validate({**(config.model_dump() if config else {}), **options})
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or not np.issubdtype(frames.dtype, np.number) or np.iscomplexobj(frames):
        raise ValueError(f"Localisation needs a real-valued time stack (T, Y, X); got shape {frames.shape}, "
                         f"dtype {frames.dtype}. Split channels/z first.")
    if config.method == "mle":
        return localize_mle(frames, camera=config.camera(), pixel_size_nm=config.pixel_size_nm,
                            sigma_nm=config.sigma_nm, astigmatism=config.astigmatism,
                            threshold=config.threshold or 5.0, progress=progress)
    path = config.model or DEFAULT_MODELS[config.method]
    if not Path(path).is_file():
        raise FileNotFoundError(f"Model file not found: {path}; pass --model or run scripts/train_smlm_models.py.")
    model = LocalizationModel(path)
    if model.method != config.method:
        raise ValueError(f"--method {config.method} but {Path(path).name} is a {model.method} model; "
                         f"use --method {model.method} or another model.")
    return localize_network(frames, model, camera=config.camera(), pixel_size_nm=config.pixel_size_nm,
                            threshold=config.threshold, progress=progress)


def localize_checked(frames: np.ndarray, config: LocalizeConfig | None = None, *,
                     progress: Callable[[int, int], None] | None = None, **options) -> tuple[np.ndarray, dict]:
    """:func:`localize`, plus the self-checks of a network (``fluorecon.tasks.localize.checks``).

    Returns (table, qc): qc is JSON-ready, with ``warnings`` (a list of sentences; always empty for
    the MLE fit, which is the reference the checks compare with).
    """
    from fluorecon.tasks.localize.checks import network_self_checks

    config = LocalizeConfig.model_validate({**(config.model_dump() if config else {}), **options})
    table = localize(frames, config, progress=progress)
    if config.method == "mle":
        return table, {"warnings": []}
    frames = np.asarray(frames)
    frames = frames[None] if frames.ndim == 2 else frames
    card = read_card(config.model or DEFAULT_MODELS[config.method])
    qc = network_self_checks(frames, table, card, camera=config.camera(), pixel_size_nm=config.pixel_size_nm,
                             sigma_nm=config.sigma_nm)
    return table, qc


# --------------------------------------------------------------------------- ThunderSTORM CSV

def _fmt(v: float) -> str:
    return "NaN" if not np.isfinite(v) else f"{v:.7g}"


def thunderstorm_csv(table: np.ndarray) -> str:
    """The CSV text: :data:`THUNDERSTORM_HEADER`, 1-based ids and frames, NaN for unknown values."""
    buf = io.StringIO()
    buf.write(THUNDERSTORM_HEADER + "\n")
    cols = [np.asarray(table[c], np.float64) for c in ("x_nm", "y_nm", "z_nm", *_CSV_COLUMNS)]
    frames = np.asarray(table["frame"]) + 1
    for i in range(len(table)):
        buf.write(f"{i + 1},{int(frames[i])}," + ",".join(_fmt(col[i]) for col in cols) + "\n")
    return buf.getvalue()


def write_thunderstorm_csv(path: str | os.PathLike, table: np.ndarray) -> None:
    """Write `table` as a ThunderSTORM CSV, atomically (temporary file, then rename)."""
    with atomic_path(path, suffix=".csv.part") as tmp:
        Path(tmp).write_text(thunderstorm_csv(table), encoding="utf-8")


def read_thunderstorm_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a ThunderSTORM CSV (columns by name, any order; missing ones are NaN) into a table."""
    names = {"frame": "frame", "x [nm]": "x_nm", "y [nm]": "y_nm", "z [nm]": "z_nm",
             "intensity [photon]": "photons", "offset [photon]": "background", "bkgstd [photon]": "bkgstd",
             "sigma [nm]": "sigma_nm", "uncertainty [nm]": "uncertainty_nm", "uncertainty_xy [nm]": "uncertainty_nm"}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or "x [nm]" not in rows[0] or "y [nm]" not in rows[0]:
        raise ValueError(f"{path} is not a ThunderSTORM CSV (no \"x [nm]\"/\"y [nm]\" columns in its header).")
    header = rows[0]
    table = empty_table(len(rows) - 1)
    table["z_nm"] = 0.0
    for j, name in enumerate(header):
        if name in names:
            values = np.array([float(r[j]) for r in rows[1:]], np.float64)
            table[names[name]] = values - 1 if name == "frame" else values
    return table


# --------------------------------------------------------------------------- training

class TrainLocalizeConfig(BaseModel):
    """Training a localisation network on simulated frames."""

    model_config = ConfigDict(extra="forbid")

    net: dict = Field(default_factory=dict, description="LocalizationNetConfig fields (method, scale, filters...).")
    simulation: SMLMConfig = Field(default_factory=lambda: SMLMConfig(structure="uniform", camera="emccd"),
                                   description="Simulated acquisition (pixel size, PSF, photons, camera); "
                                               "density is drawn per sample from density_range.")
    density_range: tuple[float, float] = Field((0.2, 3.0), description="Emitters on per µm² per frame, uniform.")
    patch: int = Field(32, ge=8, description="Training frame side in pixels.")
    num_samples: int = Field(512, ge=2, description="Simulated training samples (pool reused every epoch).")
    steps: int = Field(500, ge=1, description="Optimizer steps.")
    batch_size: int = Field(8, ge=1)
    lr: float = Field(2e-3, gt=0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"


def simulate_training_set(config: TrainLocalizeConfig, *, seed: int, num_samples: int | None = None):
    """Simulated (inputs, targets) for the configured method.

    Deep-STORM: inputs (N, 1, P, P), targets (N, 1, sP, sP) densities.
    DECODE: inputs (N, 3, P, P); targets dict with emitters (N, M, 4), mask (N, M), background (N, P, P).
    Also returns the central-frame ground-truth table (frame = sample index) for validation.
    """
    net = LocalizationNetConfig(**config.net)
    sim = config.simulation
    rng = np.random.default_rng(seed)
    n = num_samples or config.num_samples
    p, s = config.patch, net.scale
    nframes = 1 if net.method == "deepstorm" else 3
    centre = nframes // 2
    xs, truths = [], []
    camera = sim.camera_model()
    for i in range(n):
        density = float(rng.uniform(*config.density_range))
        data = simulate_smlm(sim, shape=(p, p), num_frames=nframes, density=density, seed=int(rng.integers(2**31)))
        xs.append(photons_from_adu(data.frames, camera) / np.float32(net.input_scale_photons))
        t = data.truth[data.truth["frame"] == centre].copy()
        t["frame"] = i
        truths.append(t)
    inputs = np.stack(xs).astype(np.float32)
    truth = np.concatenate(truths)
    px = sim.pixel_size_nm
    if net.method == "deepstorm":
        fine = px / s
        targets = np.stack([render_emitters(t["x_nm"], t["y_nm"], np.full(len(t), DENSITY_SCALE), shape=(p * s, p * s),
                                            pixel_size_nm=fine, sigma_x_nm=fine, sigma_y_nm=fine) for t in truths])
        return inputs, targets[:, None].astype(np.float32), truth
    m = max(1, max(len(t) for t in truths))
    emitters = np.zeros((n, m, 4), np.float32)
    mask = np.zeros((n, m), bool)
    for i, t in enumerate(truths):
        k = len(t)
        emitters[i, :k] = np.column_stack([t["x_nm"] / px, t["y_nm"] / px, t["z_nm"] / net.z_max_nm,
                                           t["photons"] / net.photons_max])
        mask[i, :k] = True
    background = np.full((n, p, p), sim.background / net.input_scale_photons, np.float32)
    return inputs, {"emitters": emitters, "mask": mask, "background": background}, truth


def train_localization_net(config: TrainLocalizeConfig, *, progress: bool = False):
    """Train a Deep-STORM or DECODE-style network on simulated data.

    Returns (network on CPU in eval mode, LocalizationNetConfig, per-step losses).
    """
    import torch

    net_cfg = LocalizationNetConfig(**config.net)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    inputs, targets, _ = simulate_training_set(config, seed=config.seed)
    device = resolve_device(config.device)
    net = build_localization_net(net_cfg).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(i, config.steps) / config.steps)))
    losses = []
    from fluorecon.core.progress import progress_bar

    for _ in progress_bar(range(config.steps), desc=f"training {net_cfg.method}", disable=not progress, leave=False):
        idx = rng.integers(len(inputs), size=config.batch_size)
        x = torch.from_numpy(inputs[idx]).to(device)
        if net_cfg.method == "deepstorm":
            y = torch.from_numpy(targets[idx]).to(device)
            loss = deepstorm_loss(net(x), y)
        else:
            em = torch.from_numpy(targets["emitters"][idx]).to(device)
            mask = torch.from_numpy(targets["mask"][idx]).to(device)
            bg = torch.from_numpy(targets["background"][idx]).to(device)
            loss = decode_loss(net.forward_raw(x), em, mask, bg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return net.eval().cpu(), net_cfg, losses


def predict_torch(net, inputs: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """Run a localisation net on normalised inputs (N, C, Y, X) with torch (no ONNX), float32."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            outs.append(net(torch.from_numpy(inputs[i:i + batch])).numpy())
    return np.concatenate(outs)


def calibrate_threshold(net, net_cfg, inputs: np.ndarray, truth: np.ndarray, *, pixel_size_nm: float,
                        candidates: Sequence[float] | None = None) -> tuple[float, float]:
    """Peak threshold with the best Jaccard on a validation set; returns (threshold, jaccard)."""
    return best_threshold(net_cfg.method, predict_torch(net, inputs), truth, scale=net_cfg.scale,
                          pixel_size_nm=pixel_size_nm, candidates=candidates)


def peaks_from_output(method: str, output: np.ndarray, *, scale: int, pixel_size_nm: float, threshold: float) -> np.ndarray:
    """Localisation table from network outputs (N, C, Y', X') of either method."""
    if method == "deepstorm":
        return deepstorm_peaks(output[:, 0], scale=scale, pixel_size_nm=pixel_size_nm, threshold=threshold)
    return decode_peaks(output, pixel_size_nm=pixel_size_nm, threshold=threshold)


def best_threshold(method: str, output: np.ndarray, truth: np.ndarray, *, scale: int, pixel_size_nm: float,
                   candidates: Sequence[float] | None = None) -> tuple[float, float]:
    """(threshold, Jaccard) maximising the Jaccard index of :func:`peaks_from_output` against `truth`."""
    if candidates is None:
        candidates = [1, 2, 3, 4, 5, 6, 8, 10, 12] if method == "deepstorm" else [0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    scores = [(score_localizations(truth, peaks_from_output(method, output, scale=scale, pixel_size_nm=pixel_size_nm,
                                                              threshold=t)).jaccard, t) for t in candidates]
    jac, thr = max(scores)
    return float(thr), float(jac)


def localization_card(net_cfg, config: TrainLocalizeConfig, *, name: str, threshold: float,
                      metrics: dict[str, str] | None = None) -> ModelCard:
    """The model card of a localisation network (task 'localize', method deepstorm/decode)."""
    unet = net_cfg.unet()
    sim = config.simulation
    s = net_cfg.scale if net_cfg.method == "deepstorm" else 1
    halo = unet.halo()
    train = {
        "data": "simulated SMLM frames (fluorecon.tasks.localize.physics), structure uniform",
        "pixel_size_nm": f"{sim.pixel_size_nm:g}",
        "psf": sim.psf,
        "psf_sigma_nm": f"{sim.sigma_nm:g}",
        "density_per_um2": f"{config.density_range[0]:g}-{config.density_range[1]:g}",
        "photons": f"{sim.photons:g}",
        "photons_log_sigma": f"{sim.photons_log_sigma:g}",
        "background_photons": f"{sim.background:g}",
        "camera": sim.camera,
        "steps": str(config.steps), "batch_size": str(config.batch_size), "seed": str(config.seed),
        "threshold": f"{threshold:g}",
        "peak_extraction": ("5x5 local maxima of the density above threshold, centroid over +-0.75 camera px" if net_cfg.method == "deepstorm"
                            else "3x3 local maxima of p (p>0.05) whose 3x3 sum of p exceeds threshold, plus every pixel with "
                                 "p>0.6; position = pixel centre + offset"),
    }
    if net_cfg.method == "deepstorm":
        train["density_scale"] = f"{DENSITY_SCALE:g}"
        train["frames_in"] = "1"
    else:
        train["output_channels"] = ",".join(DECODE_CHANNELS)
        train["frames_in"] = "3 (t-1,t,t+1)"
        train["z_max_nm"] = f"{net_cfg.z_max_nm:g}"
        train["photons_max"] = f"{net_cfg.photons_max:g}"
    return ModelCard(
        task="localize", method=net_cfg.method, name=name, axes_in="bcyx", axes_out="bcyx",
        channels_in=unet.channels_in, channels_out=1 if net_cfg.method == "deepstorm" else len(DECODE_CHANNELS),
        tile_multiple=(unet.multiple,) * 2, tile_halo=(halo,) * 2, tile_default=(max(64, 4 * halo),) * 2,
        scale=(s, s), norm=f"photons:{net_cfg.input_scale_photons:g}", outputs="mean",
        cite=("Nehme et al., Optica 5, 458 (2018)" if net_cfg.method == "deepstorm"
              else "Speiser et al., Nat. Methods 18, 1082 (2021)"),
        description=("Deep-STORM: one frame in photons/input_scale -> density on a grid scale x finer; "
                     f"each emitter integrates to {DENSITY_SCALE:g}." if net_cfg.method == "deepstorm" else
                     "DECODE-style: frames t-1,t,t+1 in photons/input_scale -> p, dx, dy [px], z [nm], photons, "
                     "their sigmas and background [photons] per camera pixel."),
        train=train, metrics=metrics or {},
    )


def export_localization_net(net, net_cfg, path: str | os.PathLike, card: ModelCard) -> Path:
    """Export to ONNX with the card inside (atomic), then check ONNX Runtime against torch.

    DECODE outputs photons and nm (values in the thousands), so parity is judged per channel
    relative to that channel's range (≤ 1e-4), not with export's absolute tolerance.
    """
    import onnxruntime as ort
    import torch

    side = 2 * card.tile_halo[0] + card.tile_multiple[0]
    path = export_onnx(net, path, card, example_shape=(1, card.channels_in, side, side), check=False)
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(2, card.channels_in, side + card.tile_multiple[0], side))).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    span = np.maximum(want.max(axis=(0, 2, 3)) - want.min(axis=(0, 2, 3)), 1e-3)[None, :, None, None]
    diff = float(np.max(np.abs(got - want) / span)) if got.shape == want.shape else float("inf")
    if not diff <= 1e-4:
        path.unlink()
        raise ExportError(f"ONNX Runtime and torch disagree (relative diff {diff:.3g} > 1e-4); export refused.")
    return path


def _simulate(**kwargs):
    return simulate_smlm(**kwargs)
