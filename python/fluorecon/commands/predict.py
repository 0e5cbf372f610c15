"""`fluorecon predict MODEL IN OUT`: run any fluorecon ONNX model on a TIFF (tiled, calibrated output)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def describe(predictor, settings: dict) -> str:
    """Provenance text for the output's ImageJ Info / TIFF description."""
    from fluorecon import __version__

    lines = [
        f"fluorecon.version: {__version__}",
        f"model.name: {predictor.card.name}",
        f"model.file: {predictor.path.name}",
        f"model.sha256: {predictor.sha256}",
        f"model.task: {predictor.card.task}",
        f"model.method: {predictor.card.method}",
        f"execution.provider: {predictor.provider}",
    ]
    lines += [f"setting.{k}: {v}" for k, v in settings.items()]
    return "\n".join(lines)


def predict_command(
    model: Path = typer.Argument(..., help="fluorecon ONNX model (its card says how to tile and normalize)."),
    image: Path = typer.Argument(..., help="Input TIFF (ImageJ hyperstack: any of T, Z, C, Y, X)."),
    output: Path = typer.Argument(..., help="Output TIFF (float32, same axes and calibration; written atomically)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile side in pixels (default: the card's tile.default). "
                                       "Smaller tiles use less memory; the result does not change."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for ONNX Runtime (default: all)."),
    device: str = typer.Option("auto", "--device", help="auto (GPU if onnxruntime-gpu sees one), cpu or cuda."),
    task: Optional[str] = typer.Option(None, "--task", help="Refuse models of another task, e.g. --task denoise."),
    scale_out: Optional[Path] = typer.Option(None, "--uncertainty", "--scale-out", help="Also write the per-pixel "
                                             "uncertainty as its own image (CSBDeep's `scale`): the Laplace scale "
                                             "(models with outputs = mean,scale) or, with --ensemble, the spread of "
                                             "the members; same axes and calibration as OUTPUT."),
    ensemble: Optional[str] = typer.Option(None, "--ensemble", help="More models of the same task, comma-separated: "
                                           "the output is the mean of all members, the uncertainty their spread."),
    qc_dir: Optional[Path] = typer.Option(None, "--qc", help="Write consistency.tif, uncertainty.tif and qc.json "
                                          "(data consistency, out-of-distribution warnings) to this folder."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="Run the tiles on this dask cluster "
                                                 "(tcp://host:8786); the output is written block by block."),
) -> None:
    """Apply a model to a TIFF. The output keeps the input's axes and calibration; its description
    records the model (name, sha256), fluorecon version, settings and the execution provider used.

    Example: fluorecon predict models/care_denoise_2d.onnx noisy.tif denoised.tif --tile 128
    """
    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.core.modelcard import ModelCardError
    from fluorecon.core.progress import progress_bar
    from fluorecon.infer import get_predictor

    from fluorecon.core.streaming import streams

    if not (ensemble or qc_dir or scale_out) and (dask_scheduler or streams(image, output)):
        _predict_streaming(model, image, output, tile=tile, threads=threads, device=device, task=task,
                           scheduler=dask_scheduler)
        return
    try:
        predictor = get_predictor(model, device=device, threads=threads)
        data, meta = read_tiff(image)
        in_meta = meta  # the QC maps live on the input's grid
        bar = progress_bar(desc="predict", unit="tile", leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        card = predictor.card
        if card.task == "isotropic" or any(s != 1 for s in card.scale):
            # Output grid differs from the input's: calibration / scale, or isotropic two-view fusion.
            from fluorecon.tasks.upsample.learned import predict_superres

            mean, scale, meta = predict_superres(predictor, data, meta, tile=tile, progress=progress, task=task)
        else:
            mean, scale = predictor.predict(data, axes=meta.axes, tile=tile, progress=progress, task=task,
                                            return_scale=True)
        bar.close()
        if ensemble:
            from fluorecon.qc.uncertainty import predict_ensemble

            members = [model] + [Path(m.strip()) for m in ensemble.split(",") if m.strip()]
            mean, scale = predict_ensemble(data, members, axes=meta.axes, tile=tile, threads=threads, device=device,
                                           task=task or card.task)
        if scale_out is not None and scale is None:
            raise ValueError(f"--scale-out: model '{predictor.card.name}' predicts no uncertainty (outputs = {predictor.card.outputs}).")
    except (ModelCardError, ValueError, FileNotFoundError) as err:  # InputError and TiffError are ValueErrors
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    settings = {"tile": tile or ",".join(map(str, predictor.card.tile_default)), "threads": threads or "default",
                "device": device, "input": image.name}
    info = describe(predictor, settings)
    write_tiff(output, mean.astype("float32"), meta, info=info)
    if scale_out is not None:
        what = "ensemble spread" if ensemble else "Laplace scale"
        write_tiff(scale_out, scale.astype("float32"), meta, info=info + f"\noutput: scale ({what}, uncertainty)")
    typer.echo(f"Wrote {output} ({predictor.provider}).")
    if qc_dir is not None:
        _write_qc(qc_dir, data, mean, scale, in_meta, card, predictor=predictor, tile=tile)


def _predict_streaming(model: Path, image: Path, output: Path, *, tile, threads, device, task, scheduler) -> None:
    """OME-Zarr output or an input larger than memory: the input is read lazily and predicted block by block
    (core/blocks.py), here or on a dask cluster; the result equals the in-memory path's."""
    from fluorecon.core.modelcard import ModelCardError
    from fluorecon.core.progress import progress_callback
    from fluorecon.core.streaming import open_lazy
    from fluorecon.infer import get_predictor, predict_to_zarr

    try:
        predictor = get_predictor(model, device=device, threads=threads)
        settings = {"tile": tile or ",".join(map(str, predictor.card.tile_default)), "threads": threads or "default",
                    "device": device, "input": image.name, "mode": "block-wise"}
        if scheduler:
            settings["dask_scheduler"] = scheduler
        with open_lazy(image) as (data, meta):
            predict_to_zarr(predictor, data, meta, output, tile=tile, progress=progress_callback("predict", " tiles"),
                            task=task, info=describe(predictor, settings), scheduler=scheduler, device=device)
    except (ModelCardError, ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {output} ({predictor.provider}, block-wise).")


def _write_qc(qc_dir: Path, data, mean, scale, meta, card, predictor=None, tile=None) -> None:
    """`--qc`: check the result against its input (fluorecon.qc.report) and print the warnings; for a
    denoiser also whether its texture survives re-noising (fluorecon.qc.disagreement)."""
    from fluorecon.qc.report import check_result

    resampled = mean.shape != data.shape and "forward_model" in card.qc  # upsampling, isotropic restoration
    pixel_nm = meta.pixel_size_um * 1000 if meta.pixel_size_um else None
    if meta.axes not in ("YX", "ZYX") and not resampled and mean.shape == data.shape:
        from fluorecon.qc.report import check_hyperstack

        report = check_hyperstack(data, mean, axes=meta.axes, card=card, ndim=card.ndim, pixel_size_nm=pixel_nm,
                                  out_dir=qc_dir, meta=meta)
    elif meta.axes not in ("YX", "ZYX") or (mean.shape != data.shape and not resampled):
        typer.echo(f"QC: skipped (checks one YX plane or ZYX stack at the input's size; image axes {meta.axes}).")
        return
    elif resampled:
        from fluorecon.tasks.upsample.learned import check_superres

        report = check_superres(data, mean, card=card, pixel_size_nm=pixel_nm, out_dir=qc_dir, meta=meta)
    else:
        report = check_result(data, mean, card=card, uncertainty=scale, pixel_size_nm=pixel_nm, out_dir=qc_dir,
                              meta=meta)
    if card.task == "denoise" and meta.axes in ("YX", "ZYX"):
        from fluorecon.qc.disagreement import add_for_denoiser
        from fluorecon.qc.report import compare_classical

        d = add_for_denoiser(report, predictor, data, mean, axes=meta.axes, tile=tile) if predictor else None
        if d is not None:
            typer.echo(f"QC: the fine detail is mostly not reproducible under re-noising over "
                       f"{100 * d.summary['flagged_fraction']:.0f}% of the image (warns above "
                       f"{100 * d.summary['area_threshold']:.0f}%); wrote {qc_dir}/disagreement.tif")
            inv = report.summary["invented"]
            typer.echo(f"QC: invented-detail map: {100 * inv['marked_fraction']:.1f}% of pixels marked, "
                       f"{inv['regions']} region(s) larger than the PSF; wrote {qc_dir}/invented.tif")
        note = compare_classical(data, report)
        report.write(qc_dir, meta)  # with the classical figures
        if note:
            typer.echo(f"Note: {note}")
    s = report.summary
    typer.echo(f"QC: standardised residual mean {s['residual_mean']:.3f}, std {s['residual_std']:.3f}; "
               f"wrote {qc_dir}/qc.json")
    for w in report.warnings:
        typer.echo(f"Warning: {w}")


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)
