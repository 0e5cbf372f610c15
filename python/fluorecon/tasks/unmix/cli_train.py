"""`fluorecon simulate unmix`: a simulated lambda stack with its true abundances and mixing matrix; `fluorecon train
unmix`: the learned unmixing network for your labels and detector bands (fluorecon.tasks.unmix.classical
.build_unmix_model, which also makes the shipped models/unmix_4label.onnx)."""

from __future__ import annotations

from pathlib import Path

import typer

from fluorecon.commands import (ERRORS, ModelOptions, SimulateOptions, fail, model_options, option_group,
                                simulate_options, subgroup)


def _labels(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        fail(ValueError("--labels is empty; give built-in spectra, e.g. --labels EGFP,mCherry."))
    return labels


def _spectra(labels: str, lambda_start: float, lambda_stop: float, channels: int) -> dict:
    return {"labels": _labels(labels), "start_nm": lambda_start, "stop_nm": lambda_stop, "channels": channels}


#: The labels and the detector's bands, shared by `simulate unmix` and `train unmix`: the command's parameter
#: `spectra` receives {labels (a list), start_nm, stop_nm, channels}.
spectra_options = option_group("spectra", {
    "labels": (str, typer.Option("DAPI,EGFP,tdTomato,mCherry", "--labels", help="Comma-separated built-in spectra, one "
                                 "per label (e.g. DAPI,EGFP,tdTomato,mCherry).")),
    "lambda_start": (float, typer.Option(430.0, "--lambda-start", help="First band's lower edge, nm.")),
    "lambda_stop": (float, typer.Option(710.0, "--lambda-stop", help="Last band's upper edge, nm.")),
    "channels": (int, typer.Option(8, "--channels", help="Detector channels (bands split evenly).")),
}, _spectra)


@simulate_options(out_help="Folder to create: OUT/spectral/*.tif (C, Y, X lambda stacks, camera ADU), "
                  "OUT/abundances/*.tif (one channel per label, photons: ground truth), OUT/simulation.json (labels, "
                  "bands, mixing matrix, camera).", n=4, n_help="Number of specimens.", size=128,
                  size_help="Side in pixels.", photons=30.0,
                  photons_help="Photons a label at full abundance emits per pixel.")
@spectra_options
def simulate_unmix(
    target: SimulateOptions = None,
    spectra: dict = None,
    background: float = typer.Option(100.0, "--background", help="Camera offset in ADU."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Pixel size in the sample (nm)."),
) -> None:
    """Simulate spectral (lambda-stack) images of multi-label specimens and their true abundances.

    Example: fluorecon simulate unmix --out data/unmix --labels EGFP,mCherry --channels 8
    """
    import numpy as np

    from fluorecon.commands import write_simulation_json
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.imaging.noise import CameraNoise
    from fluorecon.tasks.unmix.physics import Detector, SpectralMixing, mixing_matrix, simulate_labels, simulate_spectral

    out, n, size, photons, seed = target.out, target.n, target.size, target.photons, target.seed
    names, channels = spectra["labels"], spectra["channels"]
    try:
        detector = Detector.lambda_stack(start_nm=spectra["start_nm"], stop_nm=spectra["stop_nm"], channels=channels)
        mixing = mixing_matrix(names, detector)
        camera = CameraNoise(photons=photons, offset=background, read_noise_e=1.5)
        physics = SpectralMixing(mixing, image_shape=(size, size), device="cpu")
        rng = np.random.default_rng(seed)
        specimens = [(simulate_labels((size, size), len(names), seed=int(s)), int(s) + 1)
                     for s in rng.integers(0, 2**31 - 1, n)]
    except ERRORS as err:
        fail(err)
    meta = TiffMeta(axes="CYX", pixel_size_um=pixel_size_nm / 1000)
    for sub in ("spectral", "abundances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, (truth, noise_seed) in enumerate(specimens):
        y = simulate_spectral(truth, physics, camera=camera, seed=noise_seed)
        write_tiff(out / "spectral" / f"{i:03d}.tif", y.astype(np.float32), meta,
                   info=f"fluorecon simulate unmix: lambda stack (ADU), bands {detector.bands_nm}")
        write_tiff(out / "abundances" / f"{i:03d}.tif", (truth * np.float32(photons)).astype(np.float32), meta,
                   info=f"fluorecon simulate unmix: abundances in photons (ground truth), labels {','.join(names)}")
    write_simulation_json(out, "unmix", seed, {"inputs": "spectral/*.tif", "ground_truth": "abundances/*.tif"},
                          n=n, size=size, labels=names, bands_nm=[list(b) for b in detector.bands_nm],
                          mixing=np.asarray(mixing).tolist(), camera=camera, pixel_size_nm=pixel_size_nm)
    typer.echo(f"Wrote {n} lambda stacks ({channels} channels, {len(names)} labels) to {out}/spectral (ground truth "
               f"{out}/abundances, parameters {out}/simulation.json).")


@model_options(steps=1500, qc_inputs=32, qc_what="stacks")
@spectra_options
def train_unmix(
    model: ModelOptions = None,
    spectra: dict = None,
    photons_min: float = typer.Option(5.0, "--photons-min", help="Fewest photons per label trained on."),
    photons_max: float = typer.Option(300.0, "--photons-max", help="Most photons per label trained on."),
    validation_size: int = typer.Option(128, "--validation-size", help="Side of the held-out specimens compared with NNLS."),
) -> None:
    """Train the learned unmixing network on simulated mixtures of your labels in your detector bands; the card
    records the mixing matrix and the abundance error of the network and of NNLS on held-out specimens.

    Example: fluorecon train unmix --out my_unmix.onnx --labels EGFP,mCherry --channels 16 --lambda-start 480
    """
    from fluorecon.core.progress import progress_callback
    from fluorecon.qc.training_inputs import add_card_statistics
    from fluorecon.tasks.unmix.classical import build_unmix_model

    try:
        metrics = build_unmix_model(model.out, steps=model.steps, seed=model.seed, **spectra,
                                    photons=(photons_min, photons_max), eval_shape=(validation_size, validation_size),
                                    name=model.name or None, log=lambda line: None,
                                    progress=progress_callback("training unmix", unit=" steps"))
        add_card_statistics(model.out, model.qc_inputs)
    except ERRORS as err:
        fail(err)
    rows = ", ".join(f"{k.split('_')[-1]}: learned {metrics[k]} vs NNLS {metrics[k.replace('learned', 'nnls')]}"
                     for k in metrics if k.startswith("error_learned"))
    typer.echo(f"Validation (relative abundance error) {rows}. Wrote {model.out}.")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("unmix")(simulate_unmix)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("unmix")(train_unmix)
