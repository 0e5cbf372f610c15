"""One block plan for predict, deconvolve and denoise-classical (issue 15 §3–4): the streamed path equals the
in-memory one, a fault in a block leaves no output, and a dask.distributed cluster gives the same result."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.blocks import plan_blocks, read_block, run_blocks
from fluorecon.core.io import TiffMeta, read_image, write_image
from fluorecon.core.tiling import predict_tiled
from fluorecon.infer import get_predictor

MODEL = Path(__file__).resolve().parents[1] / "vectors" / "tiny_unet2d.onnx"
META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
runner = CliRunner()


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(5)
    return (rng.poisson(40, (4, 96, 80)) + 100).astype(np.float32)


def test_reflect_blocks_are_the_tiling_contract():
    """run_blocks with the identity-plus-offset block function stitches what predict_tiled stitches."""
    image = np.random.default_rng(0).random((2, 37, 45)).astype(np.float32)
    plan = plan_blocks(image.shape, "CYX", "YX", tile=24, halo=4, multiple=4)
    out = np.empty_like(image)
    run_blocks(image, plan, lambda block, lead: np.cumsum(block, axis=0), out)
    for c in range(2):
        expected = predict_tiled(lambda t: np.cumsum(t, axis=2), image[c][None], plan.tiles)[0]
        np.testing.assert_array_equal(out[c], expected)


def test_clipped_blocks_read_only_the_image():
    image = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    plan = plan_blocks(image.shape, "YX", "YX", tile=[14, 14], halo=2, multiple=1, border="none")
    first = read_block(image, plan, (), (0, 0))
    np.testing.assert_array_equal(first, image[:12, :12])  # core 10 + halo 2 on the inside only
    out = np.zeros_like(image)
    run_blocks(image, plan, lambda block, lead: block, out)
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("method", ["nlm", "gaussian"])
def test_denoise_classical_block_wise_equals_in_memory(tmp_path, volume, method):
    write_image(tmp_path / "in.tif", volume, META)
    assert runner.invoke(app, ["denoise-classical", str(tmp_path / "in.tif"), str(tmp_path / "mem.tif"),
                               "--method", method]).exit_code == 0
    result = runner.invoke(app, ["denoise-classical", str(tmp_path / "in.tif"), str(tmp_path / "out.zarr"),
                                 "--method", method])
    assert result.exit_code == 0, result.output
    assert "block-wise" in result.output
    streamed, meta = read_image(tmp_path / "out.zarr")
    in_memory = read_image(tmp_path / "mem.tif")[0]
    np.testing.assert_array_equal(streamed, in_memory)  # deterministic methods: exactly equal
    assert meta.z_step_um == pytest.approx(0.3) and not np.array_equal(in_memory, volume)


def test_input_too_big_for_memory_streams_into_a_contiguous_tiff(tmp_path, volume, monkeypatch):
    """A TIFF over the in-memory limit is read lazily and written block by block into an ImageJ TIFF whose
    planes are contiguous and uncompressed (what ImageJ needs to open it as a virtual stack)."""
    write_image(tmp_path / "in.tif", volume, META)
    reference = get_predictor(MODEL).predict(volume, axes="ZYX", tile=64)
    monkeypatch.setenv("FLUORECON_MAX_INPUT_GB", str(volume.nbytes / 4 / 1e9))
    result = runner.invoke(app, ["predict", str(MODEL), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                 "--tile", "64"])
    assert result.exit_code == 0, result.output
    assert "block-wise" in result.output
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_imagej and tif.series[0].dataoffset is not None  # contiguous: memory-mappable
        assert tif.pages[0].compression == 1 and tif.imagej_metadata["spacing"] == pytest.approx(0.3)
        out = tif.asarray()
    np.testing.assert_array_equal(out, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_fault_in_a_block_leaves_no_output(tmp_path, volume, monkeypatch):
    """Fault injection: the deconvolution of the third block raises; neither OUT.zarr nor its temporary store
    remains, so nothing half-written can be mistaken for a result."""
    import fluorecon.tasks.deconvolve.classical as classical

    write_image(tmp_path / "in.zarr", volume, META)
    calls, real = [], classical._run_method

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected fault in block 3")
        return real(*args, **kwargs)

    monkeypatch.setattr(classical, "_run_method", failing)
    monkeypatch.setenv("FLUORECON_MAX_INPUT_GB", str(volume.nbytes / 4 / 1e9))  # the TIFF output streams too
    for out in ("out.zarr", "out.tif"):
        result = runner.invoke(app, ["deconvolve", str(tmp_path / "in.zarr"), str(tmp_path / out), "--method", "rl",
                                     "--num-iter", "2", "--na", "1.2", "--wavelength-nm", "520", "--chunks", "32"])
        assert result.exit_code == 2 and "injected fault in block 3" in result.output
        calls.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]


@pytest.mark.slow
def test_dask_cluster_gives_the_local_result(tmp_path, volume):
    """--dask-scheduler: the same block plan on a LocalCluster of 2 worker processes, for all three commands."""
    from distributed import LocalCluster

    write_image(tmp_path / "in.zarr", volume, META)
    commands = {
        "predict": ["predict", str(MODEL), str(tmp_path / "in.zarr"), "{out}", "--tile", "64"],
        "deconvolve": ["deconvolve", str(tmp_path / "in.zarr"), "{out}", "--method", "rl", "--num-iter", "3",
                       "--na", "1.2", "--wavelength-nm", "520", "--chunks", "40", "--device", "cpu"],
        "denoise": ["denoise-classical", str(tmp_path / "in.zarr"), "{out}", "--method", "nlm"],
    }
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for name, args in commands.items():
            local, remote = tmp_path / f"{name}-local.zarr", tmp_path / f"{name}-dask.zarr"
            assert runner.invoke(app, [a.format(out=local) for a in args]).exit_code == 0
            result = runner.invoke(app, [a.format(out=remote) for a in args] +
                                   ["--dask-scheduler", cluster.scheduler_address])
            assert result.exit_code == 0, result.output
            a, b = read_image(local)[0], read_image(remote)[0]
            assert np.abs(a - b).max() <= 1e-6 * np.ptp(a), name


@pytest.mark.parametrize("max_bytes, reads", [(None, "once"), (0, "again")])
def test_chunk_cache_reads_each_input_chunk_once(tmp_path, volume, max_bytes, reads):
    # Neighbouring blocks share their halos: through open_lazy's chunk cache each stored chunk is read and decoded
    # once; without it (max_bytes 0) every block reads its halo's chunks again. The result is the same.
    import dask.array as da
    import zarr

    from fluorecon.core.streaming import ChunkCache
    from fluorecon.tasks.deconvolve.classical import chunk_plan

    stored = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=volume.shape, chunks=(2, 64, 64), dtype="f4")
    stored[:] = volume
    cache = ChunkCache(stored) if max_bytes is None else ChunkCache(stored, max_bytes=max_bytes)
    source = da.from_array(cache, chunks=stored.chunks, asarray=False)
    plan = chunk_plan(volume.shape, "ZYX", "ZYX", 64, (1, 16, 16))
    out = np.empty(volume.shape, np.float32)
    run_blocks(source, plan, lambda block, lead: block, out)
    np.testing.assert_array_equal(out, volume)
    chunks = int(np.prod([-(-n // c) for n, c in zip(volume.shape, stored.chunks)]))
    assert (cache.reads == chunks) if reads == "once" else (cache.reads > 2 * chunks), cache.reads
