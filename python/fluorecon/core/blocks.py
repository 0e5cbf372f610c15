"""One block plan for every block-wise task (issue 15 §3–4): prediction, deconvolution and classical denoising.

A :class:`BlockPlan` is the tiling contract (core.tiling, DESIGN.md "Tiling") over the spatial axes of an image of
any TZCYX subset, repeated for every index of the other axes (time, channel, and Z for plane-wise work). Each block
is read with its halo, processed on its own, and only its core is written. :func:`run_blocks` executes a plan on

- a NumPy or lazy (dask) source and a NumPy, zarr or memory-mapped output: the in-memory and the streamed paths
  run the same blocks, so their results are equal;
- this process, one block at a time, or a ``dask.distributed`` cluster (``scheduler``): the client reads each
  block, a worker processes it, the client writes its core; at most a few blocks per worker thread are in flight,
  so the volume is never held anywhere.

Two borders: ``"reflect"`` pads blocks at the image edge by reflection (the tiling contract, as
``predict_tiled``); ``"none"`` clips them to the image (deconvolution: the solvers' own zero-padded boundary
applies at the true edge, as for the whole image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Sequence

import numpy as np

from fluorecon.core.tiling import TilePlan, plan_tiles, reflect_indices, tile_origins

__all__ = ["BlockPlan", "plan_blocks", "read_block", "run_blocks", "BlocksCancelled"]

Progress = Callable[[int, int], None]
Process = Callable[[np.ndarray, tuple], np.ndarray]


class BlocksCancelled(RuntimeError):
    """Raised between blocks when ``cancel()`` says so."""


@dataclass(frozen=True)
class BlockPlan:
    """Blocks of an image with axes `axes` (ImageJ order): the spatial axes `spatial` are tiled by `tiles`,
    every other axis is looped over one index at a time."""

    axes: str
    shape: tuple[int, ...]
    spatial: str
    tiles: TilePlan
    border: Literal["reflect", "none"] = "reflect"

    @property
    def loop_axes(self) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.axes) if a not in self.spatial)

    @property
    def loop_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.loop_axes)

    @property
    def total(self) -> int:
        return int(np.prod(self.loop_shape)) * self.tiles.num_tiles

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Output shape in the input's axis order (spatial axes times the plan's scale)."""
        scale = dict(zip(self.spatial, self.tiles.scale))
        return tuple(n * scale.get(a, 1) for a, n in zip(self.axes, self.shape))

    def out_chunks(self, largest: int = 1024) -> tuple[int, ...]:
        """Storage chunks of the output: one block core per chunk (capped at `largest` per axis), one index of
        every looped axis."""
        core = dict(zip(self.spatial, (min(c * s, largest) for c, s in zip(self.tiles.core, self.tiles.scale))))
        return tuple(min(core.get(a, 1), n) for a, n in zip(self.axes, self.out_shape))

    def blocks(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(index of the looped axes, core origin of the tile), in the order they run."""
        origins = tile_origins(self.tiles)
        for lead in np.ndindex(*self.loop_shape):
            for origin in origins:
                yield tuple(int(i) for i in lead), origin


def plan_blocks(shape: Sequence[int], axes: str, spatial: str, *, tile, halo, multiple=1, scale=1,
                border: Literal["reflect", "none"] = "reflect") -> BlockPlan:
    """The block plan of an image: :func:`core.tiling.plan_tiles` over the axes in `spatial` ("YX" or "ZYX")."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != len(axes):
        raise ValueError(f"Image has {len(shape)} axes but its axes string is {axes!r}.")
    if not set(spatial) <= set(axes):
        raise ValueError(f"This task works on {spatial} blocks; the image has axes {axes}.")
    spatial = "".join(a for a in axes if a in spatial)  # the image's order (ImageJ: Z before Y before X)
    tiles = plan_tiles([shape[axes.index(a)] for a in spatial], tile=tile, halo=halo, multiple=multiple, scale=scale)
    if border not in ("reflect", "none"):
        raise ValueError(f"border={border!r}: use 'reflect' or 'none'.")
    return BlockPlan(axes=axes, shape=shape, spatial=spatial, tiles=tiles, border=border)


def _compute(region) -> np.ndarray:
    if hasattr(region, "compute"):  # dask: a TIFF's file handle is not shared between threads
        region = region.compute(scheduler="synchronous")
    return np.asarray(region, dtype=np.float32)


def _spatial_windows(plan: BlockPlan, origin):
    """Per spatial axis: (source indices read, offset of the core in the block, core length in the image)."""
    windows = []
    t = plan.tiles
    for n, b, a, o, size, h, c in zip(t.shape, t.pad_before, t.pad_after, origin, t.tile, t.halo, t.core):
        if plan.border == "reflect":
            index = reflect_indices(n, b, a)[o:o + size]
            windows.append((index, h, min(c, n - o)))
        else:
            start, stop = max(o - h, 0), min(o + c + h, n)
            windows.append((np.arange(start, stop), o - start, min(c, n - o)))
    return windows


def read_block(source, plan: BlockPlan, lead: tuple[int, ...], origin: tuple[int, ...]) -> np.ndarray:
    """The block at (`lead`, `origin`) with its halo, float32, spatial axes only; one rectangular read."""
    windows = _spatial_windows(plan, origin)
    loop = dict(zip(plan.loop_axes, lead))
    spatial = iter(windows)
    box = []
    for i in range(len(plan.axes)):
        if i in loop:
            box.append(loop[i])
        else:
            index = next(spatial)[0]
            box.append(slice(int(index.min()), int(index.max()) + 1))
    region = _compute(source[tuple(box)])
    return region[np.ix_(*[w[0] - w[0].min() for w in windows])]


def _write_core(out, plan: BlockPlan, lead, origin, result: np.ndarray) -> None:
    windows = _spatial_windows(plan, origin)
    scale = plan.tiles.scale
    core = tuple(slice(off * s, (off + length) * s) for (_, off, length), s in zip(windows, scale))
    value = np.asarray(result, np.float32)[core]
    loop = dict(zip(plan.loop_axes, lead))
    spatial = iter(zip(origin, windows, scale))
    box = []
    for i in range(len(plan.axes)):
        if i in loop:
            box.append(slice(loop[i], loop[i] + 1))
        else:
            o, (_, _, length), s = next(spatial)
            box.append(slice(o * s, (o + length) * s))
    out[tuple(box)] = value.reshape(tuple(b.stop - b.start for b in box))


def _apply(process: Process, block: np.ndarray, lead: tuple) -> np.ndarray:
    # Module-level so that dask.distributed ships it by reference.
    return np.asarray(process(block, lead), np.float32)


def run_blocks(source, plan: BlockPlan, process: Process, out, *, progress: Progress | None = None,
               cancel: Callable[[], bool] | None = None, scheduler=None, cancelled=BlocksCancelled) -> None:
    """Run `process(block, lead)` on every block of `plan` and write the cores into `out` (input axis order).

    `process` takes the block (float32, the plan's spatial axes, halo included) and the index of the looped axes,
    and returns the processed block (its shape times the plan's scale). `scheduler`: a ``dask.distributed``
    scheduler address or Client; `process` must then be picklable (a module-level function or a small object).
    `cancel()` is checked between blocks; a cancelled run raises `cancelled("Cancelled after …")`.
    """
    total = plan.total

    def check(done: int) -> None:
        if cancel is not None and cancel():
            raise cancelled(f"Cancelled after {done} of {total} blocks.")

    if scheduler is None:
        for done, (lead, origin) in enumerate(plan.blocks()):
            check(done)
            _write_core(out, plan, lead, origin, _apply(process, read_block(source, plan, lead, origin), lead))
            if progress is not None:
                progress(done + 1, total)
        return
    _run_distributed(source, plan, process, out, scheduler, progress, check)


def _run_distributed(source, plan, process, out, scheduler, progress, check) -> None:
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        threads = max(sum(client.nthreads().values()), 1)
        in_flight = 2 * threads  # enough to keep every worker busy, few enough to bound memory
        pending = iter(plan.blocks())
        [remote] = client.scatter([process], broadcast=True, hash=False)
        futures = {}

        def submit() -> bool:
            item = next(pending, None)
            if item is None:
                return False
            lead, origin = item
            future = client.submit(_apply, remote, read_block(source, plan, lead, origin), lead, pure=False)
            futures[future] = item
            queue.add(future)
            return True

        queue = as_completed()
        for _ in range(in_flight):
            if not submit():
                break
        done = 0
        for future in queue:
            lead, origin = futures.pop(future)
            _write_core(out, plan, lead, origin, future.result())  # re-raises a worker's error here
            done += 1
            if progress is not None:
                progress(done, plan.total)
            try:
                check(done)
            except BaseException:
                client.cancel(list(futures))
                raise
            submit()
    finally:
        if client is not scheduler:
            client.close()


def block_count_message(plan: BlockPlan) -> str:
    """How the work is split, for provenance text."""
    return (f"blocks: {plan.total} ({'×'.join(map(str, plan.tiles.count))} tiles of "
            f"{'×'.join(map(str, plan.tiles.tile))} px over {plan.spatial}, halo "
            f"{'×'.join(map(str, plan.tiles.halo))}, border {plan.border}"
            + (f", per index of {''.join(plan.axes[i] for i in plan.loop_axes)}" if plan.loop_axes else "") + ")")
