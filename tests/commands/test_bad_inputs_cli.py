"""The CLI half of the bad-input matrix (issue 11 "Done when", issue 15): each awkward file through
`fluorecon predict`, `denoise-classical` and `deconvolve` ends in a clear one-paragraph message, no
Python traceback, no partial output file, and a non-zero exit where the run fails; where it succeeds
the output is complete and readable."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_image

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "vectors" / "tiny_unet2d.onnx"
runner = CliRunner()


def _plane(shape=(40, 40), dtype=np.float32):
    return (np.random.default_rng(0).random(shape) * 100).astype(dtype)


def _absurd(path: Path) -> None:
    """A small file whose header declares 200000 × 200000 pixels (40 GB as 8-bit)."""
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(200000)
        tif.pages[0].tags["ImageLength"].overwrite(200000)


def _truncated(path: Path) -> None:
    tifffile.imwrite(path, _plane((4, 40, 40)), imagej=True, metadata={"axes": "ZYX"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _mixed_pages(path: Path) -> None:
    with tifffile.TiffWriter(path) as tw:
        tw.write(_plane((40, 40)))
        tw.write(_plane((24, 32)))


# name -> (builder, "fail" or "ok", words the message must contain)
BAD_FILES = {
    "rgb.tif": (lambda p: tifffile.imwrite(p, _plane((40, 40, 3), np.uint8), photometric="rgb"), "fail", "RGB"),
    "nan.tif": (lambda p: tifffile.imwrite(p, np.where(_plane() > 50, np.nan, _plane())), "fail", "NaN"),
    "inf.tif": (lambda p: tifffile.imwrite(p, np.where(_plane() > 50, np.inf, _plane())), "fail", "NaN or infinite"),
    "one_pixel.tif": (lambda p: tifffile.imwrite(p, np.ones((1, 1), np.float32)), "fail", "too small|1 pixel"),
    "empty.tif": (lambda p: p.write_bytes(b""), "fail", "empty file"),
    "truncated.tif": (_truncated, "fail", "truncated"),
    "bool.tif": (lambda p: tifffile.imwrite(p, _plane() > 50), "ok", ""),
    "complex.tif": (lambda p: tifffile.imwrite(p, _plane().astype(np.complex64)), "fail", "complex"),
    "float64.tif": (lambda p: tifffile.imwrite(p, _plane().astype(np.float64)), "ok", ""),
    "bigtiff.tif": (lambda p: tifffile.imwrite(p, _plane(), bigtiff=True), "ok", ""),
    "mixed pages.tif": (_mixed_pages, "fail", "images of different sizes"),
    "absurd header.tif": (_absurd, "fail", "declares 200000 × 200000 pixels"),
    "name with spaces.tif": (lambda p: tifffile.imwrite(p, _plane()), "ok", ""),
    "not_a_tiff.tif": (lambda p: p.write_text("hello"), "fail", "not a TIFF"),
}

COMMANDS = {
    "predict": lambda i, o: ["predict", str(MODEL), str(i), str(o)],
    "denoise-classical": lambda i, o: ["denoise-classical", str(i), str(o)],
    "deconvolve": lambda i, o: ["deconvolve", str(i), str(o), "--method", "rl", "--num-iter", "2", "--na", "1.2",
                                "--wavelength-nm", "520", "--pixel-size-nm", "100"],
    # OME-Zarr output: the block-wise paths (core/streaming.py) read lazily and must refuse the same files
    "predict-zarr": lambda i, o: ["predict", str(MODEL), str(i), f"{o}.zarr"],
    "deconvolve-zarr": lambda i, o: ["deconvolve", str(i), f"{o}.zarr", "--method", "rl", "--num-iter", "2",
                                     "--na", "1.2", "--wavelength-nm", "520", "--pixel-size-nm", "100"],
}


def _check(result, out: Path, expect: str, words: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"uncaught {type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in result.output
    if expect == "fail":
        assert result.exit_code != 0, result.output
        assert not out.exists(), "partial output left behind"
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "temporary file left"
        message = result.output.strip()
        assert "Error" in message or "Invalid value" in message, message
        message = message[message.find("Error"):] if "Error" in message else message  # after any progress bar
        assert re.search(words, message), message
        assert message.count("\n\n") == 0 or "Usage" in message  # one paragraph
    else:
        assert result.exit_code == 0, result.output
        image, _ = read_image(out)
        assert np.isfinite(image).all()


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_input_file(tmp_path, command, name):
    build, expect, words = BAD_FILES[name]
    src = tmp_path / name
    build(src)
    out = tmp_path / "out dir" / f"result {name}"
    out.parent.mkdir()
    result = runner.invoke(app, COMMANDS[command](src, out))
    if command.endswith("-zarr"):
        out = out.with_name(out.name + ".zarr")
        if name == "absurd header.tif":  # lazily opened, the header's size is refused as data past the file's end
            words = "truncated"
    _check(result, out, expect, words)


def _model(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind} model.onnx"
    if kind == "corrupt":
        path.write_bytes(MODEL.read_bytes()[:2000])
    elif kind == "empty":
        path.write_bytes(b"")
    else:  # cardless: a valid ONNX graph without fluorecon's model card
        m = onnx.load(str(MODEL))
        del m.metadata_props[:]
        onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("kind,words", [("corrupt", "model"), ("empty", "model"), ("cardless", "card")])
@pytest.mark.parametrize("command", ["predict", "deconvolve"])
def test_bad_onnx_model(tmp_path, kind, words, command):
    src = tmp_path / "input.tif"
    tifffile.imwrite(src, _plane())
    model = _model(tmp_path, kind)
    out = tmp_path / "out.tif"
    args = (["predict", str(model), str(src), str(out)] if command == "predict" else
            ["deconvolve", str(src), str(out), "--method", "learned", "--model", str(model)])
    result = runner.invoke(app, args)
    _check(result, out, "fail", "")
    assert words in result.output.lower(), result.output


def test_pages_of_different_sizes_are_never_read_as_page_one(tmp_path):
    _mixed_pages(tmp_path / "m.tif")
    with pytest.raises(ValueError, match=r"2 images of different sizes or types \(40×40, 24×32\)"):
        read_image(tmp_path / "m.tif")


def test_absurd_header_is_refused_before_decoding(tmp_path, monkeypatch):
    _absurd(tmp_path / "a.tif")
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ValueError, match="more than this machine can hold"):
        read_image(tmp_path / "a.tif")


def test_real_process_prints_no_traceback(tmp_path):
    """One run through a real interpreter and the installed entry point's module, as a user runs it."""
    import subprocess
    import sys
    import os

    _absurd(tmp_path / "a b.tif")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    proc = subprocess.run([sys.executable, "-m", "fluorecon.cli", "denoise-classical", str(tmp_path / "a b.tif"),
                           str(tmp_path / "o.tif")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    assert "declares 200000 × 200000" in proc.stderr and not (tmp_path / "o.tif").exists()
