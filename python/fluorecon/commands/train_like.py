"""`fluorecon train <denoise|deconvolve|upsample> --like IMAGE`: one thin shell over fluorecon.like_tasks.train_like_for
that prints what was fitted, the validation figures and the OOD verdict of the image (of a stack: the plane fitted
to) before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fluorecon.commands import fail as _fail, option_group

#: Validation rows per task: (card metrics key, label); "base" is the model fine-tuned from.
ROWS = {"denoise": (("input", "noisy input"), ("nlm", "non-local means"), ("base", "{base} (before)"),
                    ("care", "fitted CARE")),
        "deconvolve": (("input", "blurred noisy input"), ("rl", "Richardson–Lucy"), ("base", "{base} (before)"),
                       ("care", "fitted CARE")),
        "upsample": (("bicubic", "bicubic"), ("rl", "RL-TV (blur + downsample)"), ("base", "{base} (before)"),
                     ("care", "fitted CARE"))}


#: The camera's calibration, when the image cannot show it (a 64² bead crop): each given value replaces the
#: estimate; none of them has a default. And the plane of a stack the structure is fitted to.
CAMERA_OPTIONS = {
    "gain": (Optional[float], typer.Option(None, "--gain", help="--like: camera gain, ADU per detected photon, from "
                                           "the camera's calibration (default: estimated from the image).")),
    "offset": (Optional[float], typer.Option(None, "--background", help="--like: camera offset (+ background), ADU, "
                                             "from the camera's calibration (default: estimated from the image).")),
    "read_noise_e": (Optional[float], typer.Option(None, "--read-noise-e", help="--like: camera read noise, electrons "
                                                   "rms (default: estimated from the image).")),
    "plane": (Optional[int], typer.Option(None, "--plane", help="--like with a stack: the plane (0-based) the "
                                          "structure and light level are fitted to (default: the brightest); the "
                                          "camera is estimated from every plane.")),
}


def camera_options(param: str = "camera"):
    """The camera options alone (for `train deconvolve`, whose other --like options are its own), as a dict."""
    return option_group(param, CAMERA_OPTIONS, lambda **values: values)


def like_options(*, like_help: str, base_model_help: str, param: str = "like"):
    """The `--like` options of `train denoise|upsample` in place of the command's parameter `param`, which
    receives them as a dict of :func:`train_like_command`'s keywords (``image_path`` is None without --like)."""
    return option_group(param, {
        "image_path": (Optional[Path], typer.Option(None, "--like", help=like_help)),
        "na": (Optional[float], typer.Option(None, "--na", help="--like: numerical aperture of the objective.")),
        "wavelength_nm": (Optional[float], typer.Option(None, "--wavelength-nm",
                                                        help="--like: emission wavelength, nm.")),
        "ni": (float, typer.Option(1.33, "--ni", help="--like: immersion refractive index (1.33 water, 1.515 oil; an "
                                   "NA above it is impossible, so oil objectives need --ni 1.515).")),
        "pixel_size_nm": (Optional[float], typer.Option(None, "--pixel-size-nm", help="--like: pixel size of the "
                                                        "image in the sample, nm (needed when it is not calibrated; "
                                                        "overrides it).")),
        "from_scratch": (bool, typer.Option(False, "--from-scratch", help="--like: random initial weights instead "
                                            "of the shipped model's.")),
        "base_model": (Optional[Path], typer.Option(None, "--base-model", help=base_model_help)),
        **CAMERA_OPTIONS,
    }, lambda **values: values)


def ood_line(image, card) -> str:
    """The OOD verdict of `image` against `card`'s training statistics, in one line."""
    from fluorecon.qc.ood import check_input

    report = check_input(image, card.qc, norm=card.norm)
    d, t = report.scores.get("distance"), report.scores.get("threshold")
    head = f"distance {d:.1f} (threshold {t:.2g})" if d is not None else "no feature statistics"
    if report.in_distribution:
        return f"in distribution, {head}"
    return f"out of distribution, {head}: " + " | ".join(w.split(":")[0] for w in report.warnings)


def train_like_command(task: str, image_path: Path, *, out: Path, steps: int, batch_size: Optional[int], lr: float,
                       seed: int, device: str, name: str, na: Optional[float], wavelength_nm: Optional[float],
                       pixel_size_nm: Optional[float], from_scratch: bool, base_model: Optional[Path],
                       ni: float = 1.33, gain: Optional[float] = None, offset: Optional[float] = None,
                       read_noise_e: Optional[float] = None, plane: Optional[int] = None) -> None:
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from fluorecon.core.io import read_tiff
    from fluorecon.export import unet_from_onnx
    from fluorecon.like_tasks import train_like_for
    from fluorecon.train_like import LikeSettings, default_base_model, fit_plane

    missing = [flag for flag, v in (("--na", na), ("--wavelength-nm", wavelength_nm)) if v is None]
    if missing:
        _fail(f"--like needs {' and '.join(missing)}: image files do not record the objective's NA or the emission "
              "wavelength, and a guessed value would be trained in as if measured.")
    try:
        image, meta = read_tiff(image_path)
        if meta.axes not in ("YX", "ZYX", "TYX"):
            raise ValueError(f"{image_path.name} has axes {meta.axes}; --like takes one YX plane or one Z or T stack "
                             "of them (save one channel, Image › Duplicate…).")
        settings = LikeSettings(pixel_size_nm=pixel_size_nm, na=na, wavelength_nm=wavelength_nm, ni=ni, steps=steps,
                                batch_size=batch_size or 8, lr=lr, from_scratch=from_scratch, seed=seed, device=device,
                                name=name, gain=gain, offset=offset, read_noise_e=read_noise_e, plane=plane)
        fitted_plane, _ = fit_plane(image, plane)
        base = Path(base_model) if base_model is not None else default_base_model(task)
        _, base_card = unet_from_onnx(base)
        before = ood_line(fitted_plane, base_card)
        card, path, fit = train_like_for(task, image, out, settings, meta=meta, image_name=image_path.name,
                                         base_model=base)
    except (ValidationError, ValueError, FileNotFoundError) as err:
        _fail(str(err))
    console = Console()
    console.print(f"Fitted: {fit.provenance()}.")
    table = Table(title=f"Validation on the fitted simulation ({card.metrics['val_images']} images)")
    for col in ("", "PSNR (dB)", "SSIM"):
        table.add_column(col)
    for key, label in ROWS[task]:
        if f"val_psnr_{key}" in card.metrics:
            table.add_row(label.format(base=base.name), card.metrics[f"val_psnr_{key}"], card.metrics[f"val_ssim_{key}"])
    console.print(table)
    console.print(f"OOD check of {image_path.name}: before ({base.name}) {before}; after {ood_line(fitted_plane, card)}.")
    console.print(f"Wrote {path} (checkpoint {path.with_suffix('.pt')}).")
