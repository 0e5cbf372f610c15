"""Runs in bench/venvs/redlionfish (RedLionfish's own venv), kept alive by bench/deconvolve.py
(harness.PeerWorker): loads IMAGE.npy and PSF.npy once, then answers each request line
{"iterations": n} with {"seconds": s}, the wall time of one whole n-iteration CPU RL run.

Usage: python redlionfish_worker.py IMAGE.npy PSF.npy"""

import sys
import time

import numpy as np
import RedLionfishDeconv as rlf
from harness import serve_requests

image, psf = np.load(sys.argv[1]), np.load(sys.argv[2])


def run(request: dict) -> dict:
    start = time.perf_counter()
    rlf.doRLDeconvolutionFromNpArrays(image, psf, niter=request["iterations"], method="cpu", resAsUint8=False)
    return {"seconds": time.perf_counter() - start}


serve_requests(run)
