"""Image reading and writing, with calibration converted to micrometres whatever unit the file states.

One reader (:func:`read_image`, alias :func:`read_tiff`) and one writer (:func:`write_image`, alias
:func:`write_tiff`) for every fluorecon command and the server:

- reads ImageJ hyperstack TIFF, OME-TIFF, plain TIFF/BigTIFF (tifffile), OME-Zarr (NGFF 0.4 and 0.5,
  zarr) and PNG/JPEG (Pillow; always uncalibrated);
- physical sizes come from ImageJ's ``unit``/``spacing``, the TIFF ResolutionUnit tag or OME's
  ``PhysicalSize*``/``PhysicalSize*Unit`` and are converted through :mod:`fluorecon.core.units`;
  an uncalibrated image reads as ``pixel_size_um=None`` (never as "1 micron");
- refuses, before decoding, what cannot be used: a header declaring more than memory allows,
  truncated data, several images of different sizes in one file, RGB, complex values;
- writes by suffix: ``.zarr`` → OME-Zarr (NGFF 0.4: multiscales, axes with units, scale transforms),
  ``.ome.tif``/``.ome.tiff`` → OME-TIFF, anything else → ImageJ hyperstack TIFF. Calibration is kept in
  every format; an uncalibrated image is written uncalibrated. Writes are atomic: a failed run leaves
  no partial output file or store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tifffile

from fluorecon.core.atomic import atomic_path
from fluorecon.core.units import UnitError, normalize_unit, to_um

__all__ = ["IMAGEJ_AXES", "TiffMeta", "ImageMeta", "TiffError", "TiffUnitError", "ImageError", "read_image", "read_tiff",
           "write_image", "write_tiff", "image_format", "max_input_bytes", "require_pixel_size_nm",
           "UNCALIBRATED_HELP"]

IMAGEJ_AXES = "TZCYX"
UNCALIBRATED_HELP = ("give it with --pixel-size-nm (and --z-step-nm for a stack), or set it in Fiji with "
                     "Image › Properties… and save the image again")


@dataclass
class TiffMeta:
    """Axes and calibration of an image. Physical sizes are in micrometres (None: not calibrated)."""

    axes: str = "YX"
    pixel_size_um: float | None = None
    z_step_um: float | None = None
    unit: str = "micron"  # unit written to ImageJ files when calibrated; read images say "micron" or "pixel"
    frame_interval_s: float | None = None
    info: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def calibrated(self) -> bool:
        return bool(self.pixel_size_um)

    @property
    def pixel_size_nm(self) -> float | None:
        return self.pixel_size_um * 1000.0 if self.pixel_size_um else None

    @property
    def z_step_nm(self) -> float | None:
        return self.z_step_um * 1000.0 if self.z_step_um else None


ImageMeta = TiffMeta


class TiffError(ValueError):
    """An image file that cannot be used as input, with the reason in words."""


ImageError = TiffError


class TiffUnitError(TiffError, UnitError):
    """A file calibrated in a unit that is not a known length (the server answers 422)."""


def require_pixel_size_nm(meta: TiffMeta, given: float | None, *, what: str, name: str = "The image") -> float:
    """The lateral pixel size in nm for a physics-based task: `given` (a CLI option) or the calibration.

    Raises ValueError naming the option when neither says it: no physics on a guessed pixel size.
    """
    if given is not None:
        if not given > 0:
            raise ValueError(f"--pixel-size-nm must be positive, got {given}.")
        return float(given)
    if meta.pixel_size_nm:
        return float(meta.pixel_size_nm)
    raise ValueError(f"{name} has no pixel size (uncalibrated), and {what} depends on it: {UNCALIBRATED_HELP}.")


# --- limits -------------------------------------------------------------------------------------

def max_input_bytes() -> int:
    """Largest decoded input accepted: FLUORECON_MAX_INPUT_GB, else half the machine's memory."""
    env = os.environ.get("FLUORECON_MAX_INPUT_GB")
    if env:
        return int(float(env) * 1e9)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):
        return 8 * 10**9


def _check_declared(path: Path, shape: tuple[int, ...], dtype: np.dtype, max_bytes: int | None) -> None:
    """Refuse from the header alone: empty, complex, or larger than memory allows (float32 working copy)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise TiffError(f"{path.name} holds complex values ({dtype}); fluorecon needs real intensities: save the "
                        "magnitude (or real part) as a 32-bit image.")
    if dtype.kind not in "uifb":
        raise TiffError(f"{path.name} has pixel type {dtype} that is not a grey level; save it as 8, 16 or 32-bit.")
    count = int(np.prod(shape, dtype=np.float64)) if shape else 0
    if count == 0:
        raise TiffError(f"{path.name} is empty (shape {tuple(shape)}).")
    limit = max_input_bytes() if max_bytes is None else max_bytes
    need = count * max(dtype.itemsize, 4)
    if need > limit:
        raise TiffError(f"{path.name} declares {' × '.join(map(str, shape))} pixels of {dtype} "
                        f"({need / 1e9:.3g} GB as 32-bit), more than this machine can hold "
                        f"(limit {limit / 1e9:.3g} GB). If the file is what it declares, write the result as OME-Zarr "
                        "(OUT.zarr: predict and deconvolve then work block by block), crop or bin it, or raise "
                        "FLUORECON_MAX_INPUT_GB; if not, its header is corrupt.")


# --- reading ------------------------------------------------------------------------------------

def image_format(path: str | os.PathLike) -> str:
    """'zarr', 'ome-tiff', 'tiff', 'png' or 'jpeg' from the file name."""
    name = Path(path).name.lower().rstrip("/")
    if name.endswith((".zarr", ".ome.zarr")):
        return "zarr"
    if name.endswith((".ome.tif", ".ome.tiff", ".ome.btf")):
        return "ome-tiff"
    if name.endswith(".png"):
        return "png"
    if name.endswith((".jpg", ".jpeg")):
        return "jpeg"
    return "tiff"


def read_image(path: str | os.PathLike, *, max_bytes: int | None = None) -> tuple[np.ndarray, TiffMeta]:
    """Read an image into an array with ImageJ-order axes (a subset of TZCYX) and its calibration in µm.

    TIFF (ImageJ, OME, plain, BigTIFF), OME-Zarr and PNG/JPEG; the format is read from the file itself
    for TIFFs and from the name for the others. Raises TiffError (a ValueError) with the reason in words.
    """
    path = Path(path)
    fmt = image_format(path)
    if fmt == "zarr":
        if not path.is_dir():
            raise TiffError(f"Input not found: {path} (an OME-Zarr store is a folder).")
        image, axes, meta = _read_zarr(path, max_bytes)
    elif sniff(path) == "tiff":
        image, axes, meta = _read_tiff(path, max_bytes)
    else:
        image, axes, meta = _read_pillow(path, max_bytes)
    return _finish(path, image, axes, meta)


def sniff(path: Path) -> str:
    """'tiff' or 'pillow' (PNG/JPEG) from a file's first bytes; TiffError for a missing, empty or other file."""
    if not path.is_file():
        raise TiffError(f"Input file not found: {path}")
    if path.stat().st_size == 0:
        raise TiffError(f"{path.name} is an empty file (0 bytes).")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x89PNG") or head[:3] == b"\xff\xd8\xff":
        return "pillow"
    raise TiffError(f"{path.name} is not a TIFF, OME-TIFF, PNG or JPEG file (it starts with {head[:4]!r}); "
                    "save it as TIFF from Fiji (File › Save As › Tiff…).")


read_tiff = read_image


def _finish(path: Path, image: np.ndarray, axes: str, meta: TiffMeta) -> tuple[np.ndarray, TiffMeta]:
    if "S" in axes and image.shape[axes.index("S")] in (3, 4):
        raise TiffError(f"{path.name} is an RGB image; convert it with Image › Type › 32-bit first.")
    if "S" in axes and image.shape[axes.index("S")] == 1:
        image = np.take(image, 0, axis=axes.index("S"))
        axes = axes.replace("S", "")
    if image.size == 0:
        raise TiffError(f"{path.name} is empty (shape {image.shape}).")
    if image.dtype == bool:  # a 1-bit mask: ImageJ opens it as 8-bit 0/255
        image = image.astype(np.uint8) * np.uint8(255)
    # tifffile names unknown axes Q/I; ImageJ stacks them as slices.
    axes = axes.upper().replace("I", "Z").replace("Q", "Z")
    if len(set(axes)) != len(axes) or any(a not in IMAGEJ_AXES for a in axes):
        raise TiffError(f"{path.name} has axes {axes!r} that fluorecon cannot map to ImageJ's TZCYX.")
    order = sorted(range(len(axes)), key=lambda i: IMAGEJ_AXES.index(axes[i]))
    image = np.transpose(image, order)
    meta.axes = "".join(axes[i] for i in order)
    meta.unit = "micron" if meta.pixel_size_um else "pixel"
    return image, meta


@contextlib.contextmanager
def _quiet_tifffile():
    """tifffile logs format complaints itself; fluorecon turns them into one message instead."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_tiff(path: Path, max_bytes: int | None) -> tuple[np.ndarray, str, TiffMeta]:
    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            series_list = [s for s in tif.series if s.kind != "reduced"]
            if not series_list:
                raise TiffError(f"Cannot read {path.name} as a TIFF (no readable image in it); check that the file "
                                "is complete.")
            if len(series_list) > 1:
                shapes = ", ".join("×".join(map(str, s.shape)) for s in series_list[:5])
                more = "…" if len(series_list) > 5 else ""
                raise TiffError(f"{path.name} holds {len(series_list)} images of different sizes or types "
                                f"({shapes}{more}); fluorecon processes one image (one hyperstack) per file and "
                                "will not guess which: save each as its own file, or make the pages the same "
                                "size (Image › Adjust › Canvas Size…) and save them as one stack.")
            series = series_list[0]
            _check_declared(path, series.shape, series.dtype, max_bytes)
            _check_complete(path, tif, series)
            page = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
            meta = _calibration(path, tif, page)
            image = series.asarray()
            axes = series.axes
    except TiffError:
        raise
    except UnitError as err:
        raise TiffUnitError(f"{path.name}: {err}") from None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, MemoryError, EOFError) as err:
        raise TiffError(f"Cannot read {path.name} as a TIFF ({err}); check that the file is complete.") from None
    return image, axes, meta


def _check_complete(path: Path, tif: tifffile.TiffFile, series) -> None:
    """Refuse truncated files before decoding: data past the end of the file, or fewer ImageJ images
    than the description declares (tifffile then falls back to the first page alone)."""
    size = path.stat().st_size
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij and "images" in ij:
        plane = int(np.prod([n for n, a in zip(series.shape, series.axes) if a in "YXS"]))
        found = int(np.prod(series.shape)) // max(plane, 1)
        if found < int(ij["images"]):
            raise TiffError(f"{path.name} is a truncated or corrupt TIFF: ImageJ's description declares "
                            f"{ij['images']} images but only {found} can be read; copy the complete file again.")
    offset = getattr(series, "dataoffset", None)
    if offset is not None:
        if offset + series.nbytes > size:
            raise TiffError(f"{path.name} is a truncated TIFF: its pixel data needs {offset + series.nbytes} bytes "
                            f"but the file has {size}; copy the complete file again.")
        return
    for page in series.pages:
        if page is None:
            continue
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
        if ends and max(ends) > size:
            raise TiffError(f"{path.name} is a truncated TIFF: page data ends at byte {max(ends)} but the file has "
                            f"{size}; copy the complete file again.")


def _calibration(path: Path, tif: tifffile.TiffFile, page) -> TiffMeta:
    if tif.is_ome and tif.ome_metadata:
        meta = _ome_calibration(tif.ome_metadata)
        if meta is not None:
            return meta
    ij = (tif.imagej_metadata or {}) if tif.is_imagej else {}
    description = getattr(page, "description", "") or ""
    info = str(ij.get("Info", "")) if ij else ("" if (tif.is_ome or tif.is_shaped) else description)
    meta = TiffMeta(info=info, frame_interval_s=_positive(ij.get("finterval")) if ij else None)
    per_unit = _pixels_per_unit(page)
    rescode = int(page.tags["ResolutionUnit"].value) if "ResolutionUnit" in page.tags else 2
    if ij and ij.get("unit") is not None:
        unit = ij["unit"]
        tag = page.tags.get("XResolution")
        if per_unit is None and tag is not None and tag.value[0] and tag.value[0] == tag.value[1]:
            per_unit = 1.0  # ImageJ with a unit: 1 pixel per unit is a calibration (ImageJ reads it so)
    else:
        # ImageJ without a unit, or a plain TIFF: the ResolutionUnit tag (2 inch is TIFF's default).
        # tifffile adds 4 mm and 5 µm. 72 dpi in inches is a screen default, not a microscope.
        unit = {2: "inch", 3: "cm", 4: "mm", 5: "µm"}.get(rescode)
        if unit == "inch" and per_unit in (72.0, 96.0, 300.0):
            unit = None
        if ij and unit is None:
            per_unit = None
    if per_unit and unit is not None:
        meta.pixel_size_um = to_um(1.0 / per_unit, unit)
        if ij and "spacing" in ij:
            meta.z_step_um = to_um(abs(float(ij["spacing"])), unit)
    return meta


def _pixels_per_unit(page) -> float | None:
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if not num or not den or num / den == 1.0:
        return None
    return num / den


def _positive(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _ome_calibration(xml: str) -> TiffMeta | None:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None
    image = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Image"), None)
    description = ""
    if image is not None:
        d = next((e for e in image if e.tag.rsplit("}", 1)[-1] == "Description"), None)
        description = (d.text or "") if d is not None else ""

    def size(axis: str) -> float | None:
        value = _positive(pixels.get(f"PhysicalSize{axis}"))
        return to_um(value, pixels.get(f"PhysicalSize{axis}Unit", "µm")) if value else None

    interval = _positive(pixels.get("TimeIncrement"))
    if interval is not None:
        interval *= {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "min": 60.0, "h": 3600.0}.get(
            pixels.get("TimeIncrementUnit", "s"), 1.0)
    return TiffMeta(pixel_size_um=size("X"), z_step_um=size("Z"), frame_interval_s=interval, info=description)


def _read_pillow(path: Path, max_bytes: int | None) -> tuple[np.ndarray, str, TiffMeta]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            dtype = np.uint16 if im.mode.startswith("I;16") else np.uint8
            _check_declared(path, (im.height, im.width, len(im.getbands())), dtype, max_bytes)
            if im.mode in ("P", "PA"):
                im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
            if im.mode == "1":
                im = im.convert("L")
            image = np.asarray(im)
    except TiffError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise TiffError(f"Cannot read {path.name} ({err}); check that the file is complete.") from None
    if image.ndim == 3:
        colour = image[..., :3]
        if not (np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2])):
            return image, "YXS", TiffMeta()  # refused as RGB in _finish
        image = np.ascontiguousarray(colour[..., 0])
    return image, "YX", TiffMeta()  # PNG/JPEG carry no microscope calibration


# --- OME-Zarr -----------------------------------------------------------------------------------

_NGFF_UNITS = {"pm": "picometer", "Å": "angstrom", "nm": "nanometer", "µm": "micrometer", "mm": "millimeter",
               "cm": "centimeter", "m": "meter", "inch": "inch"}
_TIME_UNITS = {"second": 1.0, "s": 1.0, "millisecond": 1e-3, "ms": 1e-3, "microsecond": 1e-6, "minute": 60.0,
               "hour": 3600.0}


def _read_zarr(path: Path, max_bytes: int | None) -> tuple[np.ndarray, str, TiffMeta]:
    array, axes, meta = open_zarr(path)
    _check_declared(path, array.shape, array.dtype, max_bytes)
    try:
        return np.asarray(array[...]), axes, meta
    except Exception as err:  # zarr raises many types for missing or corrupt chunks
        raise TiffError(f"Cannot read {path.name} as OME-Zarr ({err}); check that the store is complete.") from None


def open_zarr(path: str | os.PathLike):
    """Open an OME-Zarr store lazily: (zarr array of the full-resolution level, axes, TiffMeta)."""
    import zarr

    path = Path(path)
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:
        raise TiffError(f"Cannot open {path.name} as OME-Zarr ({err}).") from None
    if isinstance(node, zarr.Array):
        return node, "TZCYX"[-node.ndim:], TiffMeta(axes="TZCYX"[-node.ndim:])
    attrs = dict(node.attrs)
    ome = attrs.get("ome", attrs)
    multiscales = ome.get("multiscales")
    if not multiscales:
        raise TiffError(f"{path.name} is a Zarr group without OME-NGFF 'multiscales' metadata.")
    ms = multiscales[0]
    dataset = ms["datasets"][0]
    try:
        array = node[dataset["path"]]
    except KeyError:
        raise TiffError(f"{path.name}: the multiscales level {dataset['path']!r} is missing.") from None
    names = [a["name"] if isinstance(a, dict) else str(a) for a in ms.get("axes", [])] or list("tczyx"[-array.ndim:])
    units = [a.get("unit") if isinstance(a, dict) else None for a in ms.get("axes", [])] or [None] * len(names)
    scale = [1.0] * len(names)
    for transforms in (ms.get("coordinateTransformations", []), dataset.get("coordinateTransformations", [])):
        for t in transforms:
            if t.get("type") == "scale":
                scale = [a * b for a, b in zip(scale, t["scale"])]
    lookup = {n.lower(): (s, u) for n, s, u in zip(names, scale, units)}
    meta = TiffMeta()
    try:
        if "x" in lookup and lookup["x"][1]:
            meta.pixel_size_um = to_um(lookup["x"][0], lookup["x"][1])
        if "z" in lookup and lookup["z"][1]:
            meta.z_step_um = to_um(lookup["z"][0], lookup["z"][1])
    except UnitError as err:
        raise TiffUnitError(f"{path.name}: {err}") from None
    if "t" in lookup and lookup["t"][1] in _TIME_UNITS:
        meta.frame_interval_s = lookup["t"][0] * _TIME_UNITS[lookup["t"][1]]
    meta.info = str(attrs.get("fluorecon", {}).get("info", "")) if isinstance(attrs.get("fluorecon"), dict) else ""
    axes = "".join(n.upper() for n in names)
    meta.axes = axes
    return array, axes, meta


# --- writing ------------------------------------------------------------------------------------

def write_image(path: str | os.PathLike, image: np.ndarray, meta: TiffMeta, *, info: str = "") -> None:
    """Write `image` (axes ``meta.axes``) atomically, in the format the suffix names (see module doc)."""
    path = Path(path)
    image = np.asarray(image)
    if image.ndim != len(meta.axes):
        raise ValueError(f"Image has {image.ndim} axes but meta.axes is {meta.axes!r}.")
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    fmt = image_format(path)
    text = info or meta.info
    if fmt == "zarr":
        _write_zarr(path, image, meta, text)
    elif fmt == "ome-tiff":
        _write_ome_tiff(path, image, meta, text)
    else:
        _write_imagej(path, image, meta, text)


write_tiff = write_image


def _write_imagej(path: Path, image: np.ndarray, meta: TiffMeta, info: str) -> None:
    with atomic_path(path, suffix=".tif.part") as tmp:
        tifffile.imwrite(tmp, image, **imagej_options(meta, info))


def imagej_options(meta: TiffMeta, info: str) -> dict:
    """tifffile keyword arguments of an ImageJ hyperstack with `meta`'s axes and calibration."""
    metadata: dict = {"axes": meta.axes}
    kwargs = {}
    if meta.pixel_size_um:
        metadata["unit"] = "micron"
        kwargs["resolution"] = (1.0 / meta.pixel_size_um, 1.0 / meta.pixel_size_um)
        if meta.z_step_um is not None:
            metadata["spacing"] = meta.z_step_um
    if meta.frame_interval_s is not None:
        metadata["finterval"] = meta.frame_interval_s
    if info:
        metadata["Info"] = info
    return {"imagej": True, "metadata": metadata, **kwargs}


def _write_ome_tiff(path: Path, image: np.ndarray, meta: TiffMeta, info: str) -> None:
    metadata: dict = {"axes": meta.axes}
    if meta.pixel_size_um:
        metadata.update(PhysicalSizeX=meta.pixel_size_um, PhysicalSizeXUnit="µm",
                        PhysicalSizeY=meta.pixel_size_um, PhysicalSizeYUnit="µm")
    if meta.z_step_um and "Z" in meta.axes:
        metadata.update(PhysicalSizeZ=meta.z_step_um, PhysicalSizeZUnit="µm")
    if meta.frame_interval_s and "T" in meta.axes:
        metadata.update(TimeIncrement=meta.frame_interval_s, TimeIncrementUnit="s")
    if info:
        metadata["Description"] = info
    with atomic_path(path, suffix=".ome.tif.part") as tmp:
        tifffile.imwrite(tmp, image, ome=True, metadata=metadata, bigtiff=image.nbytes > 2**31)


def ngff_multiscales(axes: str, meta: TiffMeta, factors: list[int], *, name: str = "") -> dict:
    """NGFF 0.4 ``multiscales`` entry: axes with units, one scale transform per level (YX binned by
    each factor). Uncalibrated space axes get scale 1 and no unit."""
    entries, base = [], []
    for a in axes:
        if a == "T":
            entry = {"name": "t", "type": "time"}
            if meta.frame_interval_s:
                entry["unit"] = "second"
            base.append(meta.frame_interval_s or 1.0)
        elif a == "C":
            entry = {"name": "c", "type": "channel"}
            base.append(1.0)
        else:
            entry = {"name": a.lower(), "type": "space"}
            size = meta.z_step_um if a == "Z" else meta.pixel_size_um
            if size and meta.pixel_size_um:
                entry["unit"] = _NGFF_UNITS["µm"]
            base.append(size if (size and meta.pixel_size_um) else 1.0)
        entries.append(entry)
    datasets = []
    for level, f in enumerate(factors):
        scale = [s * (f if a in "YX" else 1) for s, a in zip(base, axes)]
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    return {"version": "0.4", "name": name, "axes": entries, "datasets": datasets}


def _pyramid_factors(image: np.ndarray, axes: str, smallest: int = 256, levels: int = 4) -> list[int]:
    y, x = image.shape[axes.index("Y")], image.shape[axes.index("X")]
    factors = [1]
    while len(factors) < levels and min(y, x) // (factors[-1] * 2) >= smallest:
        factors.append(factors[-1] * 2)
    return factors


def _bin_yx(image: np.ndarray, axes: str, f: int) -> np.ndarray:
    iy, ix = axes.index("Y"), axes.index("X")
    ny, nx = image.shape[iy] // f, image.shape[ix] // f
    cut = [slice(None)] * image.ndim
    cut[iy], cut[ix] = slice(0, ny * f), slice(0, nx * f)
    a = image[tuple(cut)].astype(np.float32)
    shape = list(a.shape)
    shape[ix:ix + 1] = [nx, f]
    shape[iy:iy + 1] = [ny, f]
    return a.reshape(shape).mean(axis=(iy + 1, ix + 2)).astype(image.dtype)


@contextlib.contextmanager
def atomic_store(path: str | os.PathLike):
    """Yield a temporary folder beside `path`; on success it replaces `path` (a Zarr store), else it is removed.

    A store that is interrupted mid-write never has the final name, so it never looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-", suffix=".part"))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}-old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_zarr(path: Path, image: np.ndarray, meta: TiffMeta, info: str) -> None:
    import zarr

    axes = meta.axes
    factors = _pyramid_factors(image, axes)
    # small chunks: block-wise readers (core/streaming.py) decode only what a tile needs
    chunks = tuple(min(n, 1 if a in "TC" else (4 if a == "Z" else 256)) for n, a in zip(image.shape, axes))
    with atomic_store(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        for level, f in enumerate(factors):
            data = image if f == 1 else _bin_yx(image, axes, f)
            arr = root.create_array(str(level), shape=data.shape, dtype=data.dtype,
                                    chunks=tuple(min(c, n) for c, n in zip(chunks, data.shape)),
                                    chunk_key_encoding={"name": "v2", "separator": "/"})
            arr[...] = data
        root.attrs["multiscales"] = [ngff_multiscales(axes, meta, factors, name=path.stem)]
        if info:
            root.attrs["fluorecon"] = {"info": info}


def output_meta(meta: TiffMeta, scale: Sequence[int], *, ndim: int) -> TiffMeta:
    """Calibration of a result `scale`× finer than the input: pixel size (and z step for a 3D
    model) divided by the scale. `scale` is the card's, one entry per spatial axis ((y, x) or (z, y, x))."""
    scale = tuple(int(s) for s in scale)
    if len(scale) != ndim:
        raise ValueError(f"scale {scale} needs {ndim} entries (one per spatial axis).")
    if scale[-1] != scale[-2]:
        raise ValueError(f"scale {scale}: Y and X must be scaled alike (ImageJ has one pixel width/height pair here).")
    pixel = meta.pixel_size_um / scale[-1] if meta.pixel_size_um else meta.pixel_size_um
    z = meta.z_step_um
    if ndim == 3 and z:
        z = z / scale[0]
    return replace(meta, pixel_size_um=pixel, z_step_um=z)
