"""A 3D theoretical PSF has a bounded z extent (issue 15: a widefield PSF as deep as the stack made every block's halo
the whole volume): cropped to the span holding `psf_energy` of its light within the in-focus core, or to `psf_extent_um`;
the crop is said, never silent, and the streamed and in-memory paths use the same PSF."""

import re

import numpy as np
import pytest
from scipy.signal import fftconvolve
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.blocks import _spatial_windows
from fluorecon.core.io import TiffMeta, read_image, write_image
from fluorecon.imaging.psf import axial_energy_extent, psf_widefield
from fluorecon.tasks.deconvolve.classical import (DeconvolveSpec, build_psf, chunk_plan, deconvolve,
                                                  deconvolve_image, default_overlap)

# A tall thin stack: 400 planes of 1 µm (400 µm deep), 32² px of 0.1 µm.
META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=1.0)
SHAPE = (400, 32, 32)
OPTICS = {"na": 1.4, "wavelength_nm": 520}


@pytest.fixture(scope="module")
def tall():
    rng = np.random.default_rng(3)
    return (rng.random(SHAPE) * 50 + 10).astype(np.float32)


def test_tall_stack_streams_with_a_bounded_psf_and_equals_in_memory(tmp_path, tall):
    spec = DeconvolveSpec(method="rl", num_iter=2, stop="none", psf=OPTICS)
    report: dict = {}
    psf = build_psf(SHAPE, META, spec, report=report)
    # Before: 401 planes (the stack), so the halo was the whole stack. Now bounded, and so is every block.
    assert psf.shape[1:] == (31, 31) and 21 <= psf.shape[0] < 201, psf.shape
    halo = default_overlap(psf.shape, SHAPE, 2)
    assert halo[0] == (psf.shape[0] // 2) * 3
    plan = chunk_plan(SHAPE, "ZYX", "ZYX", 64, halo)
    assert plan.tiles.halo[0] == halo[0]
    assert max(len(_spatial_windows(plan, origin)[0][0]) for _, origin in plan.blocks()) < SHAPE[0]

    in_memory, info = deconvolve_image(tall, META, spec, chunks=64)
    shape_text = "×".join(map(str, psf.shape))
    assert f"psf crop: theoretical PSF cropped to {shape_text} (±{psf.shape[0] // 2} planes" in info
    assert f"psf: theoretical shape {psf.shape}" in info

    write_image(tmp_path / "in.zarr", tall, META)
    result = CliRunner().invoke(app, ["deconvolve", str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr"),
                                      "--method", "rl", "--num-iter", "2", "--stop", "none", "--na", "1.4",
                                      "--wavelength-nm", "520", "--chunks", "64"])
    assert result.exit_code == 0, result.output
    assert f"Note: theoretical PSF cropped to {shape_text}" in result.output
    out, meta = read_image(tmp_path / "out.zarr")
    assert f"psf crop: theoretical PSF cropped to {shape_text}" in meta.info
    assert np.abs(out - in_memory).max() <= 1e-5 * np.ptp(in_memory)


def test_energy_fraction_is_the_smallest_span_holding_it():
    kw = dict(OPTICS, pixel_size_nm=100.0, z_step_nm=1000.0, ni=1.515, ns=1.33)
    half, held = axial_energy_extent(0.99, max_half_planes=60, core_radius_px=10, **kw)
    # Independently: light per plane within the 21² core, summed over ±h planes.
    planes = psf_widefield((121, 21, 21), **kw).astype(np.float64).sum(axis=(1, 2))
    within = [planes[60 - h:61 + h].sum() / planes.sum() for h in (half - 1, half)]
    assert within[1] == pytest.approx(held, abs=1e-6)
    assert within[0] < 0.99 <= within[1] and half < 60
    # The light a widefield plane keeps in the core falls like 1/z² past the defocus cone, so the span stays bounded
    # as the stack deepens: three times deeper moves it by far less than three times.
    deeper, _ = axial_energy_extent(0.99, max_half_planes=180, core_radius_px=10, **kw)
    assert half <= deeper < 2 * half


def test_explicit_extent_and_energy_one_and_measured_psfs():
    report: dict = {}
    psf = build_psf(SHAPE, META, DeconvolveSpec(psf=OPTICS, psf_extent_um=10), report=report)
    assert psf.shape[0] == 11 and "z extent 10 µm (psf_extent_um)" in report["psf_crop"]
    report = {}
    assert build_psf((40, 32, 32), META, DeconvolveSpec(psf=OPTICS, psf_energy=1), report=report).shape[0] == 41
    assert "psf_crop" not in report
    bead = psf_widefield((61, 15, 15), pixel_size_nm=100.0, z_step_nm=1000.0, **OPTICS)
    report = {}
    measured = build_psf(SHAPE, META, DeconvolveSpec(), psf_image=bead, report=report)
    assert measured.shape == bead.shape and "psf_crop" not in report


def test_cropping_at_the_default_energy_costs_little():
    """The cost of the default crop (psf_energy 0.99), against the PSF as deep as the stack, on beads blurred by that
    PSF: mean difference below 1e-3 of the range (measured ~6e-4 on 400×32²; the maximum, at the beads, ~4e-2)."""
    rng = np.random.default_rng(0)
    shape, meta = (200, 32, 32), TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.2)
    full = build_psf(shape, meta, DeconvolveSpec(psf=OPTICS, psf_energy=1))
    cropped = build_psf(shape, meta, DeconvolveSpec(psf=OPTICS))
    assert cropped.shape[0] < full.shape[0] == 201
    truth = np.full(shape, 5, np.float32)
    truth[tuple(rng.integers(0, n, 100) for n in shape)] = 1000
    image = rng.poisson(np.clip(fftconvolve(truth, full, mode="same"), 0, None)).astype(np.float32)
    ref = deconvolve(image, full, method="rl", num_iter=10, device="cpu")
    out = deconvolve(image, cropped, method="rl", num_iter=10, device="cpu")
    assert np.abs(out - ref).mean() < 1e-3 * np.ptp(ref)
