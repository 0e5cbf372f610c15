"""Length units of image calibrations, in one table: the reader (fluorecon.core.io), the CLI and the
server all convert through here, so a unit means the same everywhere.

Internally fluorecon keeps physical sizes in micrometres (``TiffMeta.pixel_size_um``, ``z_step_um``)
and task parameters in nanometres (``pixel_size_nm``). Files state their unit in many spellings:
ImageJ's ``unit=`` (``micron``, ``µm``, ``\\u00B5m``, ``nm``, ``cm``, ``inch``…), the TIFF ResolutionUnit
tag (inch, centimetre, and tifffile's millimetre/micrometre extensions) and OME's ``PhysicalSize*Unit``
(``nm``, ``µm``, ``mm``, ``Å``…). ImageJ's "pixel" (or no unit) means uncalibrated.

>>> to_um(65, "nm")
0.065
>>> to_um(0.065, "\\u00B5m")
0.065
>>> normalize_unit("pixels") is None
True
"""

from __future__ import annotations

__all__ = ["UnitError", "NANOMETRES_PER", "to_nm", "UNCALIBRATED", "normalize_unit", "to_um", "um_to_nm"]


class UnitError(ValueError):
    """A calibration unit fluorecon cannot convert, with the units it knows in the message."""


# nanometres per one of each canonical unit (exact in binary for all but pm and Å)
NANOMETRES_PER: dict[str, float] = {
    "pm": 1e-3,
    "Å": 0.1,
    "nm": 1.0,
    "µm": 1e3,
    "mm": 1e6,
    "cm": 1e7,
    "m": 1e9,
    "inch": 25.4e6,
}

# every spelling seen in ImageJ, OME and TIFF files, lower-cased, to its canonical unit
_ALIASES: dict[str, str] = {
    "pm": "pm", "picometer": "pm", "picometre": "pm", "picometers": "pm", "picometres": "pm",
    "å": "Å", "a": "Å", "angstrom": "Å", "angstroms": "Å", "\\u00c5": "Å", "ångström": "Å",
    "nm": "nm", "nanometer": "nm", "nanometre": "nm", "nanometers": "nm", "nanometres": "nm",
    "µm": "µm", "μm": "µm", "um": "µm", "micron": "µm", "microns": "µm", "micrometer": "µm",
    "micrometre": "µm",
    "micrometers": "µm", "micrometres": "µm", "\\u00b5m": "µm", "\\u03bcm": "µm",
    "mm": "mm", "millimeter": "mm", "millimetre": "mm", "millimeters": "mm", "millimetres": "mm",
    "cm": "cm", "centimeter": "cm", "centimetre": "cm", "centimeters": "cm", "centimetres": "cm",
    "m": "m", "meter": "m", "metre": "m", "meters": "m", "metres": "m",
    "inch": "inch", "inches": "inch", "in": "inch", '"': "inch",
}

# ImageJ's words for "no calibration"
UNCALIBRATED = frozenset({"", "pixel", "pixels", "px", "none", " "})


def normalize_unit(unit: str | None) -> str | None:
    """Canonical unit for any accepted spelling; None when the unit means "uncalibrated".

    Raises UnitError for a unit that is not a length fluorecon knows (e.g. "sec", "furlong").
    """
    if unit is None:
        return None
    text = str(unit).strip()
    key = text.lower()
    if key in UNCALIBRATED:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    if text in ("Å", "Å"):  # precomposed and combining ring
        return "Å"
    known = ", ".join(NANOMETRES_PER)
    raise UnitError(f"Unknown length unit {text!r} in the image calibration; fluorecon converts {known} "
                    "(and ImageJ's 'micron'). Set the unit in Fiji with Image › Properties… or give the pixel "
                    "size with --pixel-size-nm.")


def to_um(value: float | None, unit: str | None) -> float | None:
    """`value` in `unit` as micrometres; None when the value or unit says "uncalibrated"."""
    canonical = normalize_unit(unit)
    if value is None or canonical is None:
        return None
    return float(value) * NANOMETRES_PER[canonical] / 1000.0


def to_nm(value: float | None, unit: str | None) -> float | None:
    """`value` in `unit` as nanometres; None when the value or unit says "uncalibrated"."""
    canonical = normalize_unit(unit)
    if value is None or canonical is None:
        return None
    return float(value) * NANOMETRES_PER[canonical]


def um_to_nm(value_um: float | None) -> float | None:
    return None if value_um is None else float(value_um) * 1000.0
