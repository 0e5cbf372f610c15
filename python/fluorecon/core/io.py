"""TIFF reading and writing with ImageJ hyperstack metadata (axes, calibration), via tifffile.
Writes are atomic: a failed run leaves no partial output file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from fluorecon.core.atomic import atomic_path

IMAGEJ_AXES = "TZCYX"


@dataclass
class TiffMeta:
    """Calibration and axes of an image, in ImageJ's terms."""

    axes: str = "YX"
    pixel_size_um: float | None = None
    z_step_um: float | None = None
    unit: str = "micron"
    frame_interval_s: float | None = None
    info: str = ""
    extra: dict = field(default_factory=dict)


class TiffError(ValueError):
    """A TIFF that cannot be used as input, with the reason in words."""


def _normalize_axes(axes: str) -> str:
    # tifffile names ImageJ's axes with Q/I/S for unknown ones; sample-per-pixel 'S' means RGB.
    return axes.upper().replace("I", "Z").replace("Q", "Z")


def read_tiff(path: str | os.PathLike) -> tuple[np.ndarray, TiffMeta]:
    """Read a TIFF into an array with ImageJ-order axes (subset of TZCYX) and its calibration."""
    path = Path(path)
    if not path.is_file():
        raise TiffError(f"Input file not found: {path}")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            image = series.asarray()
            axes = series.axes
            page = tif.pages[0]
            ij = tif.imagej_metadata or {}
            description = page.description if hasattr(page, "description") else ""
            pixel_size = None
            res = page.tags.get("XResolution")
            if res is not None:
                num, den = res.value
                if num and den and num / den not in (1.0, 72.0):
                    pixel_size = den / num
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as err:
        raise TiffError(f"Cannot read {path} as a TIFF ({err}); check that the file is complete.") from None
    if "S" in axes and image.shape[axes.index("S")] in (3, 4):
        raise TiffError(f"{path.name} is an RGB image; convert it with Image › Type › 32-bit first.")
    if image.size == 0:
        raise TiffError(f"{path.name} is empty (shape {image.shape}).")
    axes = _normalize_axes(axes)
    if len(set(axes)) != len(axes) or any(a not in IMAGEJ_AXES for a in axes):
        raise TiffError(f"{path.name} has axes {series.axes!r} that fluorecon cannot map to ImageJ's TZCYX.")
    order = sorted(range(len(axes)), key=lambda i: IMAGEJ_AXES.index(axes[i]))
    image = np.transpose(image, order)
    axes = "".join(axes[i] for i in order)
    unit = ij.get("unit", "micron") if isinstance(ij, dict) else "micron"
    meta = TiffMeta(
        axes=axes,
        pixel_size_um=pixel_size,
        z_step_um=float(ij["spacing"]) if "spacing" in ij else None,
        unit="micron" if unit in ("\\u00B5m", "µm", "um", "micron") else unit,
        frame_interval_s=float(ij["finterval"]) if "finterval" in ij else None,
        info=str(ij.get("Info", "")) or (description if not description.startswith("ImageJ=") else ""),
    )
    return image, meta


def write_tiff(path: str | os.PathLike, image: np.ndarray, meta: TiffMeta, *, info: str = "") -> None:
    """Write an ImageJ hyperstack TIFF atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    image = np.asarray(image)
    if image.ndim != len(meta.axes):
        raise ValueError(f"Image has {image.ndim} axes but meta.axes is {meta.axes!r}.")
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    metadata: dict = {"axes": meta.axes, "unit": meta.unit}
    if meta.z_step_um is not None:
        metadata["spacing"] = meta.z_step_um
    if meta.frame_interval_s is not None:
        metadata["finterval"] = meta.frame_interval_s
    if info or meta.info:
        metadata["Info"] = info or meta.info
    kwargs = {}
    if meta.pixel_size_um:
        kwargs["resolution"] = (1.0 / meta.pixel_size_um, 1.0 / meta.pixel_size_um)
    with atomic_path(path, suffix=".tif.part") as tmp:
        tifffile.imwrite(tmp, image, imagej=True, metadata=metadata, **kwargs)
