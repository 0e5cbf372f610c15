"""`fluorecon sim learned MODEL RAW OUT`: learned SIM reconstruction (fluorecon.tasks.sim.learned)
beside the classical `fluorecon sim reconstruct`; the Fiji command SIM reconstruction… with
method=learned gives the same result."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import subgroup


def sim_learned_command(
    model: Path = typer.Argument(..., help="Learned SIM model (card task=sim), e.g. models/sim_2d_3frames.onnx."),
    raw: Path = typer.Argument(..., help="Raw SIM stack (N, Y, X): whole angle × phase sets per z plane, or only "
                               "the model's frames."),
    output: Path = typer.Argument(..., help="Output TIFF (Z, 2Y, 2X), float32, pixel size halved."),
    order: str = typer.Option("angle-phase-z", "--order", help="Frame order, outermost first: angle-phase-z or "
                              "z-angle-phase (any permutation of angle, phase, z)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile side in raw pixels (default: the card's)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for ONNX Runtime."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    consistency: Optional[Path] = typer.Option(None, "--consistency", help="Also write the data-consistency map "
                                               "(Z·frames, Y, X): measured minus re-simulated raw frames over the "
                                               "noise σ, with the pattern estimated from the full stack."),
) -> None:
    """Reconstruct a raw SIM stack with a learned model (all frames or the reduced set its card lists).
    The first z plane is checked against the model's training statistics (intensity, noise, pixel
    size); warnings are printed and stored in the output's Info.

    Example: fluorecon sim learned models/sim_2d_3frames.onnx raw.tif sim.tif --order angle-phase-z
    """
    from dataclasses import replace

    from fluorecon.commands.predict import describe
    from fluorecon.core.io import read_tiff, write_tiff
    from fluorecon.core.modelcard import ModelCardError
    from fluorecon.infer import get_predictor
    from fluorecon.tasks.sim.job import flat_frames
    from fluorecon.tasks.sim.learned import (card_frames, pattern_from_data, predict_sim, select_planes,
                                             sim_consistency, sim_ood)

    try:
        predictor = get_predictor(model, device=device, threads=threads)
        data, meta = read_tiff(raw)
        frames = flat_frames(data, meta.axes)
        result = predict_sim(frames, predictor, order=order, tile=tile)
        used, n_a, n_p = card_frames(predictor.card)
        first = select_planes(frames, order=order, frames=used, n_angles=n_a, n_phases=n_p)[0]
        ood = sim_ood(first, predictor.card,
                      pixel_size_nm=meta.pixel_size_um * 1000 if meta.pixel_size_um else None)
        maps, no_map = None, None
        if consistency is not None:
            # The map needs the illumination pattern, estimated from all frames of a plane: a reduced-frame
            # stack (the low-light case the learned model is for) or a missing pixel size leaves the
            # reconstruction valid; it is written and the reason for no map is said (exit 0).
            try:
                if not meta.pixel_size_um:
                    raise ValueError(f"{raw.name} has no pixel size; the pattern estimate needs it "
                                     "(Image › Properties…).")
                full = select_planes(frames, order=order, frames=tuple(range(n_a * n_p)), n_angles=n_a,
                                     n_phases=n_p)
                maps = [sim_consistency(plane[used], res,
                                        pattern_from_data(plane, predictor.card, pixel_size_nm=meta.pixel_size_um * 1000),
                                        frames=used) for plane, res in zip(full, result)]
            except ValueError as err:
                no_map = str(err)
    except (ModelCardError, ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    out = result[0] if len(result) == 1 else result
    out_meta = replace(meta, axes="YX" if out.ndim == 2 else "ZYX",
                       pixel_size_um=meta.pixel_size_um / 2 if meta.pixel_size_um else meta.pixel_size_um)
    info = describe(predictor, {"order": order, "frames": predictor.card.train.get("frames", ""),
                                "tile": tile or ",".join(map(str, predictor.card.tile_default)),
                                "input": raw.name})
    ood_lines = [f"qc.in_distribution = {str(ood.in_distribution).lower()}"]
    ood_lines += [f"qc.ood.{k} = {v:.4g}" for k, v in ood.scores.items()]
    ood_lines += [f"WARNING (out of distribution): {w}" for w in ood.warnings]
    info = info + "\n" + "\n".join(ood_lines)
    write_tiff(output, out.astype("float32"), out_meta, info=info)
    typer.echo(f"Wrote {output} ({out.shape[-1]}×{out.shape[-2]}, {len(result)} plane(s), {predictor.provider}).")
    for line in ood_lines:
        typer.echo(line)
    if no_map is not None:
        typer.echo(f"Warning: no consistency map was written ({consistency.name}): the illumination pattern could "
                   f"not be estimated: {no_map}")
    if maps is not None:
        import numpy as np

        stacked = np.concatenate(maps).astype("float32")
        write_tiff(consistency, stacked, replace(meta, axes="ZYX"),
                   info=info + "\noutput: data consistency (measured − re-simulated) / σ, frames " +
                   predictor.card.train.get("frames", "") + " per plane")
        typer.echo(f"Consistency: mean {stacked.mean():.3f}, std {stacked.std():.3f} (≈ 0 and 1 where the "
                   f"result explains the frames); wrote {consistency}.")


def register(app: typer.Typer) -> None:
    group = subgroup(app, "sim", "Structured illumination microscopy.")
    group.command("learned")(sim_learned_command)
