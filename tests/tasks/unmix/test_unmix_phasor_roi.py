"""The phasor vector that JUnit also checks, `fluorecon phasor` (plot, mask, maps), and unmixing
with measured spectra (UnmixSpec.mixing + label_names + per-channel background, CLI --background)."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.tasks.unmix import classical as U

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def test_phasor_vector_reproduces():
    data = json.loads((VECTORS / "phasor.json").read_text())
    image = np.asarray(data["image"], np.float32).reshape(data["shape"])
    for case in data["cases"]:
        g, s, intensity = U.phasor(image, harmonic=case["harmonic"], offset=case["offset"])
        as_array = lambda v: np.array([np.nan if x is None else x for x in v], np.float32)  # noqa: E731
        np.testing.assert_array_equal(g.ravel(), as_array(case["g"]))
        np.testing.assert_array_equal(s.ravel(), as_array(case["s"]))
        assert np.isnan(g[0, :4]).all()  # the dark pixels
        plot = U.phasor_plot(g, s, intensity=intensity, threshold=case["threshold"], bins=case["bins"])
        np.testing.assert_array_equal(plot.ravel(), np.float32(case["plot_log_circle"]))
        # the polygon drawn on the plot (ImageJ coordinates) selects what phasor space says it does
        bins = case["bins"]
        vertices = [(x * 2 / bins - 1, 1 - y * 2 / bins) for x, y in case["polygon_xy"]]
        mask = U.phasor_mask(g, s, vertices) & (intensity > case["threshold"])
        assert mask.ravel().astype(int).tolist() == case["mask"]
        rows, cols = U.phasor_to_plot_pixels(g[mask], s[mask], bins=bins)
        from matplotlib.path import Path as PolyPath

        assert PolyPath(case["polygon_xy"]).contains_points(np.stack([cols + 0.5, rows + 0.5], 1)).all()


def test_cli_phasor_writes_plot_mask_and_maps(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.poisson(40, (2, 8, 16, 20)).astype(np.float32)  # Z C Y X
    image[:, 1, :8] += 300  # a bright "label" in channel 2, top half
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="ZCYX", pixel_size_um=0.2, z_step_um=0.5))
    g, s, intensity = U.phasor(np.moveaxis(image, 1, 0), offset=10)
    centre = float(np.nanmean(g[:, :8])), float(np.nanmean(s[:, :8]))
    r = _cli("phasor", tmp_path / "in.tif", tmp_path / "plot.tif", "--background", 10, "--bins", 64, "--threshold", 1,
             "--roi", f"{centre[0]},{centre[1]},0.08", "--mask", tmp_path / "mask.tif", "--maps", tmp_path / "maps.tif")
    assert r.exit_code == 0, r.output
    plot = tifffile.imread(tmp_path / "plot.tif")
    np.testing.assert_array_equal(plot, U.phasor_plot(g, s, intensity=intensity, threshold=1, bins=64))
    mask, meta = read_tiff(tmp_path / "mask.tif")
    assert meta.axes == "ZYX" and mask.dtype == np.uint8 and meta.pixel_size_um == pytest.approx(0.2)
    assert (mask[:, :8] == 255).mean() > 0.95 and (mask[:, 8:] == 255).mean() < 0.05
    maps, meta = read_tiff(tmp_path / "maps.tif")
    assert meta.axes == "ZCYX" and maps.shape == (2, 3, 16, 20)
    np.testing.assert_array_equal(maps[:, 0], g)
    bad = _cli("phasor", tmp_path / "in.tif", tmp_path / "p.tif", "--roi", "0,0;1,1", "--mask", tmp_path / "m.tif")
    words = " ".join(bad.output.replace("│", " ").split())
    assert bad.exit_code != 0 and "3 vertices" in words, words


def test_measured_spectra_with_names_and_background(tmp_path):
    rng = np.random.default_rng(4)
    mixing = np.array([[0.6, 0.1], [0.3, 0.3], [0.1, 0.6]], np.float32)
    truth = rng.uniform(0, 200, (2, 12, 14)).astype(np.float32)
    background = np.array([7.0, 9.0, 4.0], np.float32)
    image = np.tensordot(mixing, truth, axes=([1], [0])) + 100 + background[:, None, None]
    spec = U.UnmixSpec(mixing=mixing.tolist(), label_names=["nucleus", "membrane"], background=background.tolist(),
                       offset=100)
    meta = TiffMeta(axes="CYX")
    out, axes, info = U.run_job(image, meta, spec)
    np.testing.assert_allclose(out, truth, atol=1e-2)
    assert "channels = nucleus,membrane" in info
    # the CLI, given the same spectra and background, gives the same numbers
    write_tiff(tmp_path / "in.tif", image, meta)
    (tmp_path / "m.json").write_text(json.dumps(mixing.tolist()))
    r = _cli("unmix", tmp_path / "in.tif", tmp_path / "out.tif", "--mixing", tmp_path / "m.json",
             "--background", ",".join(str(100 + v) for v in background))  # offset + per-channel background
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(tifffile.imread(tmp_path / "out.tif"), out, atol=1e-5)
    with pytest.raises(ValueError, match="label_names has 1 names but mixing has 2"):
        U.UnmixSpec(mixing=mixing.tolist(), label_names=["x"])
    with pytest.raises(ValueError, match="background has 2 values but the image has 3 channels"):
        U.check_job(image, "CYX", U.UnmixSpec(mixing=mixing.tolist(), background=[1.0, 2.0]))
