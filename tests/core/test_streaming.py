"""Larger than memory (issue 15 §3): `fluorecon predict|deconvolve IN OUT.zarr` reads lazily, works
block by block, writes OME-Zarr as it goes, and gives the in-memory path's result; an interrupted
run leaves no store that looks complete."""

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from typer.testing import CliRunner

import fluorecon.core.normalize as normalize
from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_image, write_image
from fluorecon.core.streaming import open_lazy, streaming_percentiles
from fluorecon.infer import predict_to_zarr
from fluorecon.tasks.deconvolve.streaming import deconvolve_to_zarr
from fluorecon.infer import get_predictor

MODEL = Path(__file__).resolve().parents[1] / "vectors" / "tiny_unet2d.onnx"
META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
runner = CliRunner()


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(0)
    return (rng.random((6, 300, 260)) * 100 + 20).astype(np.float32)


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_predict_block_wise_equals_in_memory(tmp_path, volume, suffix, monkeypatch):
    src = tmp_path / f"in{suffix}"
    write_image(src, volume, META)
    reference = get_predictor(MODEL).predict(volume, axes="ZYX", tile=128)
    # the in-memory reader now refuses the file: only the block-wise path can run
    monkeypatch.setenv("FLUORECON_MAX_INPUT_GB", str(volume.nbytes / 4 / 1e9))
    with pytest.raises(ValueError, match="OUT.zarr"):
        read_image(src)
    result = runner.invoke(app, ["predict", str(MODEL), str(src), str(tmp_path / "out.zarr"), "--tile", "128"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("FLUORECON_MAX_INPUT_GB")
    out, meta = read_image(tmp_path / "out.zarr")
    assert np.abs(out - reference).max() <= 1e-6 * np.ptp(reference)
    assert meta.axes == "ZYX" and meta.pixel_size_um == pytest.approx(0.1) and meta.z_step_um == pytest.approx(0.3)
    assert "model.sha256" in meta.info


@pytest.mark.slow
def test_block_wise_prediction_never_holds_the_volume(tmp_path):
    import tracemalloc

    # 42 MB: tile by tile, the working set is a few zarr chunks around one tile (about 8-9 MB measured,
    # whatever the volume's depth), so a third of the volume separates streaming from holding it.
    volume = (np.random.default_rng(1).random((40, 512, 512)) * 100).astype(np.float32)
    write_image(tmp_path / "in.zarr", volume, META)
    reference = get_predictor(MODEL).predict(volume, axes="ZYX", tile=256)
    del volume
    predictor = get_predictor(MODEL)
    with open_lazy(tmp_path / "in.zarr") as (data, meta):  # warm up: imports are not the volume
        predict_to_zarr(predictor, data[:1, :64, :64], meta, tmp_path / "warm.zarr", tile=256)
    with open_lazy(tmp_path / "in.zarr") as (data, meta):
        tracemalloc.start()
        predict_to_zarr(predictor, data, meta, tmp_path / "out.zarr", tile=256, block_bytes=0)  # tile by tile
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < reference.nbytes / 3, f"peak {peak / 1e6:.1f} MB for a {reference.nbytes / 1e6:.1f} MB volume"
    assert np.abs(read_image(tmp_path / "out.zarr")[0] - reference).max() <= 1e-6 * np.ptp(reference)


def test_deconvolve_block_wise_equals_in_memory_chunks(tmp_path, volume):
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams, deconvolve_image

    write_image(tmp_path / "in.zarr", volume, META)
    spec = DeconvolveSpec(method="rl", num_iter=4, psf=PSFParams(na=1.2, wavelength_nm=520))
    chunked, _ = deconvolve_image(volume, META, spec, chunks=128)
    result = runner.invoke(app, ["deconvolve", str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr"), "--method",
                                 "rl", "--num-iter", "4", "--na", "1.2", "--wavelength-nm", "520", "--chunks", "128"])
    assert result.exit_code == 0, result.output
    out, meta = read_image(tmp_path / "out.zarr")
    assert np.abs(out - chunked).max() <= 1e-5 * np.ptp(chunked)
    assert meta.pixel_size_um == pytest.approx(0.1) and "block-wise" in meta.info


def test_streaming_percentiles_match_the_subsampled_in_memory_ones(monkeypatch):
    x = np.random.default_rng(3).random((37, 50, 41)).astype(np.float32)
    monkeypatch.setattr(normalize, "MAX_SAMPLES", 997)  # force the strided subsample
    assert streaming_percentiles(da.from_array(x, chunks=(5, 50, 41)), 1, 99.8) == \
        normalize.percentile_range(x, 1, 99.8)


def test_interrupted_block_wise_run_leaves_no_store(tmp_path, volume):
    """Fault injection: the progress callback raises KeyboardInterrupt (as Ctrl-C would) after the third tile."""
    write_image(tmp_path / "in.zarr", volume, META)
    spec_calls = []

    def interrupt(done, total):
        spec_calls.append(done)
        if done == 3:
            raise KeyboardInterrupt

    with open_lazy(tmp_path / "in.zarr") as (data, meta), pytest.raises(KeyboardInterrupt):
        predict_to_zarr(get_predictor(MODEL), data, meta, tmp_path / "out.zarr", tile=128, progress=interrupt)
    assert spec_calls == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]


def test_uncalibrated_block_wise_deconvolution_stops_with_the_option(tmp_path, volume):
    write_image(tmp_path / "in.zarr", volume[:4, :64, :64], TiffMeta(axes="ZYX"))
    with open_lazy(tmp_path / "in.zarr") as (data, meta):
        from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams

        spec = DeconvolveSpec(method="rl", num_iter=2, psf=PSFParams(na=1.2, wavelength_nm=520))
        with pytest.raises(ValueError, match="--pixel-size-nm"):
            deconvolve_to_zarr(data, meta, spec, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()
