"""Images larger than memory: read lazily, process block by block, write OME-Zarr incrementally.

:func:`open_lazy` gives a dask array in ImageJ axis order (a subset of TZCYX) over an OME-Zarr store or a
TIFF (tifffile's Zarr view of its pages) without reading pixels. :func:`zarr_writer` creates the output
store in a temporary folder beside the target and renames it only when every block is written, so an
interrupted run (Ctrl-C, error) never leaves a store that looks complete.

Three tasks stream, all through one block plan (core.blocks: the tiling contract's tiles with their halo), and
give the same result as their in-memory paths:

- ``infer.predict_to_zarr``: the model's tiles; the normalization percentiles come from one streaming pass with
  the same fixed-stride subsample as ``percentile_range``, so the result equals ``Predictor.predict`` exactly;
- ``tasks.deconvolve.streaming.deconvolve_to_zarr``: blocks of ``--chunks`` with the PSF halo, the same blocks as
  ``deconvolve_image(..., chunks=…)`` in memory;
- ``tasks.denoise.streaming.denoise_to_zarr``: one plane (or stack) per block, as ``denoise-classical`` in memory.
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

__all__ = ["open_lazy", "zarr_writer", "tiff_writer", "block_writer", "streams", "streaming_percentiles", "block_budget_bytes"]

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


# Decoded input chunks kept by open_lazy (at most 1/16 of the input): neighbouring blocks share their halos, and
# re-reading and decompressing the same chunks cost ~0.12 s per block (12×1024² stack, 64-px blocks).
CHUNK_CACHE_BYTES = 256 * 2**20


class ChunkCache:
    """A read-only zarr array seen chunk by chunk through a least-recently-used cache of decoded chunks (at most
    `max_bytes`), for ``dask.array.from_array`` with the array's own chunks: each dask chunk is one zarr chunk, so a
    chunk shared by neighbouring blocks is read and decompressed once while it stays in the cache. ``reads`` counts
    the chunks read from the store."""

    def __init__(self, array, max_bytes: int = CHUNK_CACHE_BYTES):
        from collections import OrderedDict

        self.array, self.max_bytes = array, int(max_bytes)
        self.shape, self.dtype, self.ndim, self.chunks = tuple(array.shape), array.dtype, array.ndim, tuple(array.chunks)
        self._cache: OrderedDict = OrderedDict()
        self._bytes = 0
        self.reads = 0

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        spans = [k.indices(n)[:2] if isinstance(k, slice) else (int(k), int(k) + 1)
                 for k, n in zip(key, self.shape)] + [(0, n) for n in self.shape[len(key):]]
        grid = [range(a // c, max((b - 1) // c, a // c) + 1) for (a, b), c in zip(spans, self.chunks)]
        out = np.empty([b - a for a, b in spans], self.dtype)
        for index in np.ndindex(*[len(g) for g in grid]):
            origin = tuple(g[i] * c for g, i, c in zip(grid, index, self.chunks))
            chunk = self._chunk(origin)
            dst, src = [], []
            for (a, b), o, n in zip(spans, origin, chunk.shape):
                lo, hi = max(a, o), min(b, o + n)
                dst.append(slice(lo - a, hi - a))
                src.append(slice(lo - o, hi - o))
            out[tuple(dst)] = chunk[tuple(src)]
        # integer indices drop their axis, as in NumPy
        return out[tuple(0 if not isinstance(k, slice) else slice(None) for k in key)] if any(
            not isinstance(k, slice) for k in key) else out

    def _chunk(self, origin: tuple[int, ...]) -> np.ndarray:
        if origin in self._cache:
            self._cache.move_to_end(origin)
            return self._cache[origin]
        chunk = np.asarray(self.array[tuple(slice(o, min(o + c, n)) for o, c, n in zip(origin, self.chunks, self.shape))])
        self.reads += 1
        if chunk.nbytes <= self.max_bytes:
            self._cache[origin] = chunk
            self._bytes += chunk.nbytes
            while self._bytes > self.max_bytes:
                self._bytes -= self._cache.popitem(last=False)[1].nbytes
        return chunk


def _cached_dask(array):
    import dask.array as da

    # Never more than 1/16 of the input: streaming must not end up holding the volume (a small input caches little).
    nbytes = int(np.prod(array.shape, dtype=np.int64)) * np.dtype(array.dtype).itemsize
    return da.from_array(ChunkCache(array, max_bytes=min(CHUNK_CACHE_BYTES, nbytes // 16)), chunks=tuple(array.chunks),
                         asarray=False,
                         name=f"cached-{id(array):x}-{os.urandom(4).hex()}")


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
        darr, meta.axes = _imagej_order(_cached_dask(array), axes, path)
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
            darr = _cached_dask(zarr.open(store, mode="r"))
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


@contextlib.contextmanager
def tiff_writer(path: str | os.PathLike, shape, meta: TiffMeta, *, info: str = ""):
    """Yield a memory-mapped ImageJ hyperstack TIFF (float32, uncompressed, contiguous: ImageJ opens it as a
    virtual stack) to fill block by block; it gets the name `path` only when complete."""
    import tifffile

    from fluorecon.core.atomic import atomic_path
    from fluorecon.core.io import imagej_options

    with atomic_path(path, suffix=".tif.part") as tmp:
        array = tifffile.memmap(tmp, shape=tuple(shape), dtype=np.float32, **imagej_options(meta, info))
        try:
            yield array
            array.flush()
        finally:
            del array


@contextlib.contextmanager
def block_writer(path: str | os.PathLike, shape, meta: TiffMeta, *, chunks, info: str = ""):
    """The block-wise output named by `path`: OME-Zarr (:func:`zarr_writer`) or ImageJ TIFF (:func:`tiff_writer`)."""
    fmt = image_format(Path(path))
    if fmt == "zarr":
        with zarr_writer(path, shape, meta, chunks=chunks, info=info) as out:
            yield out
    elif fmt == "tiff":
        with tiff_writer(path, shape, meta, info=info) as out:
            yield out
    else:
        raise ValueError(f"{Path(path).name}: block-wise output is written as OME-Zarr (OUT.zarr) or ImageJ TIFF "
                         "(OUT.tif).")


def streams(image: str | os.PathLike, output: str | os.PathLike) -> bool:
    """Whether a command runs block-wise: the output is OME-Zarr, or the input is larger than the in-memory
    reader accepts (``max_input_bytes``)."""
    from fluorecon.core.io import max_input_bytes

    if image_format(Path(output)) == "zarr":
        return True
    try:
        with open_lazy(image) as (data, _):
            return int(np.prod(data.shape, dtype=np.float64)) * max(data.dtype.itemsize, 4) > max_input_bytes()
    except (TiffError, OSError, ValueError):
        return False  # the in-memory reader gives its own message


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


def block_budget_bytes() -> int:
    """A block (one plane for a 2D model, one stack for a 3D model) up to this size is read whole, once;
    larger ones are read tile by tile. FLUORECON_BLOCK_MB, default 256."""
    return int(float(os.environ.get("FLUORECON_BLOCK_MB", "256")) * 2**20)
