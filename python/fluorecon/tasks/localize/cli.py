"""`fluorecon localize STACK.tif OUT.csv`: single-molecule localisation to a ThunderSTORM CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer


def _frames(image: np.ndarray, axes: str, path: Path) -> np.ndarray:
    try:
        from fluorecon.tasks.localize.learned import time_series

        return time_series(image, axes, path.name)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="STACK") from None


def localize_command(
    stack: Path = typer.Argument(..., help="Time stack (TIFF, camera ADU)."),
    out_csv: Path = typer.Argument(..., help="Output ThunderSTORM CSV (written atomically)."),
    method: str = typer.Option("mle", "--method", help="mle | deepstorm | decode."),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX model (deepstorm/decode); default: the shipped one."),
    render: Optional[Path] = typer.Option(None, "--render", help="Also write a Gaussian rendering (TIFF)."),
    render_pixel_nm: float = typer.Option(10.0, "--render-pixel-nm", help="Pixel size of the rendering."),
    pixel_nm: Optional[float] = typer.Option(None, "--pixel-size-nm",
                                            help="Camera pixel size, nm; default: the TIFF's calibration."),
    camera_offset: float = typer.Option(100.0, "--background", help="Camera offset (+ uniform background) in ADU."),
    camera_gain: float = typer.Option(1.0, "--camera-gain", help="ADU per electron (after EM gain)."),
    em_gain: Optional[float] = typer.Option(None, "--em-gain", help="EMCCD multiplication gain (omit for sCMOS)."),
    qe: float = typer.Option(1.0, "--qe", help="Quantum efficiency."),
    read_noise: float = typer.Option(1.5, "--read-noise", help="Read noise in electrons."),
    sigma_nm: float = typer.Option(130.0, "--sigma-nm", help="PSF σ in nm (MLE)."),
    astigmatism: Optional[str] = typer.Option(None, "--astigmatism", help="3D MLE calibration 'SIGMA0_NM,C_NM,D_NM'."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Detection threshold (default: 5 for MLE, the card's for networks)."),
    qc_dir: Optional[Path] = typer.Option(None, "--qc", help="Also write qc.json here (networks: the self-checks "
                                          "against the model card and the MLE fit, with their warnings)."),
) -> None:
    """Localise single molecules in a time stack; write a ThunderSTORM CSV (and a rendering)."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, read_tiff, require_pixel_size_nm, write_tiff
    from fluorecon.tasks.localize.physics import AstigmaticPSF, render_localizations
    from fluorecon.tasks.localize.learned import DEFAULT_MODELS, LocalizeConfig, localize_checked, write_thunderstorm_csv
    from fluorecon.core.progress import progress_bar

    if method not in ("mle", "deepstorm", "decode"):
        raise typer.BadParameter(f"got {method!r}; use mle, deepstorm or decode.", param_hint="--method")
    image, meta = read_tiff(stack)
    frames = _frames(image, meta.axes, stack)
    try:  # positions in nm need the pixel size: never a guessed one
        pixel_nm = require_pixel_size_nm(meta, pixel_nm, what="localization (positions in nm)", name=stack.name)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    astig = None
    if astigmatism:
        try:
            s0, c, d = (float(v) for v in astigmatism.split(","))
            astig = AstigmaticPSF(sigma0_nm=s0, focal_offset_nm=c, depth_nm=d)
        except ValueError:
            raise typer.BadParameter(f"got {astigmatism!r}; give three numbers 'SIGMA0_NM,C_NM,D_NM', e.g. 120,200,400.",
                                     param_hint="--astigmatism") from None
    config = LocalizeConfig(method=method, model=str(model) if model else None, pixel_size_nm=pixel_nm,
                            camera_offset=camera_offset, camera_gain=camera_gain, em_gain=em_gain, qe=qe,
                            read_noise_e=read_noise, sigma_nm=sigma_nm, astigmatism=astig, threshold=threshold)
    bar = progress_bar(total=len(frames), desc=f"localize ({method})", unit="frame")

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        table, qc = localize_checked(frames, config, progress=progress)
    except (ValueError, FileNotFoundError) as err:
        bar.close()
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    bar.close()
    write_thunderstorm_csv(out_csv, table)
    typer.echo(f"{len(table)} localisations in {len(frames)} frames -> {out_csv}")
    for warning in qc["warnings"]:
        typer.echo(f"Warning: {warning}")
    if qc_dir is not None:
        from fluorecon.core.atomic import atomic_path

        qc_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(qc_dir / "qc.json", suffix=".json.part") as tmp:
            Path(tmp).write_text(json.dumps({"task": "localize", "method": method, **qc}, indent=2), encoding="utf-8")
        typer.echo(f"self-checks -> {qc_dir / 'qc.json'}")
    if render is not None:
        model_path = Path(config.model) if config.model else (DEFAULT_MODELS.get(method) if method != "mle" else None)
        info = {"fluorecon.version": __version__, "task": "localize", "method": method,
                "model": model_path.name if model_path else "", "settings": config.model_dump(mode="json"),
                "localizations": len(table), "render_pixel_nm": render_pixel_nm, "qc": qc}
        if model_path is not None:
            from fluorecon.infer import sha256_of

            info["model_sha256"] = sha256_of(model_path)
        shape_nm = (frames.shape[1] * pixel_nm, frames.shape[2] * pixel_nm)
        img = render_localizations(table, shape_nm=shape_nm, pixel_size_nm=render_pixel_nm)
        write_tiff(render, img, TiffMeta(axes="YX", pixel_size_um=render_pixel_nm / 1000.0),
                   info=json.dumps(info, indent=1))
        typer.echo(f"rendering {img.shape[1]}×{img.shape[0]} px at {render_pixel_nm:g} nm -> {render}")


def register(app: typer.Typer) -> None:
    from fluorecon.tasks.localize import cli_train

    app.command("localize")(localize_command)
    cli_train.register(app)
