#!/usr/bin/env python3
"""`make demo`: run the Denoise... macro on the bundled noisy sample in a local ImageJ, then draw
noisy | denoised | ground truth with PSNRs into out/demo/demo.png.

ImageJ runs headless through ij1-patcher (as Fiji's --headless does); where that cannot start it
falls back to plain ImageJ's -batch mode under Xvfb. Writes out/demo/sample-denoised.tif.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "python" / "fluorecon" / "data"
MACRO = ROOT / "demo" / "denoise_sample.ijm"
TIMEOUT_S = 600  # one small denoising takes seconds; anything longer is a hang (e.g. a modal dialog)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ijrun  # noqa: E402


def run_headless(imagej: Path, macro: Path, arg: str) -> ijrun.Run:
    """The macro through ij1-patcher's LegacyEnvironment in a headless JVM."""
    return ijrun.run(ijrun.headless_command(imagej, [macro], arg, heap="4g"), what="headless ImageJ (ij1-patcher)",
                     timeout=TIMEOUT_S)


def run_xvfb(imagej: Path, macro: Path, arg: str) -> ijrun.Run:
    """The macro in plain ImageJ's -batch mode; ImageJ1's menus need a display, so under Xvfb
    (watched: a modal dialog there would wait forever, so it ends the run with its title)."""
    if shutil.which("xvfb-run") is None:
        if not os.environ.get("DISPLAY"):
            raise SystemExit("Neither headless ImageJ nor Xvfb could run the macro: install Xvfb with `make setup`.")
        return ijrun.run([str(imagej / "run-macro"), str(macro), arg], what="ImageJ -batch on $DISPLAY",
                         timeout=TIMEOUT_S)
    return ijrun.run(ijrun.xvfb_batch_command(imagej, macro, arg, heap="4g"), what="ImageJ -batch under Xvfb",
                     timeout=TIMEOUT_S, watch_dialogs=True)


def figure(noisy, denoised, clean, out_png: Path, *, model_name: str) -> tuple[float, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fluorecon.qc.metrics import psnr

    p_noisy, p_denoised = psnr(noisy, clean), psnr(denoised, clean)
    lo, hi = np.percentile(clean, [0.5, 99.8])
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), constrained_layout=True)
    for ax, img, title in zip(axes, (noisy, denoised, clean),
                              (f"noisy input\nPSNR {p_noisy:.2f} dB", f"fluorecon Denoise… (ImageJ)\nPSNR {p_denoised:.2f} dB",
                               "ground truth")):
        ax.imshow(img, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    fig.suptitle(f"fluorecon — CARE denoising run by an ImageJ macro (model {model_name})", fontsize=12)
    fig.supxlabel(f"PSNR against the ground truth: noisy {p_noisy:.2f} dB → denoised {p_denoised:.2f} dB",
                  fontsize=12)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return p_noisy, p_denoised


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--imagej", type=Path, default=ROOT / "imagej")
    p.add_argument("--model", type=Path, default=ROOT / "models" / "care_denoise_2d.onnx")
    p.add_argument("--noisy", type=Path, default=DATA / "sample_noisy_2d.tif")
    p.add_argument("--clean", type=Path, default=DATA / "sample_clean_2d.tif")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    p.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin" / "target" / "fluorecon_.jar")
    p.add_argument("--mode", choices=["auto", "headless", "xvfb"], default="auto")
    args = p.parse_args(argv)

    for path in (args.model, args.noisy, args.clean):
        if not path.is_file():
            raise SystemExit(f"Missing {path}; a fresh clone ships it — check `git status`.")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(args.imagej),
                    "--plugin-jar", str(args.plugin_jar), "--deps", str(args.plugin_jar.parent / "deps")], check=True)

    args.out.mkdir(parents=True, exist_ok=True)
    out_tif = (args.out / "sample-denoised.tif").resolve()
    out_tif.unlink(missing_ok=True)
    arg = f"{args.noisy.resolve()}|{args.model.resolve()}|{out_tif}"
    imagej = args.imagej.resolve()
    log = ""
    for mode in (["headless", "xvfb"] if args.mode == "auto" else [args.mode]):
        print(f"[demo] running {MACRO.relative_to(ROOT)} in ImageJ ({mode}) ...", flush=True)
        run = (run_headless if mode == "headless" else run_xvfb)(imagej, MACRO, arg)
        log = run.log
        failure = run.failure(expect_end=False)
        if failure is None and out_tif.is_file():
            print("\n".join(ln for ln in log.splitlines() if "fluorecon" in ln.lower()))
            break
        print(f"[demo] {mode} run failed: {failure or 'no output file was written'}", flush=True)
    else:
        raise SystemExit("The ImageJ macro did not produce an output; see the log above.")

    from fluorecon.core.io import read_tiff
    from fluorecon.core.modelcard import read_card

    noisy, _ = read_tiff(args.noisy)
    denoised, _ = read_tiff(out_tif)
    clean, _ = read_tiff(args.clean)
    png = args.out / "demo.png"
    p_noisy, p_denoised = figure(noisy.astype("float32"), denoised.astype("float32"), clean.astype("float32"), png,
                                 model_name=read_card(args.model).name)
    print(f"[demo] PSNR noisy {p_noisy:.2f} dB -> denoised {p_denoised:.2f} dB")
    print(f"[demo] wrote {out_tif.relative_to(ROOT) if out_tif.is_relative_to(ROOT) else out_tif} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
