"""Awkward input files for the macro matrix (test_macro_bad_inputs.py), built on the spot.

Every case is a file a user might hand to `open(...); run("Denoise...", ...)`: what ImageJ's own
opener makes of it decides whether the plugin ever sees it, so each case names the outcome the
matrix expects:

- ``ok``: the plugin runs and writes its output;
- ``plugin``: the plugin refuses it with a message matching ``expect`` (a regular expression);
- ``opener``: ImageJ's opener cannot read it, so the plugin never sees it: either the plugin finds
  no image and names ImageJ's own error, or (the opener ran out of memory) the harness reports that
  the macro stopped before its end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


DEFAULT_MODEL = "care_denoise_2d.onnx"


@dataclass(frozen=True)
class Case:
    name: str
    image: str  # file name in the fixture folder
    outcome: str  # ok | plugin | opener
    expect: str = ""  # regex the plugin's Log line must match (outcome "plugin")
    model: str = "care_denoise_2d.onnx"  # model file name in the fixture folder (default: the shipped model)
    options: dict = field(default_factory=dict)  # extra Denoise... options, or all options of another command
    command: str = "Denoise..."
    before: str | None = None  # an image the macro opens first (still current when the case's open() fails)


def _smooth(shape, seed=3, dtype=np.uint16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.poisson(200, shape) + 100).astype(dtype)


def write_inputs(folder: Path, shipped_model: Path) -> None:
    """Write every input and model file the cases name into ``folder``."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / "good.tif", _smooth((64, 72)))
    tifffile.imwrite(folder / "my cells.tif", _smooth((64, 72), seed=4))
    tifffile.imwrite(folder / "calibrated.tif", _smooth((64, 72), seed=5), imagej=True, resolution=(10.0, 10.0),
                     metadata={"unit": "micron"})
    tifffile.imwrite(folder / "rgb.tif", _smooth((48, 48, 3), dtype=np.uint8), photometric="rgb")
    nan = _smooth((48, 48)).astype(np.float32)
    nan[5, 7], nan[9, 9] = np.nan, np.inf
    tifffile.imwrite(folder / "nan_inf.tif", nan)
    tifffile.imwrite(folder / "one_pixel.tif", np.array([[7]], np.uint16))
    (folder / "empty.tif").write_bytes(b"")
    full = folder / "full.tif"
    tifffile.imwrite(full, _smooth((256, 256)))
    (folder / "truncated.tif").write_bytes(full.read_bytes()[:4096])
    full.unlink()
    tifffile.imwrite(folder / "bool.tif", (_smooth((48, 48)) > 300))  # 1-bit bilevel TIFF
    tifffile.imwrite(folder / "float64.tif", _smooth((48, 56)).astype(np.float64))
    tifffile.imwrite(folder / "complex.tif", _smooth((32, 32)).astype(np.complex64))
    tifffile.imwrite(folder / "bigtiff.tif", _smooth((48, 56)), bigtiff=True)
    with tifffile.TiffWriter(folder / "pages_differ.tif") as tif:
        tif.write(_smooth((64, 64)))
        tif.write(_smooth((32, 40)))
    (folder / "absurd_header.tif").write_bytes(absurd_header_tiff(40000, 40000))
    # models
    (folder / "empty.onnx").write_bytes(b"")
    (folder / "corrupt.onnx").write_bytes(b"\x08\x07\x12\x04this is not a model" * 50)
    _cardless(shipped_model, folder / "cardless.onnx")
    import shutil

    shutil.copy2(shipped_model, folder / "my model.onnx")
    shutil.copy2(shipped_model, folder / DEFAULT_MODEL)


def absurd_header_tiff(width: int, height: int) -> bytes:
    """A 1-strip 16-bit TIFF whose header declares ``width`` × ``height`` but holds 16 bytes of pixels."""
    entries = [  # tag, type, count, value (SHORT=3, LONG=4)
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height * 2),
    ]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = data_offset
        fmt = "<HHIHH" if typ == 3 else "<HHII"
        out += struct.pack(fmt, tag, typ, count, value, 0) if typ == 3 else struct.pack(fmt, tag, typ, count, value)
    out += struct.pack("<I", 0)
    out += bytes(16)
    return bytes(out)


def _cardless(src: Path, dst: Path) -> None:
    import onnx

    model = onnx.load(str(src))
    del model.metadata_props[:]
    onnx.save(model, str(dst))


OPENER_FAILED = r"No image is open; open an image first\. \(ImageJ's last error: .*(not supported|Unsupported format)"

CASES: list[Case] = [
    Case("ok", "good.tif", "ok"),
    Case("spaces", "my cells.tif", "ok", model="my model.onnx"),
    Case("rgb", "rgb.tif", "plugin", r"Image is RGB; convert it with Image › Type › 32-bit first\."),
    Case("nan_inf", "nan_inf.tif", "plugin", r"has NaN or infinite pixels \(first at x=7, y=5, slice 1\)"),
    Case("one_pixel", "one_pixel.tif", "plugin", r"is 1 pixels in height \(Y\), smaller than the model's tile multiple"),
    Case("bool", "bool.tif", "plugin", r"File 'bool\.tif' is a 1-bit \(black-and-white\) image"),
    Case("pages_differ", "pages_differ.tif", "plugin", r"has 2 pages of different sizes .*ImageJ opened page 1 only"),
    Case("truncated", "truncated.tif", "plugin", r"File 'truncated\.tif' is 4096 bytes .* the file was cut off"),
    Case("empty_onnx", "good.tif", "plugin", r"Model file .*empty\.onnx is empty \(0 bytes\); re-download", model="empty.onnx"),
    Case("corrupt_onnx", "good.tif", "plugin",
         r"Model file .*corrupt\.onnx is not a readable ONNX model \(Protobuf parsing failed\.\); re-download",
         model="corrupt.onnx"),
    Case("cardless_onnx", "good.tif", "plugin", r"Model has no fluorecon card \(metadata key 'fluorecon\.format'",
         model="cardless.onnx"),
    Case("missing_model", "good.tif", "plugin", r"Model file not found: .*missing\.onnx", model="missing.onnx"),
    Case("small_tile", "good.tif", "plugin", r"tile = 8 is too small for this model: .* at least 52 px",
         options={"tile": 8}),
    # ImageJ 1.54p's opener reads none of these; the plugin then finds no image and names ImageJ's error
    Case("empty_file", "empty.tif", "opener", OPENER_FAILED),
    Case("complex", "complex.tif", "opener", OPENER_FAILED),
    Case("float64", "float64.tif", "opener", OPENER_FAILED),
    Case("bigtiff", "bigtiff.tif", "opener", OPENER_FAILED),
    # a server-backed command with the server down (the config names a port nobody listens on)
    Case("server_down", "calibrated.tif", "plugin", r"The fluorecon server is not running at http://127\.0\.0\.1:",
         command="Deconvolve...", options={"method": "rl", "iterations": 5, "psf": "theoretical", "na": 1.4,
                                           "wavelength_nm": 520, "ni": 1.515, "ns": 1.33}),
    # in -batch and headless macros a failed open() does not stop the macro: the image opened before
    # is still current, and the command must not process it in the failed file's place
    Case("open_failed_after_another", "empty.tif", "plugin",
         r"ImageJ could not open 'empty\.tif' \(.*\), so the current image is still 'good\.tif'", before="good.tif"),
    # the opener runs out of memory before the plugin runs: only the harness can say so
    Case("absurd_header", "absurd_header.tif", "opener", r"OutOfMemoryError|stopped before its end"),
]
