"""Commands run from real headless macros (ij1-patcher's headless ImageJ, as Fiji's --headless), against the
shared `fluorecon serve`: what only shows under a running macro without a display (issue 16).

- `Unmix...` with `source=rois` reads the image's overlay (no ROI Manager headless; ImageJ's
  RoiManager.getInstance() would build a batch-mode one in a macro and throw a HeadlessException).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

import ijbridge
from fluorecon.core.io import TiffMeta, write_tiff

ijrun = ijbridge.ijrun


def run_macro(imagej_dir: Path, config_dir: Path, tmp_path: Path, text: str, *, timeout: float = 240) -> ijrun.Run:
    macro = tmp_path / "m.ijm"
    macro.write_text(text + f'\nprint("{ijrun.END_MARK}");\n')
    return ijrun.run(ijrun.headless_command(imagej_dir, [macro], heap="1g",
                                            extra=(f"-Dfluorecon.config_dir={config_dir}",)),
                     what=macro.name, timeout=timeout)


def test_unmix_rois_from_the_overlay_in_a_headless_macro(imagej_dir, config_dir, tmp_path):
    rng = np.random.default_rng(0)
    image = np.full((4, 24, 40), 100, np.float32)
    for label in range(3):  # label l bright in channel l (+ a little in l+1), in columns 8l..8l+7
        image[label, :, 8 * label:8 * label + 8] += 300
        image[label + 1, :, 8 * label:8 * label + 8] += 60
    image = rng.poisson(image).astype(np.float32)
    src = tmp_path / "lambda.tif"
    write_tiff(src, image, TiffMeta(axes="CYX", pixel_size_um=0.1))
    out = tmp_path / "out.tif"
    rois = "".join(f'makeRectangle({x}, 2, 6, 20); Roi.setName("{n}"); Overlay.addSelection;\n'
                   for x, n in [(1, "a"), (9, "b"), (17, "c"), (26, "bg")])
    run = run_macro(imagej_dir, config_dir, tmp_path, f'open("{src}");\n{rois}run("Select None");\n'
                    f'run("Unmix...", "method=nnls source=rois background=last_roi labels=0 offset=0 save=[{out}]");')
    assert run.failure() is None, run.failure()
    assert "HeadlessException" not in run.log, run.log
    got = tifffile.imread(out)
    assert got.shape[-3:] == (3, 24, 40), got.shape
    for label in range(3):  # each ROI's label dominates its own columns
        region = got[..., :, 2:22, 8 * label + 2:8 * label + 6].reshape(3, -1).mean(axis=1)
        assert region.argmax() == label, region
