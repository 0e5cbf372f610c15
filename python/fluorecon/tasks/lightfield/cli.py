"""`fluorecon lightfield calibrate|simulate|reconstruct`: light-field microscopy from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from fluorecon.tasks.lightfield import cli_learned

app = typer.Typer(name="lightfield", help="Light-field microscopy: calibrate the lenslet grid, simulate, reconstruct.",
                  no_args_is_help=True)


def _fail(err: Exception | str) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(2)


def _z_range(text: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if text is None:
        return default
    try:
        low, high, step = (float(v) for v in text.split(":"))
    except ValueError:
        raise typer.BadParameter(f"got {text!r}; write MIN:MAX:STEP in µm, e.g. -16:16:4.",
                                 param_hint="--z-range") from None
    return low, high, step


def _optics(optics_json: Path | None, z_range: str | None, **values):
    """Optics from a JSON file (``--optics``) overridden by the options given on the command line."""
    from pydantic import ValidationError

    from fluorecon.tasks.lightfield.physics import LightFieldOptics

    base = json.loads(optics_json.read_text()) if optics_json is not None else {}
    base.update({k: v for k, v in values.items() if v is not None})
    if z_range is not None:
        base["z_min_um"], base["z_max_um"], base["z_step_um"] = _z_range(z_range, (0, 0, 1))
    try:
        return LightFieldOptics.model_validate(base)
    except ValidationError as err:
        _fail(err)


@app.command("calibrate")
def calibrate_command(
    white: Path = typer.Argument(..., help="White / radiometry image of the light-field camera (TIFF, one plane or a "
                                 "stack that is averaged)."),
    out: Path = typer.Argument(..., help="Calibration JSON to write (lenslet pitch, rotation, offset, nnum)."),
    nnum: Optional[int] = typer.Option(None, "--nnum", help="Pixels per lenslet after rectification (odd); default "
                                       "the odd number nearest the measured pitch."),
    pitch_px: Optional[float] = typer.Option(None, "--pitch-px", help="Expected pitch in pixels (guides the search)."),
) -> None:
    """Find the lenslet grid (pitch, rotation, offset) in a white image.

    Example: fluorecon lightfield calibrate white.tif calibration.json
    """
    from fluorecon.core.atomic import atomic_path
    from fluorecon.core.io import TiffError, read_tiff
    from fluorecon.tasks.lightfield.classical import calibrate

    try:
        image, meta = read_tiff(white)
        image = np.asarray(image, np.float32)
        if image.ndim > 2:
            image = image.reshape(-1, *image.shape[-2:]).mean(axis=0)
        grid = calibrate(image, nnum=nnum, pitch_px=pitch_px)
    except (TiffError, ValueError) as err:
        _fail(err)
    with atomic_path(out, suffix=".json.part") as tmp:
        Path(tmp).write_text(grid.model_dump_json(indent=1))
    typer.echo(f"{out}: pitch {grid.pitch_px:.3f} px, rotation {grid.rotation_deg:.3f}°, "
               f"{grid.n_lenslets[0]} × {grid.n_lenslets[1]} lenslets, nnum {grid.nnum}")


@app.command("simulate")
def simulate_command(
    out_dir: Path = typer.Argument(..., help="Folder for lightfield.tif, white.tif, truth.tif, beads.csv, grid.json, "
                                   "optics.json."),
    n_lenslets: int = typer.Option(9, "--n-lenslets", help="Lenslets per axis."),
    nnum: int = typer.Option(11, "--nnum", help="Pixels per lenslet (odd)."),
    beads: int = typer.Option(8, "--beads", help="Number of beads."),
    photons: float = typer.Option(300.0, "--photons", help="Photons at the brightest light-field pixel."),
    z_range: Optional[str] = typer.Option(None, "--z-range", help="MIN:MAX:STEP in µm (default -16:16:4)."),
    raw_pitch_px: Optional[float] = typer.Option(10.6, "--raw-pitch-px", help="Write the light field as a raw camera "
                                                 "image with this lenslet pitch in pixels (0: write it rectified)."),
    raw_rotation_deg: float = typer.Option(0.4, "--raw-rotation-deg",
                                           help="Rotation of the raw lenslet grid, degrees."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    optics_json: Optional[Path] = typer.Option(None, "--optics", help="Optics JSON (LightFieldOptics fields)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Simulate beads in a volume and their light field (+ a white image and the true grid).

    Example: fluorecon lightfield simulate sim/ --n-lenslets 9 --nnum 11 --beads 6
    """
    import torch

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig
    from fluorecon.tasks.lightfield.classical import LensletGrid, bead_volume, simulate, unrectify

    optics = _optics(optics_json, z_range, nnum=nnum)
    dev = None if device == "auto" else device
    physics = LightField.from_config(LightFieldConfig(n_lenslets=(n_lenslets, n_lenslets), optics=optics), device=dev)
    volume, positions = bead_volume(physics.image_shape, n_beads=beads, seed=seed, margin_px=optics.nnum,
                                    min_distance_px=2 * optics.nnum)
    truth, lf, _ = simulate(physics, volume=volume, photons=photons, seed=seed)
    white = physics.A(torch.ones(physics.image_shape)).cpu().numpy()
    white *= 1000.0 / max(float(white.max()), 1e-12)
    out_dir.mkdir(parents=True, exist_ok=True)
    if raw_pitch_px:
        # Lattice starts 0.3 pitch in, so exactly n_lenslets whole cells fit the raw frame.
        side = int(np.floor((n_lenslets + 0.6) * raw_pitch_px))
        origin = 0.3 * raw_pitch_px + raw_pitch_px / 2 - 0.5
        grid = LensletGrid(pitch_px=raw_pitch_px, rotation_deg=raw_rotation_deg, origin_yx_px=(origin, origin),
                           n_lenslets=(n_lenslets, n_lenslets), nnum=optics.nnum, image_shape=(side, side))
        lf, white = unrectify(lf, grid), unrectify(white, grid)
        (out_dir / "grid.json").write_text(grid.model_dump_json(indent=1))
    pixel = optics.voxel_size_um
    raw_pixel = optics.lenslet_pitch_um / (raw_pitch_px or optics.nnum) / optics.magnification
    info = (f"fluorecon lightfield simulate seed={seed} beads={beads} photons={photons}\n"
            f"optics = {optics.model_dump_json()}")
    raw_meta = TiffMeta(axes="YX", pixel_size_um=raw_pixel)
    write_tiff(out_dir / "lightfield.tif", lf.astype(np.float32), raw_meta, info=info)
    write_tiff(out_dir / "white.tif", white.astype(np.float32), TiffMeta(axes="YX", pixel_size_um=raw_pixel), info=info)
    write_tiff(out_dir / "truth.tif", truth, TiffMeta(axes="ZYX", pixel_size_um=pixel, z_step_um=optics.z_step_um),
               info=info)
    (out_dir / "optics.json").write_text(optics.model_dump_json(indent=1))
    z_um = optics.z_um
    lines = ["z_um,y_um,x_um,z_index,y_px,x_px"] + [
        f"{z_um[int(z)]:.4f},{y * pixel:.4f},{x * pixel:.4f},{int(z)},{y:.3f},{x:.3f}" for z, y, x in positions]
    (out_dir / "beads.csv").write_text("\n".join(lines) + "\n")
    typer.echo(f"{out_dir}: {beads} beads, light field {lf.shape}, volume {truth.shape}")


@app.command("reconstruct")
def reconstruct_command(
    image_path: Path = typer.Argument(..., help="Light-field image (TIFF, raw with --calibration, else rectified)."),
    out: Path = typer.Argument(..., help="Output z-stack TIFF (float32; voxel size and z step in its calibration)."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Calibration JSON from `lightfield "
                                               "calibrate`; without it the image must already be rectified."),
    num_iter: int = typer.Option(8, "--num-iter", help="Richardson–Lucy iterations (0: back-projection only)."),
    z_range: Optional[str] = typer.Option(None, "--z-range", help="MIN:MAX:STEP in µm of the reconstructed planes."),
    optics_json: Optional[Path] = typer.Option(None, "--optics", help="Optics JSON (LightFieldOptics fields)."),
    magnification: Optional[float] = typer.Option(None, "--magnification", help="Objective magnification."),
    na: Optional[float] = typer.Option(None, "--na", help="Objective numerical aperture."),
    n_immersion: Optional[float] = typer.Option(None, "--n-immersion", help="Immersion refractive index."),
    wavelength_nm: Optional[float] = typer.Option(None, "--wavelength-nm", help="Emission wavelength, nm."),
    pitch_um: Optional[float] = typer.Option(None, "--pitch-um", help="Microlens pitch, µm."),
    focal_um: Optional[float] = typer.Option(None, "--focal-um", help="Microlens focal length, µm."),
    nnum: Optional[int] = typer.Option(None, "--nnum", help="Pixels per lenslet of a rectified image (default: the "
                                       "calibration's, else 11)."),
    background: float = typer.Option(0.0, "--background", help="Camera offset + background to subtract."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    method: str = typer.Option("rl", "--method", help="rl (Richardson–Lucy; 0 iterations = back-projection) or "
                               "learned (a VCD-style ONNX model, --model)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Learned light-field model (.onnx) for "
                                         "--method learned; its card fixes the optics and z planes."),
    consistency: Optional[Path] = typer.Option(None, "--consistency", help="--method learned: also write the "
                                               "data-consistency map (re-projected volume vs light field, over σ)."),
    refine: int = typer.Option(0, "--refine", help="--method learned: Richardson–Lucy iterations started from the "
                               "network's volume (0 = network output as is)."),
) -> None:
    """Reconstruct a volume from a light field (Richardson–Lucy over the wave-optics projector, or a
    learned view→volume network).

    Example: fluorecon lightfield reconstruct lf.tif volume.tif --calibration calibration.json --num-iter 8
    """
    from pydantic import ValidationError

    if method not in ("rl", "learned"):
        _fail(f"--method {method!r}: use rl or learned.")
    if method == "learned":
        if model is None:
            _fail("--method learned needs --model PATH.onnx (e.g. models/lightfield_vcd.onnx).")
        from fluorecon.tasks.lightfield.learned import predict_to_file

        try:
            typer.echo(predict_to_file(image_path, out, model=model, calibration=calibration, device=device,
                                       consistency=consistency, refine=refine))
        except (OSError, ValueError) as err:
            _fail(err)
        return

    from fluorecon.core.io import TiffError, read_tiff, write_tiff
    from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig
    from fluorecon.tasks.lightfield.classical import (LensletGrid, LightFieldSpec, backproject, check_job,
                                            richardson_lucy_lightfield, rectify)

    grid = None
    if calibration is not None:
        try:
            grid = LensletGrid.model_validate_json(calibration.read_text())
        except (OSError, ValidationError) as err:
            _fail(f"--calibration {calibration}: {err}")
    optics = _optics(optics_json, z_range, magnification=magnification, na=na, n_immersion=n_immersion,
                     wavelength_nm=wavelength_nm, lenslet_pitch_um=pitch_um, lenslet_focal_um=focal_um,
                     nnum=nnum or (grid.nnum if grid is not None else None))
    try:
        image, meta = read_tiff(image_path)
        spec = LightFieldSpec(num_iter=max(num_iter, 1), optics=optics, calibration=grid, background=background)
        n_lenslets = check_job(np.asarray(image), meta.axes, spec)
        lf = rectify(image, grid) if grid is not None else np.asarray(image, np.float32)
        physics = LightField.from_config(LightFieldConfig(n_lenslets=n_lenslets, optics=optics),
                                         device=None if device == "auto" else device)
        if num_iter == 0:
            volume = backproject(lf, physics, background=background)
        else:
            from fluorecon.core.progress import progress_callback

            volume = richardson_lucy_lightfield(lf, physics, num_iter=num_iter, background=background,
                                                progress=progress_callback("Richardson–Lucy", unit=" iterations"))
    except (TiffError, ValueError) as err:
        _fail(err)
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta

    info = (f"fluorecon {__version__} lightfield reconstruct method={'rl' if num_iter else 'backproject'} "
            f"num_iter={num_iter}\noptics = {optics.model_dump_json()}\n"
            f"z_um = {json.dumps(np.round(optics.z_um, 6).tolist())}\ndevice = {physics.device}")
    write_tiff(out, volume, TiffMeta(axes="ZYX", pixel_size_um=optics.voxel_size_um, z_step_um=optics.z_step_um),
               info=info)
    typer.echo(f"{out}: {volume.shape[0]} planes {optics.z_min_um:g}…{optics.z_max_um:g} µm, "
               f"voxel {optics.voxel_size_um:.4f} µm, z step {optics.z_step_um:g} µm")


def register(root: typer.Typer) -> None:
    from fluorecon.commands import subgroup

    root.add_typer(app, name="lightfield")
    cli_learned.register(root)
    # the same command as `fluorecon simulate lightfield`, beside the other tasks' (issue 16)
    subgroup(root, "simulate", "Simulate training data for a task.").command("lightfield")(simulate_command)
