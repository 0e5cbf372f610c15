"""Runs in bench/venvs/redlionfish (RedLionfish's own venv): time RedLionfish's CPU Richardson–Lucy.

Usage: python redlionfish_worker.py IMAGE.npy PSF.npy ITERATIONS REPEATS  → one JSON line
{"t1_runs": [...], "tn_runs": [...]} (seconds for 1 and for ITERATIONS iterations)."""

import json
import sys
import time

import numpy as np
import RedLionfishDeconv as rlf

image, psf = np.load(sys.argv[1]), np.load(sys.argv[2])
iterations, repeats = int(sys.argv[3]), int(sys.argv[4])


def timed(n):
    start = time.perf_counter()
    rlf.doRLDeconvolutionFromNpArrays(image, psf, niter=n, method="cpu", resAsUint8=False)
    return time.perf_counter() - start


timed(1)  # warm-up
print(json.dumps({"t1_runs": [timed(1) for _ in range(repeats)], "tn_runs": [timed(iterations) for _ in range(repeats)]}))
