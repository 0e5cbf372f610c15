"""Runs in bench/venvs/pyolaf (pyolaf's own venv): light-field Richardson–Lucy with pyolaf (Python
port of oLaF, Stefanoiu et al., Opt. Express 27, 31644 (2019)) on a rectified light field, kept alive by
bench/lightfield.py (harness.PeerWorker) so that it takes part in interleaved rounds.

Usage: python pyolaf_worker.py OPTICS.json SHAPE_Y SHAPE_X, then one JSON request per line on stdin:
{"lf": LF.npy, "iterations": n, "out": OUT.npy (optional)} → {"seconds": s, "setup_s": ..., "backend": ...}.

The camera is built from the same optics as fluorecon's simulation (magnification, NA, immersion
index, wavelength, lenslet pitch and focal length, nnum pixels per lenslet, z range and step);
the lenslet grid comes from those specs (pyolaf's simulation path: no white image), reconstructed
at sensor resolution (superResFactor = nnum), plain RL without pyolaf's optional anti-aliasing
filter (fluorecon's RL has none either). The operators H, Ht are computed once at start (``setup_s``,
as fluorecon's light-field PSF is computed once and cached); each request's ``seconds`` is the whole
run: the normalisation ``Ht·H·1`` (fluorecon's run computes its ``Aᵀ1`` too) and the ``iterations``
RL updates. With "out" the volume is written as (Z, Y, X) float32.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from pyolaf.geometry import LFM_computeGeometryParameters, LFM_setCameraParams
from pyolaf.lf import LFM_computeLFMatrixOperators
from pyolaf.project import LFM_backwardProject, LFM_forwardProject

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import serve_requests  # noqa: E402

try:
    import cupy  # noqa: F401
    backend = "cupy"
except ImportError:
    backend = "numpy"


def main() -> None:
    optics = json.loads(open(sys.argv[1]).read())
    img_size = np.array([int(sys.argv[2]), int(sys.argv[3])])
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
    # pyolaf prints its progress (stdout) and progress bars (stderr): stdout is kept for the JSON lines, and nobody
    # reads stderr (a full pipe would block the worker)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = sink
    start = time.perf_counter()
    Camera = LFM_setCameraParams(config_file, nnum)
    depth_range = [float(optics["z_min_um"]), float(optics["z_max_um"])]
    LensletCenters, Resolution, _, _ = LFM_computeGeometryParameters(
        Camera, np.array([]), depth_range, float(optics["z_step_um"]), nnum, False, img_size)
    H, Ht = LFM_computeLFMatrixOperators(Camera, Resolution, LensletCenters)
    tex_size = np.ceil(img_size * Resolution["texScaleFactor"]).astype("int32")
    volume_size = np.append(tex_size, len(Resolution["depths"])).astype("int32")
    crange = Camera["range"]
    setup = time.perf_counter() - start
    sys.stdout, sys.stderr = stdout, stderr

    def run(request: dict) -> dict:
        lf = np.load(request["lf"]).astype(np.float32)
        if tuple(lf.shape) != tuple(img_size):
            raise ValueError(f"light field {lf.shape} is not the {tuple(img_size)} the operators were built for")
        sys.stdout = sys.stderr = sink
        try:
            t0 = time.perf_counter()
            init = np.ones(volume_size, dtype="float32")
            ones_forward = LFM_forwardProject(H, init, LensletCenters, Resolution, img_size, crange, step=8)
            ones_back = LFM_backwardProject(Ht, ones_forward, LensletCenters, Resolution, tex_size, crange, step=8)
            y = lf / max(float(lf.max()), 1e-12)
            recon = init.copy()
            for i in range(int(request["iterations"])):
                guess = ones_forward if i == 0 else LFM_forwardProject(H, recon, LensletCenters, Resolution, img_size,
                                                                         crange, step=10)
                err = y / guess * ones_forward
                err[~np.isfinite(err)] = 0
                back = LFM_backwardProject(Ht, err, LensletCenters, Resolution, tex_size, crange, step=10)
                back = back / ones_back
                back[~np.isfinite(back)] = 0
                recon = recon * back
                recon[~np.isfinite(recon)] = 0
            seconds = time.perf_counter() - t0
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        volume = np.ascontiguousarray(np.moveaxis(np.asarray(recon, np.float32), -1, 0))
        if request.get("out"):
            np.save(request["out"], volume)
        return {"seconds": seconds, "setup_s": setup, "volume_shape": list(volume.shape),
                "depths_um": [float(d) for d in Resolution["depths"]], "backend": backend}

    serve_requests(run)


if __name__ == "__main__":
    main()
