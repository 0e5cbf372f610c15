"""Images larger than memory: read lazily, process block by block, write OME-Zarr incrementally.

:func:`open_lazy` gives a dask array in ImageJ axis order (a subset of TZCYX) over an OME-Zarr store or a
TIFF (tifffile's Zarr view of its pages) without reading pixels. :func:`zarr_writer` creates the output
store in a temporary folder beside the target and renames it only when every block is written, so an
interrupted run (Ctrl-C, error) never leaves a store that looks complete.

Two tasks stream and give the same result as their in-memory paths:

- :func:`predict_to_zarr`: the tiling contract (core.tiling) tile by tile; the normalization percentiles
  come from one streaming pass with the same fixed-stride subsample as ``percentile_range``, so every
  tile sees the same input and the result equals ``Predictor.predict`` exactly;
- :func:`deconvolve_to_zarr`: ``tasks.deconvolve``'s overlapping dask chunks (``map_overlap``, PSF halo),
  computed one chunk at a time and written as it finishes; equals ``deconvolve_image(..., chunks=…)``.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from fluorecon.core.io import (IMAGEJ_AXES, TiffError, TiffMeta, _calibration, _check_complete, _quiet_tifffile,
                               atomic_store, image_format, ngff_multiscales, open_zarr, read_image, sniff)

__all__ = ["open_lazy", "zarr_writer", "streaming_percentiles", "predict_to_zarr", "deconvolve_to_zarr"]

Progress = Callable[[int, int], None]
NON_FINITE = "Image contains NaN or infinite pixels; replace them (Process › Math › Remove NaNs…) first."


def _imagej_order(darr, axes: str, path: Path):
    axes = axes.upper().replace("I", "Z").replace("Q", "Z")
    if "S" in axes:
        if darr.shape[axes.index("S")] != 1:
            raise TiffError(f"{path.name} is an RGB image; convert it with Image › Type › 32-bit first.")
        darr = darr[tuple(0 if a == "S" else slice(None) for a in axes)]
        axes = axes.replace("S", "")
    if len(set(axes)) != len(axes) or any(a not in IMAGEJ_AXES for a in axes):
        raise TiffError(f"{path.name} has axes {axes!r} that fluorecon cannot map to ImageJ's TZCYX.")
    order = sorted(range(len(axes)), key=lambda i: IMAGEJ_AXES.index(axes[i]))
    return darr.transpose(order), "".join(axes[i] for i in order)


@contextlib.contextmanager
def open_lazy(path: str | os.PathLike) -> Iterator[tuple[object, TiffMeta]]:
    """Yield (dask array in ImageJ axis order, TiffMeta) for an image, reading no pixels yet.

    OME-Zarr and TIFF are lazy; PNG/JPEG (always small) are read whole. Compute with the synchronous
    scheduler: a TIFF's file handle is not shared between threads.
    """
    import dask.array as da
    import tifffile
    import zarr

    path = Path(path)
    fmt = image_format(path)
    if fmt == "zarr":
        if not path.is_dir():
            raise TiffError(f"Input not found: {path} (an OME-Zarr store is a folder).")
        array, axes, meta = open_zarr(path)
        darr, meta.axes = _imagej_order(da.from_zarr(array), axes, path)
        _check_kind(path, darr.dtype)
        yield darr, meta
        return
    if sniff(path) == "pillow":  # PNG/JPEG: small, read whole
        image, meta = read_image(path)
        yield da.from_array(image), meta
        return
    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            series_list = [s for s in tif.series if s.kind != "reduced"]
            if len(series_list) != 1:
                read_image(path, max_bytes=0)  # raises the reader's message (several images, no image)
            series = series_list[0]
            _check_kind(path, series.dtype)
            _check_complete(path, tif, series)
            page = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
            meta = _calibration(path, tif, page)
            store = series.aszarr()
            darr = da.from_zarr(zarr.open(store, mode="r"))
            darr, meta.axes = _imagej_order(darr, series.axes, path)
            if darr.dtype == bool:  # a 1-bit mask reads as 0/255, as in memory
                darr = darr.astype(np.uint8) * np.uint8(255)
            meta.unit = "micron" if meta.pixel_size_um else "pixel"
            yield darr, meta
    except (tifffile.TiffFileError, OSError, KeyError, IndexError) as err:
        raise TiffError(f"Cannot read {path.name} as a TIFF ({err}); check that the file is complete.") from None


def _check_kind(path: Path, dtype) -> None:
    if np.dtype(dtype).kind not in "uifb":
        raise TiffError(f"{path.name} has pixel type {dtype}; fluorecon streams 8, 16 or 32-bit grey levels.")


@contextlib.contextmanager
def zarr_writer(path: str | os.PathLike, shape, meta: TiffMeta, *, chunks, info: str = "", dtype=np.float32):
    """Yield a zarr array (level 0 of a new OME-Zarr store) to fill block by block; on success the
    NGFF 0.4 metadata is written and the temporary store renamed to `path`."""
    import zarr

    path = Path(path)
    if image_format(path) != "zarr":
        raise ValueError(f"{path.name}: block-wise output is written as OME-Zarr; name it OUT.zarr.")
    with atomic_store(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        array = root.create_array("0", shape=tuple(shape), dtype=dtype,
                                  chunks=tuple(min(c, n) for c, n in zip(chunks, shape)),
                                  chunk_key_encoding={"name": "v2", "separator": "/"})
        yield array
        root.attrs["multiscales"] = [ngff_multiscales(meta.axes, meta, [1], name=path.stem)]
        if info:
            root.attrs["fluorecon"] = {"info": info}


def streaming_percentiles(block, low: float, high: float) -> tuple[float, float]:
    """``core.normalize.percentile_range`` of a lazy block in one pass over its first axis: the same
    fixed-stride subsample of the C-order flattened block, so the values are identical."""
    from fluorecon.core.normalize import MAX_SAMPLES

    size = int(np.prod(block.shape))
    if size == 0:
        raise ValueError("Image is empty; there is nothing to normalize.")
    stride = math.ceil(size / MAX_SAMPLES) if size > MAX_SAMPLES else 1
    per_row = int(np.prod(block.shape[1:]))
    samples, start = [], 0
    for rows in block.chunks[0]:  # one stored chunk row at a time
        first = (-start * per_row) % stride  # the first flat index ≡ 0 (mod stride) in this slab
        slab = np.asarray(block[start:start + rows].compute(scheduler="synchronous")).reshape(-1)
        if not np.isfinite(slab).all():
            raise ValueError(NON_FINITE)
        samples.append(slab[first::stride])
        start += rows
    flat = np.concatenate(samples)
    lo, hi = np.percentile(flat.astype(np.float64), [low, high])
    return float(lo), float(hi)


def _read_reflected(block, plan, origin) -> np.ndarray:
    """The padded tile at `origin` (reflect padding, as ``predict_tiled``), read from the lazy block."""
    from fluorecon.core.tiling import reflect_indices

    index = []
    for n, b, a, o, t in zip(plan.shape, plan.pad_before, plan.pad_after, origin, plan.tile):
        index.append(reflect_indices(n, b, a)[o:o + t])
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)
    region = block[box]
    region = np.asarray(region if isinstance(region, np.ndarray) else region.compute(scheduler="synchronous"),
                        dtype=np.float32)
    return region[np.ix_(*[i - i.min() for i in index])]


def block_budget_bytes() -> int:
    """A block (one plane for a 2D model, one stack for a 3D model) up to this size is read whole, once;
    larger ones are read tile by tile. FLUORECON_BLOCK_MB, default 256."""
    return int(float(os.environ.get("FLUORECON_BLOCK_MB", "256")) * 2**20)


def predict_to_zarr(predictor, source, meta: TiffMeta, out_path, *, tile=None, progress: Progress | None = None,
                    task: str | None = None, info: str = "", block_bytes: int | None = None) -> TiffMeta:
    """Predict a lazy image tile by tile into OME-Zarr `out_path`; returns the output's TiffMeta.

    Same-grid and upsampling models (card ``scale``); one channel per block, as ``Predictor.predict``.
    Blocks up to `block_bytes` (default :func:`block_budget_bytes`) are read once; larger ones tile by tile.
    """
    from dataclasses import replace

    from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
    from fluorecon.core.tiling import _per_axis, plan_tiles, tile_origins
    from fluorecon.infer import InputError

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
    loop_axes = [a for a in axes if a not in spatial]
    order = [axes.index(a) for a in loop_axes] + [axes.index(a) for a in spatial]
    work = source.transpose(order)
    loop_shape = work.shape[: len(loop_axes)]
    plan = plan_tiles(work.shape[len(loop_axes):], tile=tile if tile is not None else card.tile_default,
                      halo=card.tile_halo, multiple=card.tile_multiple, scale=card.scale)
    multiples = _per_axis(card.tile_multiple, len(plan.shape), "multiple")
    for a, n, m in zip(spatial, plan.shape, multiples):
        if n < m:
            raise InputError(f"Image is {n} pixel(s) along {a}; model '{card.name}' needs at least {m} (its "
                             "tile.multiple). Use a larger image.")
    out_spatial = tuple(s * k for s, k in zip(plan.shape, plan.scale))
    out_meta = meta
    if any(k != 1 for k in card.scale):
        from fluorecon.tasks.upsample import output_meta

        out_meta = output_meta(meta, card.scale, ndim=card.ndim)
    # output array in the input's axis order
    out_shape_work = loop_shape + out_spatial
    inverse = np.argsort(order)
    out_shape = tuple(out_shape_work[i] for i in inverse)
    chunks_work = (1,) * len(loop_shape) + tuple(c * s for c, s in zip(plan.core, plan.scale))
    chunks = tuple(chunks_work[i] for i in inverse)
    low, high = parse_norm(card.norm)
    origins = tile_origins(plan)
    total = int(np.prod(loop_shape)) * len(origins)
    done = 0
    with zarr_writer(out_path, out_shape, replace(out_meta, axes=axes), chunks=chunks, info=info) as out:
        budget = block_budget_bytes() if block_bytes is None else block_bytes
        for lead in np.ndindex(*loop_shape):
            block = work[lead]
            if int(np.prod(block.shape)) * 4 <= budget:
                block = np.asarray(block.compute(scheduler="synchronous"), np.float32)
                if not np.isfinite(block).all():
                    raise InputError(NON_FINITE)
                lo, hi = percentile_range(block, low, high)
            else:
                lo, hi = streaming_percentiles(block, low, high)
            for origin in origins:
                tile_in = _read_reflected(block, plan, origin)
                result = np.asarray(predictor._run(normalize(tile_in, lo, hi)[None, None]))[0]
                core = tuple(slice(h * s, (h + c) * s) for h, c, s in zip(plan.halo, plan.core, plan.scale))
                mean = denormalize(result[: card.mean_channels][0][core], lo, hi)
                dst = [slice(o * s, min((o + c) * s, n)) for o, c, s, n in
                       zip(origin, plan.core, plan.scale, out_spatial)]
                mean = mean[tuple(slice(0, d.stop - d.start) for d in dst)]
                index_work = tuple(slice(i, i + 1) for i in lead) + tuple(dst)
                out[tuple(index_work[i] for i in inverse)] = np.transpose(
                    mean.reshape((1,) * len(lead) + mean.shape), inverse)
                done += 1
                if progress is not None:
                    progress(done, total)
    return replace(out_meta, axes=axes)


def deconvolve_to_zarr(source, meta: TiffMeta, spec, out_path, *, psf_image=None, psf_meta=None, chunks: int = 256,
                       device=None, progress: Progress | None = None, cancel=None) -> str:
    """Deconvolve a lazy image chunk by chunk into OME-Zarr `out_path`; returns the provenance info.

    Each (t, c) block: one streaming pass for the start value (the block's mean) and a finiteness check,
    then ``tasks.deconvolve``'s overlapping chunks one at a time, each written as it finishes.
    """
    import json

    import dask
    import dask.array as da

    import fluorecon
    from fluorecon.tasks.deconvolve import (ITERATIVE, DeconvolutionCancelled, _block_task, build_psf,
                                            default_overlap, spatial_axes)
    from fluorecon.tasks.deconvolve import default_device

    axes = meta.axes
    spatial = spatial_axes(axes)
    sizes = [source.shape[axes.index(a)] for a in spatial]
    if min(sizes) < 4:
        raise ValueError(f"Image is too small to deconvolve ({dict(zip(spatial, sizes))}); need at least 4 pixels "
                         "per axis.")
    other = [i for i, a in enumerate(axes) if a not in spatial]
    order = other + [axes.index(a) for a in spatial]
    work = source.transpose(order)
    lead_shape = work.shape[: len(other)]
    psf = build_psf(work.shape[len(other):], meta, spec, psf_image, psf_meta)
    device = str(device) if device is not None else str(default_device())
    options = {"tv_lambda": spec.tv_lambda} if spec.method == "rltv" else {}
    if spec.method == "wiener":
        options = {"balance": spec.balance}
    num_iter = spec.num_iter
    overlap = default_overlap(psf.shape, work.shape[len(other):], num_iter if spec.method in ITERATIVE else 10)
    inverse = np.argsort(order)
    out_chunks_work = (1,) * len(other) + tuple(min(chunks, n) for n in work.shape[len(other):])
    details = spec.model_dump(exclude_none=True)
    info = (f"fluorecon {fluorecon.__version__} deconvolve (block-wise, chunks {chunks})\n"
            f"settings: {json.dumps(details)}\n"
            f"psf: {'measured' if psf_image is not None else 'theoretical'} shape {psf.shape}\ndevice: {device}")
    done, total = 0, None
    with zarr_writer(out_path, source.shape, meta, chunks=tuple(out_chunks_work[i] for i in inverse),
                     info=info) as out:
        for lead in np.ndindex(*lead_shape):
            block = work[lead].astype(np.float32).rechunk(tuple(min(chunks, n) for n in work.shape[len(other):]))
            if spec.background:
                block = da.clip(block - np.float32(spec.background), 0, None)
            mean, finite = dask.compute(block.mean(), da.isfinite(block).all(), scheduler="synchronous")
            if not finite:
                raise ValueError("The image contains NaN or infinite values; replace them (Process › Math › "
                                 "Remove NaNs…) first.")
            block_options = dict(options)
            if spec.method in ITERATIVE:
                block_options["init"] = max(float(mean), 1e-6)
            result = block.map_overlap(_block_task, depth=overlap, boundary="none", trim=True, dtype=np.float32,
                                       psf=psf, method=spec.method, num_iter=num_iter, options=block_options,
                                       device=device)
            starts = [np.concatenate([[0], np.cumsum(c)]) for c in result.chunks]
            pieces = result.to_delayed()
            if total is None:
                total = int(np.prod(result.numblocks)) * int(np.prod(lead_shape))
            for index in np.ndindex(*result.numblocks):
                if cancel is not None and cancel():
                    raise DeconvolutionCancelled(f"Cancelled after {done} of {total} chunks.")
                value = pieces[index].compute(scheduler="synchronous")
                region = tuple(slice(i, i + 1) for i in lead) + tuple(
                    slice(int(s[i]), int(s[i + 1])) for s, i in zip(starts, index))
                out[tuple(region[i] for i in inverse)] = np.transpose(
                    np.asarray(value, np.float32).reshape((1,) * len(lead) + value.shape), inverse)
                done += 1
                if progress is not None:
                    progress(done, total)
    return info
