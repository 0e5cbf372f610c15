"""Tiled ONNX Runtime inference with a model card: the Python twin of the Fiji plugin's Predictor.

Per block (one channel of one time point: a YX plane for a 2D model, a ZYX stack for a 3D model):
percentiles of the WHOLE block (never per tile, DESIGN.md "Normalization"), tiles with halo
(core.tiling), ONNX Runtime, stitch, de-normalize with the same percentiles, so the result is in
the input's intensity units.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from fluorecon.core.modelcard import ModelCard, ModelCardError, read_card
from fluorecon.core.normalize import map_output, norm_range, normalize, parse_norm, percentile_range
from fluorecon.core.tiling import check_requested_tile, plan_tiles, predict_tiled

ALLOWED_AXES = "TZCYX"


class InputError(ValueError):
    """An image (or image/model combination) that cannot be predicted, with what to do instead."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise InputError("device='cuda' was requested but ONNX Runtime has no CUDA provider here "
                         "(install onnxruntime-gpu); use device='auto' or 'cpu'.")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class Predictor:
    """One ONNX Runtime session for one model file (use :func:`get_predictor` for the cache).

    Attributes
    ----------
    card : ModelCard
    provider : str
        The execution provider that the session actually uses (not merely the one asked for).
    sha256 : str
        Of the model file, for provenance.
    """

    def __init__(self, model_path: str | os.PathLike, *, device: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(model_path)
        self.card: ModelCard = read_card(self.path)  # ModelCardError names the problem
        options = ort.SessionOptions()
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be at least 1, got {threads}.")
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=_providers(device))
        except Exception as err:  # ORT raises its own exception types for broken graphs
            raise ModelCardError(f"ONNX Runtime cannot load {self.path.name}: {err}") from None
        self.provider = self.session.get_providers()[0]
        self.input_name = self.session.get_inputs()[0].name
        self.sha256 = sha256_of(self.path)
        self.threads = threads

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]

    def predict(self, image: np.ndarray, *, axes: str | None = None, tile: int | Sequence[int] | None = None,
                progress: Callable[[int, int], None] | None = None, task: str | None = None,
                return_scale: bool = False):
        """Predict `image` block by block; see :func:`predict`."""
        card = self.card
        image, axes = validate_input(image, card, axes=axes, task=task)
        spatial = "ZYX" if card.ndim == 3 else "YX"
        loop_axes = [a for a in axes if a not in spatial]
        if card.channels_in > 1:
            raise InputError(f"Model '{card.name}' takes {card.channels_in} channels at once; "
                             "this fluorecon predicts one channel per block.")
        order = [axes.index(a) for a in loop_axes] + [axes.index(a) for a in spatial]
        work = np.transpose(image, order)
        loop_shape = work.shape[: len(loop_axes)]
        blocks = work.reshape((-1,) + work.shape[len(loop_axes):])
        if isinstance(tile, int) and tile == 0:
            tile = None  # 0 means the card's default, as in Fiji
        if tile is not None:
            try:
                check_requested_tile(tile, card.tile_halo, card.tile_multiple)
            except ValueError as err:
                raise InputError(str(err)) from None
        plan = plan_tiles(blocks.shape[1:], tile=tile if tile is not None else card.tile_default,
                          halo=card.tile_halo, multiple=card.tile_multiple, scale=card.scale)
        norm_range(np.zeros(1, np.float32), card.norm)  # an unknown norm fails here, before any work
        total = len(blocks) * plan.num_tiles
        out_shape = tuple(s * k for s, k in zip(blocks.shape[1:], card.scale))
        mean = np.empty((len(blocks),) + out_shape, np.float32)
        scale = np.empty_like(mean) if card.has_scale_output and return_scale else None
        for b, block in enumerate(blocks):
            lo, hi = norm_range(block, card.norm)
            tick = (lambda i, n, b=b: progress(b * plan.num_tiles + i, total)) if progress else None
            result = predict_tiled(self._run, normalize(block, lo, hi)[None], plan, progress=tick)
            mean[b] = map_output(result[: card.mean_channels][0], lo, hi, card.denorm)
            if scale is not None:
                scale[b] = map_output(result[card.mean_channels:][0], lo, hi, card.denorm, is_scale=True)
        inverse = np.argsort(order)

        def back(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else np.transpose(arr.reshape(loop_shape + out_shape), inverse)

        return (back(mean), back(scale)) if return_scale else back(mean)


def validate_input(image: np.ndarray, card: ModelCard, *, axes: str | None = None,
                   task: str | None = None) -> tuple[np.ndarray, str]:
    """Check an image against a model before any work; raise InputError in words a user can act on.
    Returns the image as float32 and its axes."""
    if task is not None and card.task != task:
        raise InputError(f"Model '{card.name}' is a '{card.task}' model; this command needs a '{task}' model. "
                         "Pick another model (fluorecon models lists them).")
    image = np.asarray(image)
    if axes is None:
        if image.ndim == 3 and image.shape[-1] in (3, 4) and image.dtype == np.uint8:
            axes = "YXS"
        else:
            axes = {2: "YX", 3: "ZYX"}.get(image.ndim, "")
        if not axes:
            raise InputError(f"Image has {image.ndim} axes (shape {image.shape}); give axes, e.g. 'TZCYX'.")
    axes = axes.upper()
    if "S" in axes or image.dtype.names is not None:
        raise InputError("Image is RGB; convert it with Image › Type › 32-bit first.")
    if len(axes) != image.ndim or len(set(axes)) != len(axes) or any(a not in ALLOWED_AXES for a in axes):
        raise InputError(f"axes={axes!r} does not describe an image of shape {image.shape}; "
                         "use one letter per axis from TZCYX.")
    if image.size == 0:
        raise InputError(f"Image is empty (shape {image.shape}); open an image with pixels.")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise InputError(f"Image pixel type {image.dtype} is not supported; convert it to 32-bit.")
    if "Y" not in axes or "X" not in axes:
        raise InputError(f"Image axes {axes!r} lack Y or X; fluorecon needs images with both.")
    if card.ndim == 3 and "Z" not in axes:
        raise InputError(f"Model '{card.name}' is 3D (ZYX) but the image has no Z axis (axes {axes}); "
                         "open a z-stack or pick a 2D model.")
    image = image.astype(np.float32, copy=False)
    bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
    if bad:
        raise InputError(f"Image contains {bad} NaN or infinite pixel(s); replace them "
                         "(Process › Math › Remove NaNs…) before predicting.")
    spatial = "ZYX" if card.ndim == 3 else "YX"
    for a, m in zip(spatial, card.tile_multiple):
        size = image.shape[axes.index(a)]
        if size < m:
            raise InputError(f"Image is {size} pixel(s) along {a}; model '{card.name}' needs at least {m} "
                             f"(its tile.multiple). Use a larger image.")
    return image, axes


_CACHE: dict[tuple, Predictor] = {}


def get_predictor(model_path: str | os.PathLike, *, device: str = "auto", threads: int | None = None) -> Predictor:
    """Cached :class:`Predictor`: one session per (file, modification time, device, threads)."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelCardError(f"Model file not found: {path}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, device, threads)
    if key not in _CACHE:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]  # a re-exported model replaces its stale session
        _CACHE[key] = Predictor(path, device=device, threads=threads)
    return _CACHE[key]


def predict(image: np.ndarray, model_path: str | os.PathLike, *, axes: str | None = None,
            tile: int | Sequence[int] | None = None, threads: int | None = None, device: str = "auto",
            progress: Callable[[int, int], None] | None = None, task: str | None = None,
            return_scale: bool = False):
    """Run a fluorecon ONNX model on an image of any TZCYX subset.

    Parameters
    ----------
    image : ndarray
        (Y, X), (Z, Y, X) or any subset of TZCYX given by `axes`; any real dtype.
    model_path : path
        ONNX model with a fluorecon card.
    axes : str, optional
        Axes of `image` (default 'YX' for 2D, 'ZYX' for 3D arrays). A 2D model runs on every
        YX plane; a 3D model on every ZYX stack (per channel and time point).
    tile : int or per-axis ints, optional
        Tile side in pixels (default: the card's tile.default). Output does not depend on it.
    threads : int, optional
        ONNX Runtime intra-op threads.
    device : {"auto", "cpu", "cuda"}
        "auto" uses CUDA when onnxruntime-gpu provides it.
    progress : callable(done, total), optional
        Called after every tile.
    task : str, optional
        Refuse models of another task (e.g. "denoise").
    return_scale : bool
        Also return the per-pixel Laplace scale (models with ``outputs = mean,scale``).

    Returns
    -------
    ndarray, float32, same shape and axes as `image` (times the card's scale), in the input's
    intensity units; ``(mean, scale)`` with `return_scale` (scale is None without a scale head).

    Examples
    --------
    >>> out = predict(noisy, "models/care_denoise_2d.onnx", tile=128)  # doctest: +SKIP
    """
    predictor = get_predictor(model_path, device=device, threads=threads)
    return predictor.predict(image, axes=axes, tile=tile, progress=progress, task=task, return_scale=return_scale)


class PredictBlock:
    """One block of a block-wise prediction (core.blocks): normalize with its (t, c) block's range, run the
    model, de-normalize. Holds the model's path, not its session, so dask.distributed workers load their own."""

    def __init__(self, predictor: Predictor, *, device: str, ranges: dict):
        self.model_path, self.device, self.threads, self.ranges = str(predictor.path), device, predictor.threads, ranges
        self.predictor: Predictor | None = predictor

    def __getstate__(self) -> dict:
        return {**self.__dict__, "predictor": None}  # an ONNX Runtime session does not travel

    def __call__(self, block: np.ndarray, lead: tuple) -> np.ndarray:
        predictor = self.predictor or get_predictor(self.model_path, device=self.device, threads=self.threads)
        lo, hi = self.ranges[lead]
        result = np.asarray(predictor._run(normalize(block, lo, hi)[None, None]))[0]
        card = predictor.card
        return map_output(result[: card.mean_channels][0], lo, hi, card.denorm)


def predict_to_zarr(predictor, source, meta: TiffMeta, out_path, *, tile=None, progress: Progress | None = None,
                    task: str | None = None, info: str = "", block_bytes: int | None = None, scheduler=None,
                    device: str = "auto", cancel=None) -> TiffMeta:
    """Predict a lazy image block by block into `out_path` (OME-Zarr or ImageJ TIFF); returns the output's TiffMeta.

    The block plan (core.blocks) is the model's tiling contract, so the result equals ``Predictor.predict``.
    Same-grid and upsampling models (card ``scale``); one channel per block. The normalization range of each
    (t, c) block comes first: read whole when it is at most `block_bytes` (default :func:`block_budget_bytes`),
    else one streaming pass with the same fixed-stride subsample. `scheduler`: a dask.distributed address (its
    workers load the model with `device`).
    """
    from dataclasses import replace

    from fluorecon.core.blocks import plan_blocks, run_blocks
    from fluorecon.core.io import output_meta
    from fluorecon.core.streaming import NON_FINITE, block_budget_bytes, block_writer, streaming_percentiles
    from fluorecon.core.tiling import _per_axis

    card = predictor.card
    if task is not None and card.task != task:
        raise InputError(f"Model '{card.name}' is a '{card.task}' model; this command needs a '{task}' model. "
                         "Pick another model (fluorecon models lists them).")
    if card.task == "isotropic" or card.channels_in > 1:
        raise InputError(f"Model '{card.name}' ({card.task}) does not run block-wise; write a TIFF output instead.")
    axes = meta.axes
    spatial = "ZYX" if card.ndim == 3 else "YX"
    if not set(spatial) <= set(axes):
        raise InputError(f"Model '{card.name}' needs axes {spatial}; the image has {axes}.")
    if tile is not None:
        try:
            check_requested_tile(tile, card.tile_halo, card.tile_multiple)
        except ValueError as err:
            raise InputError(str(err)) from None
    plan = plan_blocks(source.shape, axes, spatial, tile=tile if tile is not None else card.tile_default,
                       halo=card.tile_halo, multiple=card.tile_multiple, scale=card.scale)
    multiples = _per_axis(card.tile_multiple, len(plan.spatial), "multiple")
    for a, n, m in zip(plan.spatial, plan.tiles.shape, multiples):
        if n < m:
            raise InputError(f"Image is {n} pixel(s) along {a}; model '{card.name}' needs at least {m} (its "
                             "tile.multiple). Use a larger image.")
    out_meta = output_meta(meta, card.scale, ndim=card.ndim) if any(k != 1 for k in card.scale) else meta
    percentile = card.norm.startswith("percentile:")
    low, high = parse_norm(card.norm) if percentile else norm_range(np.zeros(1, np.float32), card.norm)
    budget = block_budget_bytes() if block_bytes is None else block_bytes
    ranges = {}
    for lead in np.ndindex(*plan.loop_shape):
        loop = dict(zip(plan.loop_axes, lead))
        block = source[tuple(loop.get(i, slice(None)) for i in range(len(axes)))]
        if int(np.prod(block.shape)) * 4 <= budget:
            block = np.asarray(block.compute(scheduler="synchronous") if hasattr(block, "compute") else block,
                               np.float32)
            if not np.isfinite(block).all():
                raise InputError(NON_FINITE)
            ranges[lead] = percentile_range(block, low, high) if percentile else norm_range(block, card.norm)
        elif percentile:
            ranges[lead] = streaming_percentiles(block, low, high)
        elif card.norm.startswith("fixed:"):
            ranges[lead] = (low, high)
        else:
            raise InputError(f"Model '{card.name}' normalises with '{card.norm}', which fluorecon computes on "
                             "blocks that fit in memory only; predict a smaller image.")
        del block
    process = PredictBlock(predictor, device=device, ranges=ranges)
    with block_writer(out_path, plan.out_shape, replace(out_meta, axes=axes), chunks=plan.out_chunks(),
                     info=info) as out:
        run_blocks(source, plan, process, out, progress=progress, cancel=cancel, scheduler=scheduler)
    return replace(out_meta, axes=axes)
