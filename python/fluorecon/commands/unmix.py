"""`fluorecon unmix IN.tif OUT.tif`: spectral unmixing / bleed-through correction of a
multichannel (lambda-stack) TIFF, one output channel per label, optional residual map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "unmix_4label.onnx"


def _channels_first(image: np.ndarray, axes: str, path: Path) -> tuple[np.ndarray, str]:
    """Move C right before the spatial axes: (..., C, [Z,] Y, X); refuse images without channels."""
    if "C" not in axes or image.shape[axes.index("C")] < 2:
        raise typer.BadParameter(f"{path.name} has axes {axes!r} and no channel axis with 2 or more channels; "
                                 "unmixing needs a multichannel or lambda-stack image (Image › Hyperstacks).",
                                 param_hint="IN")
    spatial = [a for a in "ZYX" if a in axes]
    loop = [a for a in axes if a not in spatial and a != "C"]
    order = [axes.index(a) for a in loop] + [axes.index("C")] + [axes.index(a) for a in spatial]
    return np.transpose(image, order), "".join(loop) + "C" + "".join(spatial)


def imagej_order(image: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Transpose to ImageJ's TZCYX order (what a hyperstack TIFF must hold)."""
    target = "".join(a for a in "TZCYX" if a in axes)
    return np.transpose(image, [axes.index(a) for a in target]), target


def _parse_bands(text: str) -> list[tuple[float, float]]:
    try:
        return [tuple(float(v) for v in band.split("-")) for band in text.split(",")]  # type: ignore[misc]
    except ValueError:
        raise typer.BadParameter(f"got {text!r}; write bands as LOW-HIGH pairs in nm, e.g. 430-480,500-550.",
                                 param_hint="--bands") from None


def unmix_command(
    image_path: Path = typer.Argument(..., help="Multichannel / lambda-stack TIFF (ImageJ hyperstack with a C axis)."),
    out_path: Path = typer.Argument(..., help="Output TIFF: one channel per label (float32, written atomically)."),
    spectra: Optional[str] = typer.Option(None, "--spectra", help="Comma-separated built-in spectra, e.g. EGFP,mCherry."),
    blind: Optional[int] = typer.Option(None, "--blind", help="Unknown spectra: number of labels for blind NMF."),
    method: str = typer.Option("nnls", "--method", help="nnls | nmf | learned."),
    bands: Optional[str] = typer.Option(None, "--bands", help="Detector bands in nm per channel, LOW-HIGH,... "
                                        "(default: --lambda-start/--lambda-stop split evenly)."),
    lambda_start: float = typer.Option(430.0, "--lambda-start", help="Lambda stack: first band's lower edge, nm."),
    lambda_stop: float = typer.Option(710.0, "--lambda-stop", help="Lambda stack: last band's upper edge, nm."),
    mixing_json: Optional[Path] = typer.Option(None, "--mixing", help="JSON (channels × labels) mixing / bleed-through matrix."),
    offset: float = typer.Option(0.0, "--offset", help="Camera offset (+ background) in ADU, subtracted first."),
    gain: float = typer.Option(1.0, "--gain", help="ADU per photo-electron (residual map)."),
    read_noise: float = typer.Option(0.0, "--read-noise", help="Read noise in ADU (residual map)."),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX unmix model (--method learned); default: the shipped one."),
    residual: Optional[Path] = typer.Option(None, "--residual", help="Also write the standardised residual map (TIFF)."),
    spectra_out: Optional[Path] = typer.Option(None, "--spectra-out", help="Write the spectra used/found as JSON."),
) -> None:
    """Unmix a spectral image into one channel per label (NNLS, blind NMF or a learned network)."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
    from fluorecon.imaging.spectra import Detector, mixing_matrix
    from fluorecon.tasks import unmix as U

    if method not in ("nnls", "nmf", "learned"):
        raise typer.BadParameter(f"got {method!r}; use nnls, nmf or learned.", param_hint="--method")
    if blind is not None and method != "nmf":
        method = "nmf"
    sources = [spectra is not None, blind is not None, mixing_json is not None]
    if method != "learned" and sum(sources) != 1:
        raise typer.BadParameter("give exactly one of --spectra NAMES, --blind N or --mixing M.json "
                                 "(or --method learned).", param_hint="--spectra")
    image, meta = read_tiff(image_path)
    work, axes = _channels_first(np.asarray(image, np.float32), meta.axes, image_path)
    n_channels = work.shape[axes.index("C")]
    labels: list[str]
    mixing = None
    if spectra is not None:
        labels = [s.strip() for s in spectra.split(",") if s.strip()]
        detector = Detector(bands_nm=_parse_bands(bands)) if bands else Detector.lambda_stack(
            start_nm=lambda_start, stop_nm=lambda_stop, channels=n_channels)
        if len(detector.bands_nm) != n_channels:
            raise typer.BadParameter(f"{len(detector.bands_nm)} bands for {n_channels} channels.", param_hint="--bands")
        try:
            mixing = mixing_matrix(labels, detector)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--spectra") from None
    elif mixing_json is not None:
        mixing = np.asarray(json.loads(mixing_json.read_text()), np.float32)
        labels = [f"label{i + 1}" for i in range(mixing.shape[1])] if mixing.ndim == 2 else []
    elif blind is not None:
        labels = [f"component{i + 1}" for i in range(blind)]
    if method == "learned":
        from fluorecon.core.modelcard import read_card

        model = model or DEFAULT_MODEL
        card = read_card(model)
        labels = card.train.get("labels", "").split(",")
        mixing = np.array([[float(v) for v in row.split(",")] for row in card.train["mixing"].split(";")], np.float32)
    loop_shape = work.shape[: axes.index("C")]
    blocks = work.reshape((-1,) + work.shape[axes.index("C"):])
    try:
        results, residuals, found = U.unmix_blocks(blocks, method=method, mixing=mixing, blind=blind, offset=offset,
                                                   model=model, residual=residual is not None, gain=gain,
                                                   read_noise=read_noise)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="IN") from None
    used = found if method == "nmf" else mixing
    out, out_axes = imagej_order(np.stack(results).reshape(loop_shape + results[0].shape), axes)
    out_meta = TiffMeta(axes=out_axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
                        frame_interval_s=meta.frame_interval_s)
    info = (f"fluorecon {__version__} unmix method={method} labels={','.join(labels)} offset={offset}"
            + (f" model={Path(model).name}" if method == "learned" else ""))
    write_tiff(out_path, out.astype(np.float32), out_meta, info=info)
    if residual is not None:
        write_tiff(residual, imagej_order(np.stack(residuals).reshape(loop_shape + residuals[0].shape), axes)[0], out_meta,
                   info=info + " residual=(y-offset-Mx)/sqrt(var)")
    if spectra_out is not None:
        spectra_out.write_text(json.dumps({"labels": labels, "mixing": np.asarray(used).tolist()}, indent=1))
    typer.echo(f"{out_path}: {len(labels)} label(s) by {method}")


def register(app: typer.Typer) -> None:
    app.command("unmix")(unmix_command)
