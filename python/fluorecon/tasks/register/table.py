"""Drift correction of an SMLM localisation table that keeps every column of the user's file:
redundant cross-correlation (:func:`fluorecon.tasks.register.classical.rcc_drift`) on the ``x [nm]``,
``y [nm]`` and ``frame`` columns, :func:`~fluorecon.tasks.register.classical.correct_table` on x and y,
the other columns untouched. Shared by ``fluorecon register-table`` and the server's
``register-table`` job (Fiji's *Correct drift…* on a table), so both give the same numbers.

On the wire (the job API takes one TIFF) the N×K table travels as a float32 image with two
channels, ``hi = float32(v)`` and ``lo = float32(v − hi)``: ``hi + lo`` restores the float64
value to ~2⁻⁴⁸ relative, so nm coordinates of a 50 µm field keep far more than the CSV's digits.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import fluorecon
from fluorecon.core.atomic import atomic_path
from fluorecon.tasks.register.classical import correct_table, rcc_drift

__all__ = [
    "X_COLUMN", "Y_COLUMN", "FRAME_COLUMN",
    "read_table_csv", "write_table_csv", "format_value", "correct_table_drift",
    "pack_table", "unpack_table", "RegisterTableSpec", "TableDriftCancelled", "check_job", "run_job",
]

X_COLUMN, Y_COLUMN, FRAME_COLUMN = "x [nm]", "y [nm]", "frame"


def format_value(v: float) -> str:
    """One CSV cell: whole numbers as integers (ids, frames), others as ``%.7g``, ``NaN`` when
    unknown — ThunderSTORM's own style; Java's ``LocalizationTable.format`` writes the same text."""
    v = float(v)
    if not np.isfinite(v):
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.7g}"


def read_table_csv(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """A localisation CSV (header of column names, one row per localisation) as float64 (N, K).

    Empty cells and ``NaN`` read as NaN; any other text names the row and column to fix."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if not rows:
        raise ValueError(f"{path} is empty; give a localisation table with a header row.")
    columns = [c.strip() for c in rows[0]]
    values = np.full((len(rows) - 1, len(columns)), np.nan)
    for i, row in enumerate(rows[1:]):
        if len(row) != len(columns):
            raise ValueError(f"{path}: row {i + 2} has {len(row)} values but the header names {len(columns)} columns.")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell:
                try:
                    values[i, j] = float(cell)
                except ValueError:
                    raise ValueError(f"{path}: row {i + 2}, column {columns[j]!r} holds {cell!r}, not a number.") from None
    return values, columns


def write_table_csv(path: str | os.PathLike, values: np.ndarray, columns: Sequence[str]) -> None:
    """Write (N, K) `values` under quoted `columns` (as ThunderSTORM does), atomically."""
    values = np.asarray(values, np.float64)
    lines = [",".join(f'"{c}"' for c in columns)]
    lines += [",".join(format_value(v) for v in row) for row in values]
    with atomic_path(path, suffix=".csv.part") as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines) + "\n")


def _columns(columns: Sequence[str]) -> tuple[int, int, int]:
    missing = [c for c in (X_COLUMN, Y_COLUMN, FRAME_COLUMN) if c not in columns]
    if missing:
        raise ValueError(f"The table has no {', '.join(repr(c) for c in missing)} column; its columns are "
                         f"{', '.join(repr(c) for c in columns)}. Give a ThunderSTORM table (frame, x [nm], y [nm]).")
    return columns.index(X_COLUMN), columns.index(Y_COLUMN), columns.index(FRAME_COLUMN)


def _frames(values: np.ndarray, j: int) -> np.ndarray:
    frame = values[:, j]
    if not np.isfinite(frame).all() or (frame != np.round(frame)).any() or frame.min() < 1:
        raise ValueError("The frame column must hold whole frame numbers from 1 (ThunderSTORM counts from 1).")
    return frame.astype(np.int64) - 1


def correct_table_drift(values, columns: Sequence[str], *, segments: int = 15, pixel_nm: float = 20.0,
                        progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Drift-correct a localisation table, all other columns kept.

    Parameters
    ----------
    values : ndarray, (N, K) — one row per localisation, columns as `columns`
    columns : K names; must include ``frame`` (1-based), ``x [nm]`` and ``y [nm]``
    segments, pixel_nm : as :func:`fluorecon.tasks.register.classical.rcc_drift` (`n_segments`, `pixel_nm`)

    Returns
    -------
    corrected : ndarray, float64, (N, K) — x and y minus the drift of each row's frame
    drift : ndarray, float64, (n_frames, 2) — (x, y) drift in nm of frames 1 .. max(frame)
    """
    values = np.array(values, np.float64)
    if values.ndim != 2 or values.shape[1] != len(columns) or len(values) == 0:
        raise ValueError(f"values has shape {values.shape}; give (localisations, {len(columns)} columns), at least one row.")
    jx, jy, jf = _columns(list(columns))
    frame = _frames(values, jf)
    if not (np.isfinite(values[:, jx]).all() and np.isfinite(values[:, jy]).all()):
        raise ValueError("x [nm] and y [nm] must be numbers in every row; remove rows with NaN positions first.")
    if progress is not None:
        progress(0, 2)
    drift = rcc_drift(values[:, jx], values[:, jy], frame, n_segments=segments, pixel_nm=pixel_nm)
    if progress is not None:
        progress(1, 2)
    values[:, jx], values[:, jy] = correct_table(values[:, jx], values[:, jy], frame, drift)
    if progress is not None:
        progress(2, 2)
    return values, drift


def pack_table(values) -> np.ndarray:
    """(N, K) float64 → float32 (2, N, K): ``hi = float32(v)``, ``lo = float32(v − hi)``."""
    values = np.asarray(values, np.float64)
    hi = values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        lo = (values - hi.astype(np.float64)).astype(np.float32)
    return np.stack([hi, lo])


def unpack_table(image) -> np.ndarray:
    """float32 (2, N, K) from :func:`pack_table` → float64 (N, K) (``hi + lo``)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != 2:
        raise ValueError(f"A packed table has shape (2, rows, columns); got {image.shape}.")
    return image[0].astype(np.float64) + image[1].astype(np.float64)


# --- server job -------------------------------------------------------------------------------


class TableDriftCancelled(RuntimeError):
    """The user cancelled a table drift job."""


class RegisterTableSpec(BaseModel):
    """Drift correction of a localisation table (``fluorecon register-table``). The table travels as
    the job's image: axes CYX, C = (hi, lo) float32 parts of each value, Y = localisations,
    X = `columns` (see :func:`pack_table`)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["register-table"] = Field("register-table", description="Task name.")
    method: Literal["rcc"] = Field("rcc", description="Redundant cross-correlation of time-binned renderings.")
    columns: list[str] = Field(..., min_length=3, max_length=256,
                               description="Column names in image-x order; must include frame, x [nm], y [nm].")
    segments: int = Field(15, ge=2, le=1000, description="Number of time bins cross-correlated pairwise.")
    pixel_nm: float = Field(20.0, gt=0, le=10_000, description="Pixel size (nm) of the renderings that are correlated.")


def check_job(image: np.ndarray, axes: str, spec: RegisterTableSpec) -> None:
    """Cheap checks before a job is queued; ValueError says what to change."""
    image = np.asarray(image)
    if axes != "CYX" or image.shape[0] != 2:
        raise ValueError(f"A register-table job takes the table as a 2-channel image (axes CYX, C = hi, lo); got axes "
                         f"{axes!r} with shape {tuple(image.shape)}.")
    if image.shape[2] != len(spec.columns):
        raise ValueError(f"The table image has {image.shape[2]} columns but spec.columns names {len(spec.columns)}.")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"The table image has pixel type {image.dtype}; send float32 (hi, lo) parts.")
    values = unpack_table(image)
    jx, jy, jf = _columns(spec.columns)
    _frames(values, jf)
    n_frames = int(values[:, jf].max())
    if n_frames < spec.segments:
        raise ValueError(f"{n_frames} frames cannot be cut into segments={spec.segments}; use fewer segments.")


def run_job(image: np.ndarray, meta, spec: RegisterTableSpec, progress=None, cancelled=None):
    """The server's job function; equal to ``fluorecon register-table`` with the same options.

    Returns ``(packed corrected table, "CYX", info, message)``; `info` carries ``columns`` and the
    drift per frame (``drift_nm = [[dx, dy], …]`` for frames 1 .. max) as JSON."""
    return run_job_values(image, meta, spec, progress=progress, cancelled=cancelled)[:4]


def run_job_values(image: np.ndarray, meta, spec: RegisterTableSpec, progress=None, cancelled=None):
    """:func:`run_job` plus the structured values of the server job: ``(…, message, values)`` with ``drift_nm``,
    ``localisations``, ``max_drift_nm``, ``rms_drift_nm``."""
    check_job(image, meta.axes, spec)
    if cancelled is not None and cancelled():
        raise TableDriftCancelled("Cancelled before the drift was measured.")
    corrected, drift = correct_table_drift(unpack_table(image), spec.columns, segments=spec.segments,
                                           pixel_nm=spec.pixel_nm, progress=progress)
    rms = float(np.sqrt(np.mean(np.sum(drift**2, axis=1))))
    values = {"drift_nm": np.round(drift, 4).tolist()}
    info = (f"fluorecon {fluorecon.__version__} register-table method=rcc segments={spec.segments} "
            f"pixel_nm={spec.pixel_nm:g}\n"
            f"columns = {json.dumps(spec.columns)}\n"
            f"drift_nm = {json.dumps(values['drift_nm'])}")
    message = (f"Done. {len(corrected)} localisations, {len(drift)} frames, max drift "
               f"{float(np.abs(drift).max()):.1f} nm (rms {rms:.1f} nm)")
    values.update(localisations=len(corrected), max_drift_nm=round(float(np.abs(drift).max()), 4),
                  rms_drift_nm=round(rms, 4))
    return pack_table(corrected), "CYX", info, message, values
