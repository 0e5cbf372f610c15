import numpy as np
import pytest
import tifffile

from fluorecon.core.io import TiffError, TiffMeta, read_tiff, write_tiff


def test_hyperstack_round_trip_keeps_axes_and_calibration(tmp_path):
    image = np.random.default_rng(0).random((2, 3, 2, 16, 20)).astype(np.float32)
    meta = TiffMeta(axes="TZCYX", pixel_size_um=0.065, z_step_um=0.25, frame_interval_s=1.5)
    write_tiff(tmp_path / "x.tif", image, meta, info="model=care")
    back, m = read_tiff(tmp_path / "x.tif")
    np.testing.assert_array_equal(back, image)
    assert m.axes == "TZCYX" and m.pixel_size_um == pytest.approx(0.065) and m.z_step_um == pytest.approx(0.25)
    assert m.frame_interval_s == pytest.approx(1.5) and "model=care" in m.info


def test_imagej_can_read_what_we_write_as_calibrated_stack(tmp_path):
    write_tiff(tmp_path / "z.tif", np.zeros((4, 8, 8), np.uint16), TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.5))
    with tifffile.TiffFile(tmp_path / "z.tif") as tif:
        assert tif.is_imagej and tif.imagej_metadata["spacing"] == 0.5 and tif.imagej_metadata["slices"] == 4


def test_bad_inputs_get_clear_errors(tmp_path):
    with pytest.raises(TiffError, match="not found"):
        read_tiff(tmp_path / "missing.tif")
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + b"\xff" * 20)
    with pytest.raises(TiffError, match="Cannot read"):
        read_tiff(tmp_path / "corrupt.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(TiffError, match="RGB.*32-bit"):
        read_tiff(tmp_path / "rgb.tif")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def fail_halfway(path, *args, **kwargs):  # the disk fills up after some bytes
        open(path, "wb").write(b"II*\x00partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", fail_halfway)
    with pytest.raises(OSError, match="No space"):
        write_tiff(tmp_path / "out.tif", np.zeros((4, 4), np.float32), TiffMeta(axes="YX"))
    assert list(tmp_path.iterdir()) == []
