"""Uploaded images as the server accepts them: the size the TIFF header declares is checked before a
pixel is decoded, errors name the upload (never a path on the server), and the calibration unit is
checked and normalised at submission, so a job never fails after its last iteration on a unit it
cannot write. The route and the worker read inputs through :func:`read_input` alike."""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import tifffile

from fluorecon.core.io import TiffError, TiffMeta, read_tiff
from fluorecon.core.units import NANOMETRES_PER, UnitError, normalize_unit
from fluorecon.server.settings import Settings


class InputRefused(ValueError):
    """An upload the server will not take; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def display_name(filename: str | None, default: str) -> str:
    """The client's name for an upload, as shown in messages: its last path part, printable, short."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", Path((filename or "").replace("\\", "/")).name)[:200]
    return name or default


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 1024**2:,.0f} MiB"


def check_declared_size(path: Path, name: str, settings: Settings) -> None:
    """Refuse an image whose header declares more voxels or decoded bytes than the limits, from the
    header alone (a 1 MiB deflate TIFF can declare 33000×33000 pixels)."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(series.shape), np.dtype(series.dtype)
    except Exception:  # unreadable header: read_tiff gives the reason
        return
    voxels = math.prod(shape)
    if voxels > settings.max_voxels:
        raise InputRefused(413, f"{name} declares {voxels:,} voxels (shape {shape}), more than this server's limit "
                                f"of {settings.max_voxels:,}; crop or bin it first.")
    n_bytes = voxels * dtype.itemsize
    if n_bytes > settings.max_image_bytes:
        raise InputRefused(413, f"{name} would take {_mib(n_bytes)} decoded (shape {shape}, {dtype}), more than this "
                                f"server's limit of {_mib(settings.max_image_bytes)}; crop or bin it first, or start "
                                "the server with a larger --max-image-mb on a machine with the memory.")


# The result is written as an ImageJ TIFF, whose metadata is ASCII: the calibration is normalised to
# micrometres ('micron') at submission. The reader (core/io.py) already converts every unit through
# core/units.py, the one unit table; this edge checks what is left.


def accepted_unit(meta: TiffMeta, name: str) -> TiffMeta:
    """``meta`` in micrometres with the unit 'micron' (or ImageJ's 'pixel' when uncalibrated);
    InputRefused (422) for a unit that is not a known length."""
    unit = unicodedata.normalize("NFC", (meta.unit or "").strip())
    try:
        canonical = normalize_unit(unit)
    except UnitError:
        raise InputRefused(422, f"{name} is calibrated in {unit!r}, which is not a length unit the server knows "
                                "(µm, nm, Å, mm, cm, inch). Set the unit and pixel size with Image › Properties… in "
                                "Fiji, and save it again.") from None
    if canonical is None:
        meta.unit = "pixel"
    else:
        factor = NANOMETRES_PER[canonical] / 1000.0
        meta.pixel_size_um = None if meta.pixel_size_um is None else meta.pixel_size_um * factor
        meta.z_step_um = None if meta.z_step_um is None else meta.z_step_um * factor
        meta.unit = "micron"
    return meta


def public_message(message: str, path: Path, name: str, data_dir: Path | None = None) -> str:
    """``message`` with the server's file path of an upload replaced by the upload's own name."""
    message = message.replace(str(path), name).replace(path.name, name)
    if data_dir is not None:
        message = message.replace(str(data_dir), "<server data>")
    return message


def read_input(path: Path, name: str, settings: Settings) -> tuple[np.ndarray, TiffMeta]:
    """An uploaded TIFF, checked: size from the header, then the pixels, then the unit."""
    check_declared_size(path, name, settings)
    try:
        image, meta = read_tiff(path)
    except UnitError as err:  # calibrated in something that is not a length: the request, not the file, is wrong
        raise InputRefused(422, public_message(str(err), path, name, settings.data_dir)) from None
    except TiffError as err:
        message = public_message(str(err), path, name, settings.data_dir)
        raise InputRefused(400, message if name in message else f"{name} is not a usable TIFF: {message}") from None
    except ValueError as err:  # a calibration the reader cannot use
        raise InputRefused(422, public_message(str(err), path, name, settings.data_dir)) from None
    except Exception as err:  # tifffile raises many types on fuzzed bytes
        raise InputRefused(400, f"{name} is not a usable TIFF ({type(err).__name__}).") from None
    return image, accepted_unit(meta, name)
