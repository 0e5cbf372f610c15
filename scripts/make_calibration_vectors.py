"""Write the calibration test vectors (tests/vectors/calibration/): small TIFFs saved by ImageJ's own
FileSaver (through JPype and ij.jar) and by tifffile, in every length unit, plus calibration.json with
the calibration each one means, in micrometres. Python (tests/core/test_calibration_vectors.py) and Java
(CalibrationVectorsTest) both check their reader against the JSON, so both sides agree on units.

Run once (outputs are committed): python scripts/make_calibration_vectors.py [--ij-jar PATH]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from pathlib import Path

import numpy as np
import tifffile

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "calibration"

# name, unit ImageJ is given, pixel width and z spacing in that unit, the same in µm (None: uncalibrated)
IMAGEJ_CASES = [
    ("imagej_nm.tif", "nm", 65.0, 200.0, 0.065, 0.2),
    ("imagej_micron.tif", "micron", 0.065, 0.2, 0.065, 0.2),
    ("imagej_um.tif", "um", 0.065, 0.2, 0.065, 0.2),
    ("imagej_mm.tif", "mm", 6.5e-5, 2e-4, 0.065, 0.2),
    ("imagej_cm.tif", "cm", 6.5e-6, 2e-5, 0.065, 0.2),
    ("imagej_inch.tif", "inch", 0.065 / 25400, 0.2 / 25400, 0.065, 0.2),
    ("imagej_uncalibrated.tif", None, None, None, None, None),
]


def _ij_jar(given: str | None) -> str:
    if given:
        return given
    jars = sorted(glob.glob(os.path.expanduser("~/.m2/repository/net/imagej/ij/*/ij-*.jar")))
    if not jars:
        raise SystemExit("ij.jar not found: build the plugin once (mvn package) or pass --ij-jar")
    return jars[-1]


def write_imagej(jar: str) -> list[dict]:
    import jpype

    jpype.startJVM("-Djava.awt.headless=true", classpath=[jar], convertStrings=True)
    IJ = jpype.JClass("ij.IJ")
    FileSaver = jpype.JClass("ij.io.FileSaver")
    cases = []
    for name, unit, px, dz, px_um, dz_um in IMAGEJ_CASES:
        imp = IJ.createImage(name, "32-bit ramp", 24, 16, 3)
        if unit is not None:
            cal = imp.getCalibration()
            cal.setUnit(unit)
            cal.pixelWidth = cal.pixelHeight = px
            cal.pixelDepth = dz
        FileSaver(imp).saveAsTiffStack(str(OUT / name))
        cal = imp.getCalibration()
        cases.append({"file": name, "writer": f"ImageJ {IJ.getVersion()} FileSaver", "axes": "ZYX",
                      "shape": [3, 16, 24], "imagej_unit": str(cal.getUnit()), "pixel_size_um": px_um,
                      "z_step_um": dz_um, "imagej_opener": True})
    return cases


def write_tifffile() -> list[dict]:
    a = np.arange(16 * 24, dtype=np.float32).reshape(16, 24)
    cases = []

    def add(name, pixel_um, z_um=None, **kwargs):
        tifffile.imwrite(OUT / name, kwargs.pop("data", a), **kwargs)
        # ImageJ's own opener ignores OME-XML (Bio-Formats reads it): the Java test skips those.
        cases.append({"file": name, "writer": f"tifffile {tifffile.__version__}", "pixel_size_um": pixel_um,
                      "z_step_um": z_um, "imagej_opener": not name.endswith(".ome.tif")})

    add("tifffile_resunit_cm.tif", 0.065, resolution=(1 / 6.5e-6, 1 / 6.5e-6), resolutionunit="CENTIMETER")
    add("tifffile_resunit_inch.tif", 0.065, resolution=(25400 / 0.065, 25400 / 0.065), resolutionunit="INCH")
    add("tifffile_72dpi.tif", None, resolution=(72, 72), resolutionunit="INCH")
    add("tifffile_plain.tif", None)
    add("tifffile_imagej_nm.tif", 0.065, imagej=True, metadata={"unit": "nm"}, resolution=(1 / 65, 1 / 65))
    add("tifffile_imagej_mu.tif", 0.065, imagej=True, metadata={"unit": "\\u00B5m"}, resolution=(1 / 0.065, 1 / 0.065))
    stack = np.stack([a] * 3)
    add("ome_um.ome.tif", 0.065, None, data=stack, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.065,
                                                                        "PhysicalSizeY": 0.065})
    add("ome_nm.ome.tif", 0.065, 0.2, data=stack, ome=True,
        metadata={"axes": "ZYX", "PhysicalSizeX": 65, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 65,
                  "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 200, "PhysicalSizeZUnit": "nm"})
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ij-jar")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    cases = write_imagej(_ij_jar(args.ij_jar)) + write_tifffile()
    (OUT / "calibration.json").write_text(json.dumps({"cases": cases}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} files to {OUT}")


if __name__ == "__main__":
    main()
