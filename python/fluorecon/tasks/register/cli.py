"""`fluorecon register` (drift correction of a time series), `fluorecon register-table` (SMLM
drift by RCC); `fluorecon fuse` is in :mod:`fluorecon.tasks.fuse.cli`."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from fluorecon.tasks.register.drift_csv import write_drift_csv


def _plot_drift(path: Path, drift: np.ndarray, names: list[str], unit: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for i, name in enumerate(names):
        ax.plot(np.arange(1, len(drift) + 1), drift[:, i], label=f"d{name}")
    ax.set_xlabel("frame")
    ax.set_ylabel(f"drift ({unit})")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def register_command(
    image_path: Path = typer.Argument(..., help="Time series TIFF (T axis; a plain stack's slices are taken as frames)."),
    out_path: Path = typer.Argument(..., help="Drift-corrected TIFF, all channels (float32, written atomically)."),
    reference: str = typer.Option("first", "--reference", help="first | previous | mean."),
    channel: int = typer.Option(1, "--channel", help="Channel (1-based) the drift is measured on."),
    upsample: int = typer.Option(20, "--upsample", help="Sub-pixel precision 1/N px."),
    mode: str = typer.Option("spline", "--mode", help="How frames are shifted: spline | fourier."),
    drift_csv: Optional[Path] = typer.Option(None, "--drift-csv", help="Write the drift per frame (CSV)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a drift plot (PNG)."),
) -> None:
    """Correct the translation drift of a 2D/3D time series by sub-pixel phase correlation."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
    from fluorecon.tasks.register.classical import register_time_series

    if reference not in ("first", "previous", "mean"):
        raise typer.BadParameter(f"got {reference!r}; use first, previous or mean.", param_hint="--reference")
    if mode not in ("spline", "fourier"):
        raise typer.BadParameter(f"got {mode!r}; use spline or fourier.", param_hint="--mode")
    image, meta = read_tiff(image_path)
    axes = meta.axes
    if "T" not in axes:
        if "Z" not in axes:
            raise typer.BadParameter(f"{image_path.name} has axes {axes!r}: no time axis to correct.", param_hint="IN")
        axes = axes.replace("Z", "T")  # a plain stack: its slices are the time points
    try:
        corrected, drift = register_time_series(image, axes=axes, reference=reference, channel=channel - 1,
                                                upsample=upsample, mode=mode)  # type: ignore[arg-type]
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="IN") from None
    names = [a.lower() for a in "ZYX" if a in axes]
    info = f"fluorecon {__version__} register reference={reference} channel={channel} upsample={upsample} mode={mode}"
    write_tiff(out_path, corrected, TiffMeta(axes=axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um,
                                             unit=meta.unit, frame_interval_s=meta.frame_interval_s), info=info)
    scale = [meta.z_step_um if n == "z" else meta.pixel_size_um for n in names]
    if drift_csv is not None:
        write_drift_csv(drift_csv, drift, names, scale, "um")
    if plot is not None:
        _plot_drift(plot, drift, names, "px", f"Drift of {image_path.name} (reference: {reference})")
    typer.echo(f"{out_path}: {len(drift)} frames, max drift {np.abs(drift).max():.2f} px")


def register_table_command(
    locs: Path = typer.Argument(..., help="Localisation table (ThunderSTORM CSV: frame, x [nm], y [nm], ...)."),
    out_csv: Path = typer.Argument(..., help="Drift-corrected table (ThunderSTORM CSV, written atomically)."),
    segments: int = typer.Option(15, "--segments", help="Number of time bins cross-correlated pairwise."),
    pixel_nm: float = typer.Option(20.0, "--pixel-size-nm", help="Pixel size of the renderings that are correlated."),
    drift_csv: Optional[Path] = typer.Option(None, "--drift-csv", help="Write the drift per frame (CSV, nm)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a drift plot (PNG)."),
) -> None:
    """Correct the drift of an SMLM localisation table by redundant cross-correlation (RCC).

    Every column of the input is kept (only x [nm] and y [nm] change); Fiji's *Correct drift…* on a
    table runs the same function on the server (job type ``register-table``)."""
    from fluorecon.tasks.register.table import correct_table_drift, read_table_csv, write_table_csv

    try:
        values, columns = read_table_csv(locs)
        corrected, drift = correct_table_drift(values, columns, segments=segments, pixel_nm=pixel_nm)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="LOCS") from None
    write_table_csv(out_csv, corrected, columns)
    table = corrected
    if drift_csv is not None:
        from fluorecon.core.atomic import atomic_path

        with atomic_path(drift_csv, suffix=".csv.part") as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["frame", "dx_nm", "dy_nm"])
            writer.writerows([[t + 1, f"{d[0]:.3f}", f"{d[1]:.3f}"] for t, d in enumerate(drift)])
    if plot is not None:
        _plot_drift(plot, drift, ["x", "y"], "nm", f"RCC drift of {locs.name}")
    typer.echo(f"{out_csv}: {len(table)} localisations, max drift {np.abs(drift).max():.1f} nm")


def register(app: typer.Typer) -> None:
    from fluorecon.tasks.register import cli_train

    app.command("register")(register_command)
    cli_train.register(app)
    app.command("register-table")(register_table_command)
