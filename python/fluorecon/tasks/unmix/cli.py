"""`fluorecon unmix IN.tif OUT.tif`: spectral unmixing / bleed-through correction of a
multichannel (lambda-stack) TIFF, one output channel per label, optional residual map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

DEFAULT_MODEL = Path(__file__).resolve().parents[4] / "models" / "unmix_4label.onnx"


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
    background: Optional[str] = typer.Option(None, "--background", help="Camera offset (+ background) in ADU, "
                                             "subtracted first: one value for every channel, or one per channel, "
                                             "comma separated (e.g. a background ROI's spectrum)."),
    gain: float = typer.Option(1.0, "--gain", help="ADU per photo-electron (residual map)."),
    read_noise: float = typer.Option(0.0, "--read-noise", help="Read noise in ADU (residual map)."),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX unmix model (--method learned); default: the shipped one."),
    residual: Optional[Path] = typer.Option(None, "--residual", help="Also write the standardised residual map (TIFF)."),
    spectra_out: Optional[Path] = typer.Option(None, "--spectra-out", help="Write the spectra used/found as JSON."),
) -> None:
    """Unmix a spectral image into one channel per label (NNLS, blind NMF or a learned network)."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
    from fluorecon.tasks.unmix.physics import Detector, mixing_matrix
    from fluorecon.tasks.unmix import classical as U

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
    subtract = 0.0
    if background is not None:
        values = _parse_floats(background, "--background")
        if len(values) == 1:
            subtract = float(values[0])
        elif len(values) != n_channels:
            raise typer.BadParameter(f"{len(values)} values for {n_channels} channels; give one for every channel "
                                     "or one per channel.", param_hint="--background")
        else:
            subtract = np.asarray(values, np.float32)  # as UnmixSpec.background on the server
    try:
        results, residuals, found = U.unmix_blocks(blocks, method=method, mixing=mixing, blind=blind, offset=subtract,
                                                   model=model, residual=residual is not None, gain=gain,
                                                   read_noise=read_noise)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="IN") from None
    used = found if method == "nmf" else mixing
    out, out_axes = imagej_order(np.stack(results).reshape(loop_shape + results[0].shape), axes)
    out_meta = TiffMeta(axes=out_axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
                        frame_interval_s=meta.frame_interval_s)
    info = (f"fluorecon {__version__} unmix method={method} labels={','.join(labels)} background={background or 0}"
            + (f" model={Path(model).name}" if method == "learned" else ""))
    write_tiff(out_path, out.astype(np.float32), out_meta, info=info)
    if residual is not None:
        write_tiff(residual, imagej_order(np.stack(residuals).reshape(loop_shape + residuals[0].shape), axes)[0], out_meta,
                   info=info + " residual=(y-offset-Mx)/sqrt(var)")
    if spectra_out is not None:
        spectra_out.write_text(json.dumps({"labels": labels, "mixing": np.asarray(used).tolist()}, indent=1))
    typer.echo(f"{out_path}: {len(labels)} label(s) by {method}")


def _parse_floats(text: str, hint: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"got {text!r}; give comma-separated numbers.", param_hint=hint) from None


def phasor_command(
    image_path: Path = typer.Argument(..., help="Lambda-stack TIFF (ImageJ hyperstack with a C axis of ≥ 3 channels)."),
    plot_path: Path = typer.Argument(..., help="Phasor plot image (float32 BINS × BINS, S upwards) to write."),
    harmonic: int = typer.Option(1, "--harmonic", min=1, help="Harmonic n of the phasor transform."),
    offset: float = typer.Option(0.0, "--background", help="Camera offset (+ background) in ADU, subtracted first."),
    threshold: float = typer.Option(0.0, "--threshold", help="Leave out pixels whose mean intensity (above offset) "
                                    "is at or below this, from the plot and the mask."),
    bins: int = typer.Option(256, "--bins", min=8, max=4096, help="Plot size in pixels (G, S ∈ [−1, 1])."),
    log: bool = typer.Option(True, "--log/--linear", help="Show counts as log(1 + count)."),
    circle: bool = typer.Option(True, "--circle/--no-circle", help="Draw the unit circle."),
    roi: Optional[str] = typer.Option(None, "--roi", help="Phasor-space polygon 'g,s;g,s;g,s;…' (≥ 3 vertices) or "
                                      "circle 'g,s,r': select the pixels whose phasor falls inside."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Write the selection as a mask TIFF (uint8, 255 = "
                                        "selected; the image's axes without C). Needs --roi."),
    maps: Optional[Path] = typer.Option(None, "--maps", help="Also write G, S and the intensity as 3 channels (float32)."),
) -> None:
    """Spectral phasor (Cutrale et al. 2017): the phasor plot as an image, and the pixels whose phasor
    falls in a phasor-space ROI as a mask. Fiji's *Spectral phasor…* computes the same."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
    from fluorecon.tasks.unmix import classical as U

    if (mask is None) != (roi is None):
        raise typer.BadParameter("give --roi and --mask together.", param_hint="--mask")
    image, meta = read_tiff(image_path)
    work, axes = _channels_first(np.asarray(image, np.float32), meta.axes, image_path)
    c = axes.index("C")
    # Every T/Z/Y/X position is one pixel of the phasor: channels first, the rest as they are.
    stack = np.moveaxis(work, c, 0)
    rest = axes.replace("C", "")
    try:
        g, s, intensity = U.phasor(stack, harmonic=harmonic, offset=offset)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="IN") from None
    settings = f"harmonic={harmonic} offset={offset:g} threshold={threshold:g} bins={bins}"
    info = f"fluorecon {__version__} phasor {settings} source={image_path.name}"
    plot = U.phasor_plot(g, s, intensity=intensity, threshold=threshold, bins=bins, log=log, circle=circle)
    write_tiff(plot_path, plot, TiffMeta(axes="YX"), info=info + (" log" if log else " linear"))
    like = TiffMeta(axes=rest, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
                    frame_interval_s=meta.frame_interval_s)
    if maps is not None:
        out, out_axes = imagej_order(np.stack([g, s, intensity]), "C" + rest)
        write_tiff(maps, np.ascontiguousarray(out, np.float32), TiffMeta(
            axes=out_axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
            frame_interval_s=meta.frame_interval_s), info=info + "\nchannels = G,S,intensity")
    if roi is not None:
        values = [_parse_floats(v, "--roi") for v in roi.split(";") if v.strip()]
        if len(values) == 1 and len(values[0]) == 3:
            region = ((values[0][0], values[0][1]), values[0][2])
        elif len(values) >= 3 and all(len(v) == 2 for v in values):
            region = [tuple(v) for v in values]
        else:
            raise typer.BadParameter(f"got {roi!r}; give 'g,s,r' (circle) or ≥ 3 vertices 'g,s;g,s;g,s'.",
                                     param_hint="--roi")
        try:
            selected = U.phasor_mask(g, s, region) & (intensity > threshold)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--roi") from None
        write_tiff(mask, (selected * 255).astype(np.uint8), like, info=info + f" roi={roi}")
        typer.echo(f"{mask}: {int(selected.sum())} of {selected.size} pixels selected")
    typer.echo(f"{plot_path}: phasor plot {bins}x{bins} ({settings})")


def register(app: typer.Typer) -> None:
    from fluorecon.tasks.unmix import cli_train

    app.command("unmix")(unmix_command)
    cli_train.register(app)
    app.command("phasor")(phasor_command)
