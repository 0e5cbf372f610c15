"""`fluorecon sim simulate|reconstruct|estimate`: classical structured-illumination microscopy.

A raw TIFF is a stack of frames (any non-YX axes, flattened in file order) in ``--order``
(outermost first, e.g. ``angle-phase-z``); the reconstruction has half the pixel size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from fluorecon.commands import option_group
from fluorecon.tasks.sim import cli_learned

sim_app = typer.Typer(name="sim", help="Structured illumination (SIM): simulate, estimate the pattern, reconstruct.",
                      no_args_is_help=True)

_ORDER_HELP = "Frame order, outermost first: angle-phase-z, z-angle-phase, angle-z-phase, …"


def _spec(mode, order, angles, phases, pixel_nm, z_step_nm, na, wavelength, excitation, spacing, **extra):
    from fluorecon.tasks.sim.job import SimSpec

    try:
        return SimSpec(mode=mode, order=order, n_angles=angles, n_phases=phases, pixel_size_nm=pixel_nm,
                       z_step_nm=z_step_nm, na=na, wavelength_nm=wavelength, excitation_nm=excitation,
                       line_spacing_nm=spacing, **extra)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


def _pattern_options(*, phases_help: str, mode_help: str, pixel_help: str, spacing_help: str):
    """The acquisition options `sim reconstruct` and `sim estimate` share (the arguments of `_spec`), in place
    of the command's parameter `pattern`, which receives them as a dict."""
    return option_group("pattern", {
        "order": (str, typer.Option("angle-phase-z", "--order", help=_ORDER_HELP)),
        "angles": (int, typer.Option(3, "--angles", help="Pattern angles.")),
        "phases": (Optional[int], typer.Option(None, "--phases", help=phases_help)),
        "mode": (str, typer.Option("2d", "--mode", help=mode_help)),
        "pixel_nm": (Optional[float], typer.Option(None, "--pixel-size-nm", help=pixel_help)),
        "na": (float, typer.Option(1.4, "--na", help="Numerical aperture.")),
        "wavelength": (float, typer.Option(520.0, "--wavelength-nm", help="Emission wavelength, nm.")),
        "spacing": (float, typer.Option(210.0, "--spacing-nm", help=spacing_help)),
    }, dict)


@sim_app.command("simulate")
def simulate_command(
    out_path: Path = typer.Argument(..., help="Raw frames TIFF (N = angles × phases × z, in --order; pixel = --pixel-size-nm)."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="Also write the object (2× grid)."),
    widefield: Optional[Path] = typer.Option(None, "--widefield", help="Also write the widefield equivalent."),
    mode: str = typer.Option("2d", "--mode", help="2d | 3d."),
    size: int = typer.Option(128, "--size", help="Raw frame size in pixels (square)."),
    planes: int = typer.Option(16, "--planes", help="z planes (3d)."),
    order: str = typer.Option("angle-phase-z", "--order", help=_ORDER_HELP),
    kind: str = typer.Option("line_pairs", "--kind", help="line_pairs | filaments | mixed | … (phantom)."),
    pixel_nm: float = typer.Option(80.0, "--pixel-size-nm", help="Raw pixel in the sample, nm."),
    z_step_nm: float = typer.Option(125.0, "--z-step-nm", help="z step, nm (3d)."),
    spacing: float = typer.Option(210.0, "--spacing-nm", help="Pattern line spacing, nm."),
    modulation: float = typer.Option(0.8, "--modulation", help="Modulation depth (0–1]."),
    photons: float = typer.Option(500.0, "--photons", help="Photons per pixel at the object's peak."),
    seed: int = typer.Option(0, "--seed", help="Phantom and noise seed."),
) -> None:
    """Simulate raw SIM frames of a phantom (Poisson–Gaussian camera noise)."""
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.sim.physics import SIMConfig, simulate_sim_phantom
    from fluorecon.tasks.sim.estimate import to_flat

    shape = (planes, 2 * size, 2 * size) if mode == "3d" else (2 * size, 2 * size)
    try:
        config = SIMConfig(mode=mode, image_shape=shape, pixel_size_nm=pixel_nm, z_step_nm=z_step_nm if mode == "3d" else None,
                           line_spacing_nm=spacing, modulation=modulation, noise=CameraNoise(photons=photons, offset=100))
        data = simulate_sim_phantom(config, kind=kind, seed=seed)
        flat = to_flat(data.raw, order=order)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    z_um = z_step_nm / 1000 if mode == "3d" else None
    info = f"fluorecon sim simulate\nsim_config = {config.model_dump_json()}\norder = {order}"
    write_tiff(out_path, flat, TiffMeta(axes="ZYX", pixel_size_um=pixel_nm / 1000, unit="micron"), info=info)
    if truth is not None:
        axes = "ZYX" if data.truth.ndim == 3 else "YX"
        write_tiff(truth, data.truth, TiffMeta(axes=axes, pixel_size_um=pixel_nm / 2000, z_step_um=z_um, unit="micron"),
                   info=info)
    if widefield is not None:
        axes = "ZYX" if data.widefield.ndim == 3 else "YX"
        write_tiff(widefield, data.widefield, TiffMeta(axes=axes, pixel_size_um=pixel_nm / 1000, z_step_um=z_um,
                                                       unit="micron"), info=info)
    typer.echo(f"Wrote {flat.shape[0]} raw frames of {flat.shape[1]}×{flat.shape[2]} to {out_path}")


def _read(raw_path: Path):
    from fluorecon.core.io import read_tiff
    from fluorecon.tasks.sim.job import flat_frames

    image, meta = read_tiff(raw_path)
    try:
        return flat_frames(image, meta.axes).astype(np.float32), meta
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="RAW") from None


def _print_table(rows: list[dict]) -> None:
    typer.echo("angle  angle_deg  spacing_nm  phase_deg  modulation  peak_quality  mcnr")
    for r in rows:
        typer.echo(f"{r['angle_index']:>5}  {r['angle_deg']:>9.3f}  {r['line_spacing_nm']:>10.2f}  {r['phase_deg']:>9.1f}"
                   f"  {r['modulation']:>10.3f}  {r['peak_quality']:>12.1f}  {r.get('mcnr_mean', float('nan')):>4.1f}")


@sim_app.command("reconstruct")
@_pattern_options(phases_help="Phases per angle (default 3 for 2d, 5 for 3d).", mode_help="2d (per plane) | 3d (three-beam).",
                  pixel_help="Raw pixel, nm (default: the TIFF's calibration).",
                  spacing_help="Expected line spacing, nm (searched ±25 %).")
def reconstruct_command(
    raw_path: Path = typer.Argument(..., help="Raw SIM frames TIFF."),
    out_path: Path = typer.Argument(..., help="Reconstruction TIFF (float32, half the pixel size, written atomically)."),
    pattern: dict = None,
    z_step_nm: Optional[float] = typer.Option(None, "--z-step-nm", help="z step, nm (3d; default: the TIFF's)."),
    excitation: float = typer.Option(488.0, "--excitation-nm", help="Excitation wavelength, nm (3d)."),
    wiener: float = typer.Option(0.05, "--wiener", help="Wiener parameter."),
    apodization: float = typer.Option(2.0, "--apodization", help="Apodization cutoff in OTF cutoffs."),
    attenuation: float = typer.Option(0.0, "--otf-attenuation", help="OTF attenuation strength (0 = off, e.g. 0.99)."),
    background: Optional[float] = typer.Option(None, "--background", help="Offset + background in ADU (default: auto)."),
    qc_table: Optional[Path] = typer.Option(None, "--qc-table", help="Write the estimated pattern parameters (CSV)."),
    modulation_map_path: Optional[Path] = typer.Option(None, "--modulation-map", help="Write the MCNR map (TIFF)."),
    widefield: Optional[Path] = typer.Option(None, "--widefield", help="Write the widefield equivalent (TIFF)."),
    psf_path: Optional[Path] = typer.Option(None, "--psf", help="Measured PSF TIFF (bead; resampled to half the raw pixel)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda (default: CUDA when present)."),
) -> None:
    """Reconstruct raw SIM frames (pattern estimated from the data, generalised Wiener filter)."""
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.sim.classical import SIMEstimationError, reconstruct_sim
    from fluorecon.core.io import read_tiff
    from fluorecon.tasks.sim.job import config_from_spec, psf_for_config

    frames, meta = _read(raw_path)
    order = pattern["order"]
    spec = _spec(**pattern, z_step_nm=z_step_nm, excitation=excitation, wiener=wiener, apodization_cutoff=apodization, otf_attenuation=attenuation, background=background)
    try:
        config = config_from_spec(frames, meta, spec)
        psf = psf_for_config(*read_tiff(psf_path), config) if psf_path is not None else None
        result = reconstruct_sim(frames, config, order=order, psf=psf, wiener=wiener, apodization_cutoff=apodization,
                                 otf_attenuation=attenuation, background=background, device=device)
    except SIMEstimationError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="RAW") from None
    px_um = config.pixel_size_nm / 2000
    z_um = (config.z_step_nm / 1000) if config.z_step_nm else meta.z_step_um
    rows = result.qc_table()
    info = (f"fluorecon sim reconstruct\nsettings = {spec.model_dump_json()}\nbackground = {result.background:.6g}\n"
            f"sim_params = {json.dumps(rows)}")
    axes = "ZYX" if result.image.ndim == 3 else "YX"
    write_tiff(out_path, result.image, TiffMeta(axes=axes, pixel_size_um=px_um, z_step_um=z_um, unit="micron"), info=info)
    raw_meta = TiffMeta(axes=axes, pixel_size_um=config.pixel_size_nm / 1000, z_step_um=z_um, unit="micron")
    if modulation_map_path is not None:
        write_tiff(modulation_map_path, result.modulation_map, raw_meta, info=info + "\nmap = MCNR")
    if widefield is not None:
        write_tiff(widefield, result.widefield, raw_meta, info=info + "\nmap = widefield")
    if qc_table is not None:
        result.qc_csv(qc_table)
    _print_table(rows)


@sim_app.command("estimate")
@_pattern_options(phases_help="Phases per angle.", mode_help="2d | 3d.", pixel_help="Raw pixel, nm (default: the TIFF's).",
                  spacing_help="Expected line spacing, nm.")
def estimate_command(
    raw_path: Path = typer.Argument(..., help="Raw SIM frames TIFF."),
    pattern: dict = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Estimate and print the illumination pattern (angle, line spacing, phase, modulation) per angle."""
    from fluorecon.tasks.sim.classical import SIMEstimationError, estimate_pattern, modulation_map
    from fluorecon.tasks.sim.job import config_from_spec

    frames, meta = _read(raw_path)
    order = pattern["order"]
    spec = _spec(**pattern, z_step_nm=None, excitation=488.0)
    try:
        config = config_from_spec(frames, meta, spec)
        params = estimate_pattern(frames, config, order=order)
        _, mcnr = modulation_map(frames, config, order=order)
    except SIMEstimationError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="RAW") from None
    rows = [{**p.as_dict(), "angle_index": p.angle_index + 1, "mcnr_mean": float(mcnr[i])} for i, p in enumerate(params)]
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        _print_table(rows)


def register(app: typer.Typer) -> None:
    from fluorecon.commands import subgroup
    from fluorecon.tasks.sim import cli_train

    app.add_typer(sim_app, name="sim")
    cli_learned.register(app)
    cli_train.register(app)
    # the same command as `fluorecon sim simulate`, beside the other tasks' (issue 16)
    subgroup(app, "simulate", "Simulate training data for a task.").command("sim")(simulate_command)
