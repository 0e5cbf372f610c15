"""Headless ImageJ1 through net.imagej:ij1-patcher, the way Fiji's --headless runs macros
(DESIGN.md: plain ImageJ1 with java.awt.headless=true cannot run menu commands; the patcher can)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ijbridge
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from ijbridge import TILE, assert_matches, noisy_planes, python_reference

HERE = Path(__file__).parent


def test_macro_headless_through_ij1_patcher(imagej_dir, model_2d, tmp_path):
    stack = noisy_planes((2, 64, 72), seed=21)
    sample = tmp_path / "stack.tif"
    write_tiff(sample, stack, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.4))
    out = tmp_path / "patcher-out.tif"
    opts = ijbridge.options_string(model_file=model_2d, tile=TILE, threads=2, save=out)
    macro = tmp_path / "denoise.ijm"
    macro.write_text(f'open("{sample}");\nrun("Denoise...", "{opts}");\n')
    run = ijbridge.ijrun.run(ijbridge.ijrun.headless_command(imagej_dir, [macro], heap="2g"),
                             what="headless denoise.ijm", timeout=180)
    log = run.log
    assert run.failure(expect_end=False) is None, run.failure(expect_end=False)
    assert out.is_file(), f"headless macro wrote nothing:\n{log}"
    result, meta = read_tiff(out)
    assert meta.axes == "ZYX" and meta.z_step_um == pytest.approx(0.4)
    expected = python_reference(stack[None, :, None], model_2d)[0, :, 0]
    assert_matches(result.astype(np.float32), expected)
