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
    scale_out: Optional[Path] = typer.Option(None, "--scale-out", help="Also write the per-pixel uncertainty "
                                             "(models with outputs = mean,scale)."),
) -> None:
    """Apply a model to a TIFF. The output keeps the input's axes and calibration; its description
    records the model (name, sha256), fluorecon version, settings and the execution provider used.

    Example: fluorecon predict models/care_denoise_2d.onnx noisy.tif denoised.tif --tile 128
    """
    from tqdm.auto import tqdm

    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.core.modelcard import ModelCardError
    from fluorecon.infer import get_predictor

    try:
        predictor = get_predictor(model, device=device, threads=threads)
        data, meta = read_tiff(image)
        bar = tqdm(desc="predict", unit="tile", leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        card = predictor.card
        if card.task == "isotropic" or any(s != 1 for s in card.scale):
            # Output grid differs from the input's: calibration / scale, or isotropic two-view fusion.
            from fluorecon.tasks.upsample import predict_superres

            mean, scale, meta = predict_superres(predictor, data, meta, tile=tile, progress=progress, task=task)
        else:
            mean, scale = predictor.predict(data, axes=meta.axes, tile=tile, progress=progress, task=task,
                                            return_scale=True)
        bar.close()
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
        write_tiff(scale_out, scale.astype("float32"), meta, info=info + "\noutput: Laplace scale (uncertainty)")
    typer.echo(f"Wrote {output} ({predictor.provider}).")


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)
