"""Classical denoising block by block (core.blocks), in memory and larger than memory.

The noise level (σ, or the Poisson–Gaussian parameters of the VST methods) and the normalization are estimated
from each YX plane (a ZYX stack for 3D non-local means), so the block is that plane with no halo: tiles within
a plane would each estimate their own noise and disagree. The streamed result therefore equals the in-memory one
exactly, and the memory held is one plane (one stack for 3D NLM).
"""

from __future__ import annotations

import numpy as np

from fluorecon.core.blocks import BlockPlan, BlocksCancelled, plan_blocks, run_blocks
from fluorecon.core.io import TiffMeta
from fluorecon.core.streaming import Progress, block_writer

NON_FINITE = "{name} contains NaN or infinite pixels; replace them (Process › Math › Remove NaNs…) first."


class DenoiseBlock:
    """One plane (or stack) through ``denoise_classical``."""

    def __init__(self, method: str, name: str = "The image"):
        self.method, self.name = method, name

    def __call__(self, block: np.ndarray, lead: tuple) -> np.ndarray:
        from fluorecon.tasks.denoise.classical import denoise_classical

        if not np.isfinite(block).all():
            raise ValueError(NON_FINITE.format(name=self.name))
        return denoise_classical(block, method=self.method)


def denoise_plan(shape, axes: str, method: str) -> BlockPlan:
    """One block per YX plane (per ZYX stack for the 3D methods, `classical.spatial_axes`), no halo."""
    from fluorecon.tasks.denoise.classical import spatial_axes

    spatial = spatial_axes(axes, method)
    sizes = [int(shape[axes.index(a)]) for a in axes if a in spatial]
    if min(sizes[-2:]) < 8:
        raise ValueError(f"The image is too small to denoise ({sizes[-2]}×{sizes[-1]} pixels); the noise estimate "
                         "and the patches need at least 8×8.")
    return plan_blocks(shape, axes, spatial, tile=sizes, halo=0)


def denoise_image(image: np.ndarray, meta: TiffMeta, method: str, *, name: str = "The image",
                  progress: Progress | None = None, cancel=None, cancelled=BlocksCancelled,
                  scheduler=None) -> np.ndarray:
    """In memory: the same blocks into a NumPy array (float32, the input's axes); `cancel()` is polled between
    blocks (a cancelled run raises `cancelled`)."""
    out = np.empty(image.shape, np.float32)
    run_blocks(image, denoise_plan(image.shape, meta.axes, method), DenoiseBlock(method, name), out,
               progress=progress, cancel=cancel, cancelled=cancelled, scheduler=scheduler)
    return out


def denoise_to_zarr(source, meta: TiffMeta, out_path, *, method: str, info: str = "", name: str = "The image",
                    progress: Progress | None = None, cancel=None, cancelled=BlocksCancelled, scheduler=None) -> None:
    """Block-wise from a lazy input into `out_path` (OME-Zarr or ImageJ TIFF), each plane written as it finishes."""
    plan = denoise_plan(source.shape, meta.axes, method)
    with block_writer(out_path, source.shape, meta, chunks=plan.out_chunks(), info=info) as out:
        run_blocks(source, plan, DenoiseBlock(method, name), out, progress=progress, cancel=cancel,
                   cancelled=cancelled, scheduler=scheduler)
