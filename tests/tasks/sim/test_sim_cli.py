"""`fluorecon sim` round trip through real TIFFs: simulate → estimate → reconstruct (pixel halved)."""

import csv
import re

import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff


def test_sim_cli_round_trip(tmp_path):
    runner = CliRunner()
    raw, out, qc, mcnr = (tmp_path / n for n in ("raw.tif", "out.tif", "qc.csv", "m.tif"))
    res = runner.invoke(app, ["sim", "simulate", str(raw), "--size", "128", "--order", "z-angle-phase",
                              "--photons", "800", "--pixel-size-nm", "80"])
    assert res.exit_code == 0, res.output
    frames, meta = read_tiff(raw)
    assert frames.shape == (9, 128, 128) and meta.pixel_size_um == pytest.approx(0.08)
    res = runner.invoke(app, ["sim", "estimate", str(raw), "--order", "z-angle-phase"])
    assert res.exit_code == 0, res.output
    assert "angle_deg" in res.output and len(res.output.strip().splitlines()) == 4
    res = runner.invoke(app, ["sim", "reconstruct", str(raw), str(out), "--order", "z-angle-phase", "--angles", "3",
                              "--phases", "3", "--qc-table", str(qc), "--modulation-map", str(mcnr)])
    assert res.exit_code == 0, res.output
    image, out_meta = read_tiff(out)
    assert image.shape == (256, 256)
    assert out_meta.pixel_size_um == pytest.approx(meta.pixel_size_um / 2)
    assert "sim_params" in out_meta.info
    rows = list(csv.DictReader(open(qc)))
    assert [round(float(r["angle_deg"])) for r in rows] == [8, 68, 128]
    assert all(abs(float(r["line_spacing_nm"]) - 210) < 2 for r in rows)
    assert read_tiff(mcnr)[0].shape == (128, 128)


def test_sim_cli_wrong_stack_size_is_a_clear_error(tmp_path):
    runner = CliRunner()
    raw = tmp_path / "raw.tif"
    assert runner.invoke(app, ["sim", "simulate", str(raw), "--size", "64"]).exit_code == 0
    res = runner.invoke(app, ["sim", "reconstruct", str(raw), str(tmp_path / "o.tif"), "--angles", "4"])
    assert res.exit_code != 0
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", res.output).split())  # rich wraps the message in a box
    assert "9 frames, which is not angles × phases × z = 4 × 3" in text and not (tmp_path / "o.tif").exists()


def test_sim_cli_measured_psf_file_is_resampled(tmp_path):
    """A PSF TIFF at 20 nm (half the reconstruction pixel) gives the same reconstruction as the model."""
    import numpy as np

    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.imaging.psf import psf_widefield

    runner = CliRunner()
    raw, psf_tif = tmp_path / "raw.tif", tmp_path / "psf.tif"
    assert runner.invoke(app, ["sim", "simulate", str(raw), "--size", "128", "--photons", "800"]).exit_code == 0
    psf = psf_widefield((95, 95), na=1.4, wavelength_nm=520, pixel_size_nm=20, ns=1.515)
    write_tiff(psf_tif, 1000 * psf / psf.max() + 10, TiffMeta(axes="YX", pixel_size_um=0.02))
    outs = []
    for extra in ([], ["--psf", str(psf_tif)]):
        out = tmp_path / f"out{len(extra)}.tif"
        res = runner.invoke(app, ["sim", "reconstruct", str(raw), str(out), *extra])
        assert res.exit_code == 0, res.output
        outs.append(read_tiff(out)[0])
    assert np.corrcoef(outs[0].ravel(), outs[1].ravel())[0, 1] > 0.98
