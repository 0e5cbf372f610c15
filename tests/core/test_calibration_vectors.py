"""Calibration in every unit and format: the shared vectors (written by ImageJ's FileSaver and by
tifffile, see scripts/make_calibration_vectors.py) read to the calibration their JSON states, in µm;
JUnit's CalibrationVectorsTest checks ImageJ's reading of the same files against the same JSON."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from fluorecon.core.io import TiffMeta, read_image, write_image
from fluorecon.core.units import UnitError, normalize_unit, to_nm, to_um

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "calibration"
CASES = json.loads((VECTORS / "calibration.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_vector_reads_to_its_stated_calibration(case):
    image, meta = read_image(VECTORS / case["file"])
    if case["pixel_size_um"] is None:
        assert meta.pixel_size_um is None and meta.unit == "pixel"
    else:
        assert meta.pixel_size_um == pytest.approx(case["pixel_size_um"], rel=1e-4)
        assert meta.unit == "micron"
    if case["z_step_um"] is None:
        assert meta.z_step_um is None
    else:
        assert meta.z_step_um == pytest.approx(case["z_step_um"], rel=1e-6)
    if "shape" in case:
        assert list(image.shape) == case["shape"] and meta.axes == case["axes"]


def test_every_imagej_unit_the_writers_produced_is_covered():
    units = {c.get("imagej_unit") for c in CASES}
    assert {"nm", "micron", "µm", "mm", "inch", "pixel"} <= units  # ImageJ stores "um" and "cm" files as µm


@pytest.mark.parametrize("unit,value,um", [("nm", 65, 0.065), ("µm", 0.065, 0.065), ("μm", 0.065, 0.065),
                                           ("\\u00B5m", 0.065, 0.065), ("micron", 0.065, 0.065),
                                           ("um", 0.065, 0.065), ("mm", 6.5e-5, 0.065), ("cm", 6.5e-6, 0.065),
                                           ("inch", 0.065 / 25400, 0.065), ("Å", 650, 0.065),
                                           ("nanometer", 65, 0.065), ("micrometer", 0.065, 0.065)])
def test_units_convert_to_micrometres(unit, value, um):
    assert to_um(value, unit) == pytest.approx(um, rel=1e-12)
    assert to_nm(value, unit) == pytest.approx(um * 1000, rel=1e-12)


def test_pixel_means_uncalibrated_and_unknown_units_are_refused_with_the_fix():
    assert normalize_unit("pixel") is None and to_um(1.0, "pixels") is None and to_um(1.0, None) is None
    with pytest.raises(UnitError, match="Image › Properties.*--pixel-size-nm"):
        to_um(1.0, "furlong")


def test_unknown_unit_in_a_tiff_is_a_clear_error(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((8, 8), np.float32), imagej=True, metadata={"unit": "furlong"},
                     resolution=(2.0, 2.0))
    with pytest.raises(ValueError, match="f.tif: Unknown length unit 'furlong'"):
        read_image(tmp_path / "f.tif")


@pytest.mark.parametrize("suffix", [".tif", ".ome.tif", ".zarr"])
@pytest.mark.parametrize("calibrated", [True, False])
def test_every_output_format_keeps_the_calibration_or_its_absence(tmp_path, suffix, calibrated):
    image = np.random.default_rng(1).random((2, 3, 20, 24)).astype(np.float32)
    meta = TiffMeta(axes="TZYX", pixel_size_um=0.065 if calibrated else None, z_step_um=0.2 if calibrated else None,
                    frame_interval_s=2.0, info="fluorecon test")
    write_image(tmp_path / f"out{suffix}", image, meta)
    back, m = read_image(tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(back, image)
    assert m.axes == "TZYX" and m.info == "fluorecon test" and m.frame_interval_s == pytest.approx(2.0)
    if calibrated:
        assert m.pixel_size_um == pytest.approx(0.065) and m.z_step_um == pytest.approx(0.2)
    else:
        assert m.pixel_size_um is None and m.z_step_um is None and m.unit == "pixel"


def test_uncalibrated_imagej_output_is_not_labelled_micron(tmp_path):
    write_image(tmp_path / "u.tif", np.zeros((8, 8), np.float32), TiffMeta(axes="YX"))
    with tifffile.TiffFile(tmp_path / "u.tif") as tif:
        assert "unit" not in tif.imagej_metadata


def test_ome_zarr_is_ngff_04_with_units_scales_and_a_pyramid(tmp_path):
    import zarr

    image = np.random.default_rng(2).random((3, 600, 520)).astype(np.float32)
    write_image(tmp_path / "v.zarr", image, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3))
    group = zarr.open_group(str(tmp_path / "v.zarr"), mode="r")
    ms = group.attrs["multiscales"][0]
    assert ms["version"] == "0.4"
    assert ms["axes"] == [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    assert scales[0] == pytest.approx([0.3, 0.1, 0.1]) and scales[1] == pytest.approx([0.3, 0.2, 0.2])
    assert group["1"].shape == (3, 300, 260)
    np.testing.assert_allclose(group["1"][0, 0, 0], image[0, :2, :2].mean(), rtol=1e-6)


def test_ome_zarr_in_nanometres_reads_as_micrometres(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / "nm.zarr"), mode="w", zarr_format=2)
    root.create_array("0", shape=(4, 16, 16), dtype="float32")[...] = 1.0
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a, "type": "space", "unit": "nanometer"}
                                                             for a in "zyx"],
                                  "datasets": [{"path": "0", "coordinateTransformations": [
                                      {"type": "scale", "scale": [250.0, 65.0, 65.0]}]}]}]
    _, meta = read_image(tmp_path / "nm.zarr")
    assert meta.pixel_size_um == pytest.approx(0.065) and meta.z_step_um == pytest.approx(0.25)


def test_png_and_jpeg_inputs_are_accepted_uncalibrated(tmp_path):
    from PIL import Image

    grey = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64)
    Image.fromarray(grey).save(tmp_path / "g.png", dpi=(300, 300))
    Image.fromarray(grey).save(tmp_path / "g.jpg", quality=95)
    image, meta = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(image, grey)
    assert meta.axes == "YX" and meta.pixel_size_um is None
    image, meta = read_image(tmp_path / "g.jpg")
    assert image.shape == (48, 64) and meta.pixel_size_um is None
    Image.fromarray(np.dstack([grey, grey[::-1], grey])).save(tmp_path / "c.png")
    with pytest.raises(ValueError, match="RGB"):
        read_image(tmp_path / "c.png")


def test_imagej_unit_with_one_pixel_per_unit_is_calibrated_as_imagej_reads_it(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((8, 8), np.float32), imagej=True, metadata={"unit": "micron"},
                     resolution=(1.0, 1.0))
    assert read_image(tmp_path / "one.tif")[1].pixel_size_um == 1.0
    tifffile.imwrite(tmp_path / "none.tif", np.zeros((8, 8), np.float32), resolution=(1.0, 1.0))
    assert read_image(tmp_path / "none.tif")[1].pixel_size_um is None
