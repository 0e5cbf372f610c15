"""Runs in bench/venvs/pyolaf (pyolaf's own venv): light-field Richardson–Lucy with pyolaf (Python
port of oLaF, Stefanoiu et al., Opt. Express 27, 31644 (2019)) on a rectified light field.

Usage: python pyolaf_worker.py LF.npy OPTICS.json ITERATIONS OUT.npy → one JSON line
{"setup_s": ..., "iter_s": [...], "volume_shape": [...], "backend": "numpy"|"cupy"}.

The camera is built from the same optics as fluorecon's simulation (magnification, NA, immersion
index, wavelength, lenslet pitch and focal length, nnum pixels per lenslet, z range and step);
the lenslet grid comes from those specs (pyolaf's simulation path: no white image), reconstructed
at sensor resolution (superResFactor = nnum), plain RL without pyolaf's optional anti-aliasing
filter (fluorecon's RL has none either). Volume written as (Z, Y, X) float32.
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
import yaml
from pyolaf.geometry import LFM_computeGeometryParameters, LFM_setCameraParams
from pyolaf.lf import LFM_computeLFMatrixOperators
from pyolaf.project import LFM_backwardProject, LFM_forwardProject

try:
    import cupy  # noqa: F401
    backend = "cupy"
except ImportError:
    backend = "numpy"

lf = np.load(sys.argv[1]).astype(np.float32)
optics = json.loads(open(sys.argv[2]).read())
iterations = int(sys.argv[3])
out_path = sys.argv[4]
nnum = int(optics["nnum"])

camera = {
    "gridType": "reg", "focus": "single", "plenoptic": 1, "uLensMask": 1,
    "M": float(optics["magnification"]), "NA": float(optics["na"]), "n": float(optics["n_immersion"]),
    "WaveLength": float(optics["wavelength_nm"]) / 1000.0,
    "lensPitch": float(optics["lenslet_pitch_um"]), "pixelPitch": float(optics["lenslet_pitch_um"]) / nnum,
    "fm": float(optics["lenslet_focal_um"]), "ftl": 165000.0, "tube2mla": 0, "mla2sensor": 0,
}
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    yaml.safe_dump(camera, f)
    config_file = f.name
sink = open(os.devnull, "w")
stdout, sys.stdout = sys.stdout, sink  # pyolaf prints its progress; keep stdout for the JSON line
try:
    start = time.perf_counter()
    Camera = LFM_setCameraParams(config_file, nnum)
    img_size = np.array(lf.shape)
    depth_range = [float(optics["z_min_um"]), float(optics["z_max_um"])]
    LensletCenters, Resolution, _, _ = LFM_computeGeometryParameters(
        Camera, np.array([]), depth_range, float(optics["z_step_um"]), nnum, False, img_size)
    H, Ht = LFM_computeLFMatrixOperators(Camera, Resolution, LensletCenters)
    tex_size = np.ceil(img_size * Resolution["texScaleFactor"]).astype("int32")
    volume_size = np.append(tex_size, len(Resolution["depths"])).astype("int32")
    crange = Camera["range"]
    init = np.ones(volume_size, dtype="float32")
    ones_forward = LFM_forwardProject(H, init, LensletCenters, Resolution, img_size, crange, step=8)
    ones_back = LFM_backwardProject(Ht, ones_forward, LensletCenters, Resolution, tex_size, crange, step=8)
    setup = time.perf_counter() - start
    y = lf / max(float(lf.max()), 1e-12)
    recon = init.copy()
    iter_s = []
    for i in range(iterations):
        t0 = time.perf_counter()
        guess = ones_forward if i == 0 else LFM_forwardProject(H, recon, LensletCenters, Resolution, img_size, crange,
                                                                 step=10)
        err = y / guess * ones_forward
        err[~np.isfinite(err)] = 0
        back = LFM_backwardProject(Ht, err, LensletCenters, Resolution, tex_size, crange, step=10)
        back = back / ones_back
        back[~np.isfinite(back)] = 0
        recon = recon * back
        recon[~np.isfinite(recon)] = 0
        iter_s.append(time.perf_counter() - t0)
finally:
    sys.stdout = stdout
np.save(out_path, np.ascontiguousarray(np.moveaxis(np.asarray(recon, np.float32), -1, 0)))
print(json.dumps({"setup_s": setup, "iter_s": iter_s, "volume_shape": [int(v) for v in np.moveaxis(recon, -1, 0).shape],
                  "depths_um": [float(d) for d in Resolution["depths"]], "backend": backend}))
