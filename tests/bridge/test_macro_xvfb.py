"""The plugin from ImageJ macros: `ij.ImageJ -batch` under Xvfb (DESIGN.md bridge recipe 3) and
`IJ.run(imp, "Denoise...", ...)` from a non-headless JVM under Xvfb (recipe 2).

Each scenario is its own JVM (a subprocess), so the file it writes is the only result checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import ijbridge
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from ijbridge import TILE, assert_matches, noisy_planes, python_reference

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def sample_tif(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "cells.tif"
    write_tiff(path, noisy_planes((80, 96), seed=11), TiffMeta(axes="YX", pixel_size_um=0.1))
    return path


def expected_for(sample_tif: Path, model: Path) -> np.ndarray:
    image, _ = read_tiff(sample_tif)
    return python_reference(image[None, None, None], model)[0, 0, 0]


def check_written(out: Path, expected: np.ndarray, *, title: str | None = None) -> None:
    assert out.is_file(), f"no output written at {out}"
    result, meta = read_tiff(out)
    assert result.dtype == np.float32
    assert meta.pixel_size_um == pytest.approx(0.1, rel=1e-4)
    assert_matches(result.reshape(expected.shape), expected)


def test_macro_batch_under_xvfb(imagej_dir, xvfb_run, model_2d, sample_tif, tmp_path):
    out = tmp_path / "macro-out.tif"
    macro = tmp_path / "denoise.ijm"
    opts = ijbridge.options_string(model_file=model_2d, tile=TILE, threads=2, save=out)
    macro.write_text(f'open("{sample_tif}");\nrun("Denoise...", "{opts}");\nprint("title=" + getTitle());\n')
    run = ijbridge.ijrun.run(ijbridge.ijrun.xvfb_batch_command(imagej_dir, macro, heap="2g"),
                             what="ImageJ -batch denoise.ijm", timeout=180, watch_dialogs=True)
    log = run.log
    assert run.failure(expect_end=False) is None, run.failure(expect_end=False)
    assert "title=cells-denoised [OOD]" in log, log  # synthetic spots, unlike the training data: flagged
    check_written(out, expected_for(sample_tif, model_2d))


def test_ij_run_in_non_headless_jvm_under_xvfb(imagej_dir, xvfb_run, model_2d, sample_tif, tmp_path):
    out = tmp_path / "ijrun-out.tif"
    opts = ijbridge.options_string(model_file=model_2d, tile=TILE, threads=2, save=out)
    run = ijbridge.ijrun.run([xvfb_run, "-a", sys.executable, str(HERE / "ij_run_child.py"), str(imagej_dir),
                              str(sample_tif), opts], what="IJ.run under Xvfb", timeout=180, watch_dialogs=True)
    log = run.log
    lines = [ln for ln in log.splitlines() if ln.startswith("{")]
    assert run.failure(expect_end=False) is None and lines, run.failure(expect_end=False) or log
    report = json.loads(lines[-1])
    assert report.get("title") == "cells-denoised [OOD]", log  # flagged, and no dialog: IJ.run passes options
    check_written(out, expected_for(sample_tif, model_2d))
