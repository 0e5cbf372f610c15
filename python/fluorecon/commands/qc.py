"""`fluorecon qc INPUT RESULT --out DIR`: check a result against the measurement it came from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def qc_command(
    image: Path = typer.Argument(..., help="The raw input TIFF the result was made from (camera units)."),
    result: Path = typer.Argument(..., help="The result TIFF (input's intensity units; same size, or a finer grid "
                                  "when --model is an upsampling/isotropic model)."),
    out: Path = typer.Option(..., "--out", help="Folder for consistency.tif, consistency_local.tif, "
                             "uncertainty.tif (when given), disagreement.tif and invented.tif (--model a denoiser) and qc.json."),
    model: Optional[Path] = typer.Option(None, "--model", help="The ONNX model that made the result: enables the "
                                         "out-of-distribution checks against its training statistics."),
    uncertainty: Optional[Path] = typer.Option(None, "--uncertainty", help="Per-pixel uncertainty TIFF to summarise "
                                               "(from `fluorecon predict --uncertainty`)."),
) -> None:
    """Data-consistency map, whiteness figures and out-of-distribution warnings for a denoised image.

    The standardised residual (input − result)/sqrt(a·result + b), with the Poisson–Gaussian a, b
    estimated from the input, must look like white noise of std 1; local deviations mark removed
    or invented structure.

    Example: fluorecon qc noisy.tif denoised.tif --model models/care_denoise_2d.onnx --out qc/
    """
    from fluorecon.core.io import read_tiff
    from fluorecon.core.modelcard import ModelCardError, read_card
    from fluorecon.qc.report import check_result

    try:
        data, meta = read_tiff(image)
        res, _ = read_tiff(result)
        unc = read_tiff(uncertainty)[0] if uncertainty is not None else None
        card = read_card(model) if model is not None else None
        if meta.axes not in ("YX", "ZYX"):
            raise ValueError(f"{image.name} has axes {meta.axes}; fluorecon qc checks one YX plane or ZYX stack "
                             "(split channels and time points first).")
        pixel_nm = meta.pixel_size_um * 1000 if meta.pixel_size_um else None
        if res.shape != data.shape and card is not None and card.qc.get("forward_model"):
            # a result on a finer grid (upsampling, isotropic): the same check as `predict --qc`, through the
            # card's forward model back onto the input's grid
            from fluorecon.tasks.upsample.learned import check_superres

            report = check_superres(data, res, card=card, pixel_size_nm=pixel_nm, out_dir=out, meta=meta)
        else:
            if res.shape != data.shape and card is None:
                raise ValueError(f"The result has shape {res.shape}, the input {data.shape}; for a result on a "
                                 "finer grid give the model that made it (--model) so that its forward model maps "
                                 "the result back onto the input's grid.")
            report = check_result(data, res, card=card, uncertainty=unc, pixel_size_nm=pixel_nm, out_dir=out,
                                  meta=meta)
            if card is not None and card.task == "denoise":  # does its texture survive re-noising?
                from fluorecon.infer import get_predictor
                from fluorecon.qc.disagreement import add_for_denoiser

                if add_for_denoiser(report, get_predictor(model), data, res, axes=meta.axes):
                    report.write(out, meta)
    except (ModelCardError, ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    s = report.summary
    typer.echo(f"Noise model: var = {s['noise_model']['a']:.4g}·mean + {s['noise_model']['b']:.4g}")
    typer.echo(f"Standardised residual: mean {s['residual_mean']:.3f}, std {s['residual_std']:.3f} (white noise: 0, 1)")
    typer.echo("Lag-1 autocorrelation: " + ", ".join(f"{v:.3f}" for v in s["lag1_autocorrelation"]))
    typer.echo(f"Local deviation: max |z| {s['local_max_abs']:.2f}, flagged {100 * s['local_flagged_fraction']:.2f}%")
    for w in report.warnings:
        typer.echo(f"Warning: {w}")
    typer.echo(f"Wrote {out}/consistency.tif and {out}/qc.json.")


def register(app: typer.Typer) -> None:
    app.command("qc")(qc_command)
