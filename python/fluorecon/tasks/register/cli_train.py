"""`fluorecon simulate register`: a drifting time series with its true drift; `fluorecon train register`: the
learned deformable registration (VoxelMorph-style, unsupervised) on simulated deformations of phantoms or of your
own images (fluorecon.tasks.register.learned.build_register_model, which also makes models/register_deform_2d.onnx)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fluorecon.commands import (ERRORS, ModelOptions, SimulateOptions, fail, model_options, simulate_options,
                                subgroup)


@simulate_options(out_help="Folder to create: OUT/drifting.tif (T, Y, X, camera ADU, calibrated), OUT/reference.tif "
                  "(the specimen without drift or noise: ground truth), OUT/drift.csv (true drift per frame, px and "
                  "µm, as `fluorecon register --drift-csv` writes it), OUT/simulation.json.", n=20,
                  n_help="Number of frames.", size=128, size_help="Side in pixels.", photons=100.0,
                  photons_help="Peak photons per pixel and frame.", kind="mixed")
def simulate_register(
    target: SimulateOptions = None,
    step_px: float = typer.Option(0.3, "--step-px", help="Random-walk drift per frame (RMS per axis, px)."),
    linear_px: float = typer.Option(0.2, "--linear-px", help="Steady stage creep per frame (px, random direction)."),
    pixel_size_nm: float = typer.Option(100.0, "--pixel-size-nm", help="Pixel size in the sample (nm)."),
    frame_interval_s: float = typer.Option(1.0, "--frame-interval-s", help="Time between frames (s)."),
) -> None:
    """Simulate a drifting 2D time series (sub-pixel Fourier shifts of one specimen, camera noise) and its true
    drift: what `fluorecon register` estimates.

    Example: fluorecon simulate register --out data/drift --n 50 --step-px 0.5
    """
    import numpy as np

    from fluorecon.commands import write_simulation_json
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.imaging.noise import CameraNoise, apply_noise
    from fluorecon.imaging.phantoms import phantom
    from fluorecon.tasks.register.drift_csv import write_drift_csv
    from fluorecon.tasks.register.physics import apply_drift, simulate_drift

    out, n, size, photons, kind, seed = target.out, target.n, target.size, target.photons, target.kind, target.seed
    try:
        specimen = phantom((size, size), kind=kind, seed=seed)
        drift = simulate_drift(n, 2, step_px=step_px, linear_px=linear_px, seed=seed + 1)
        camera = CameraNoise(photons=photons)
    except ERRORS as err:
        fail(err)
    moved = apply_drift(np.repeat(specimen[None], n, axis=0), drift)
    frames = apply_noise(np.clip(moved, 0, None), camera, seed=seed + 2).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    meta = TiffMeta(axes="TYX", pixel_size_um=pixel_size_nm / 1000, frame_interval_s=frame_interval_s)
    write_tiff(out / "drifting.tif", frames, meta, info="fluorecon simulate register: drifting time series (ADU)")
    write_tiff(out / "reference.tif", specimen.astype(np.float32), TiffMeta(axes="YX", pixel_size_um=pixel_size_nm / 1000),
               info="fluorecon simulate register: the specimen at frame 1's position (relative intensity, no noise)")
    # The drift of frame t: the content moved by +drift (what `fluorecon register` reports for it).
    write_drift_csv(out / "drift.csv", drift, ["y", "x"], [pixel_size_nm / 1000] * 2, "um")
    write_simulation_json(out, "register", seed, {"inputs": "drifting.tif", "ground_truth": "drift.csv",
                                                  "specimen": "reference.tif"},
                          n=n, size=size, kind=kind, step_px=step_px, linear_px=linear_px, camera=camera,
                          pixel_size_nm=pixel_size_nm, frame_interval_s=frame_interval_s,
                          drift_convention="frame t shows the specimen moved by +drift (y, x) px")
    typer.echo(f"Wrote {n} frames to {out}/drifting.tif (true drift {out}/drift.csv, parameters "
               f"{out}/simulation.json).")


@model_options(steps=1200, qc_inputs=96, qc_what="images")
def train_register(
    model: ModelOptions = None,
    data: Optional[List[Path]] = typer.Option(None, "--data", help="Your 2D images (TIFFs, or folders of them) to "
                                              "deform for training (repeat the option); default: simulated phantoms "
                                              "and textures."),
    validation_size: int = typer.Option(128, "--validation-size", help="Side of the held-out phantoms compared with "
                                        "TV-L1 optical flow."),
) -> None:
    """Train the learned deformable registration (unsupervised: warped image vs fixed image + smoothness) and
    export it with its card; the card records the field error of the network, of TV-L1 optical flow and of no
    registration on held-out phantoms with known deformations.

    Example: fluorecon train register --out my_register.onnx --data my_cells/ --steps 1200
    """
    from fluorecon.core.io import read_tiff
    from fluorecon.core.progress import progress_callback
    from fluorecon.qc.training_inputs import add_card_statistics
    from fluorecon.tasks.register.learned import build_register_model

    images, names = None, []
    if data:
        files = [f for p in data for f in (sorted(p.glob("*.tif*")) if p.is_dir() else [p])]
        if not files:
            fail(FileNotFoundError(f"no TIFF in {', '.join(map(str, data))}; give 2D TIFFs or folders of them."))
        images = []
        for f in files:
            image, meta = read_tiff(f)
            planes = image.reshape((-1, *image.shape[-2:]))  # every plane of a stack is one training image
            images += list(planes)
            names.append(f.name)
    out = model.out
    try:
        metrics = build_register_model(out, steps=model.steps, seed=model.seed, images=images, log=lambda line: None,
                                       data=f"{len(images)} user images ({', '.join(names[:5])}{'…' if len(names) > 5 else ''})"
                                       if images is not None else "", val_size=validation_size, name=model.name or None,
                                       progress=progress_callback("training register", unit=" steps"))
        add_card_statistics(out, model.qc_inputs)
    except ERRORS as err:
        fail(err)
    typer.echo(f"Validation (displacement RMSE, px): learned {metrics['field_rmse_px_learned']}, TV-L1 "
               f"{metrics['field_rmse_px_tvl1']}, none {metrics['field_rmse_px_none']}. Wrote {out}.")


def register(app: typer.Typer) -> None:
    subgroup(app, "simulate", "Simulate training data for a task.").command("register")(simulate_register)
    subgroup(app, "train", "Train a model for a task and export it to ONNX.").command("register")(train_register)
