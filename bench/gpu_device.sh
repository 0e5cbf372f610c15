#!/usr/bin/env bash
# Runs on a borrowed CUDA machine (Python 3.12 with torch, onnxruntime, scikit-image preinstalled,
# no network): installs fluorecon's remaining dependencies from wheels carried in .whl/ (made here
# with `pip download`, see DESIGN.md "GPU checks"), runs the Python tests on CUDA and bench/gpu.py.
# Usage there: bash bench/gpu_device.sh OUTDIR [quick]
set -u
OUT=${1:?output folder}
QUICK=${2:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site
# psfmodels has no cp312 wheel: build its sdist there (pybind11 and a compiler are in the image).
(cd /tmp && tar xzf "$OLDPWD/.whl/psfmodels-0.3.3.tar.gz" && cd psfmodels-0.3.3 \
  && SETUPTOOLS_SCM_PRETEND_VERSION=0.3.3 python3 -m pip install -q --no-index --no-deps --no-build-isolation \
     --target /tmp/site . ) > "$OUT/psfmodels_build.log" 2>&1 || { echo "psfmodels build failed"; tail -20 "$OUT/psfmodels_build.log"; }
export PYTHONPATH=$PWD/python:/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, fluorecon, psfmodels; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
# 1) GPU figures.
python3 bench/gpu.py --out "$OUT" ${QUICK:+--quick}
# 2) The CUDA-only tests, then the whole non-bridge suite with CUDA as the default device (no JVM there).
python3 -m pytest -q -p no:cacheprovider -k "cuda" tests --ignore=tests/bridge --ignore=tests/server/test_schemathesis.py 2>&1 | tail -15 | tee "$OUT/pytest_cuda.log"
[ -n "$QUICK" ] || timeout ${PYTEST_TIMEOUT_S:-300} python3 -m pytest -q -p no:cacheprovider -n 8 tests --ignore=tests/bridge --ignore=tests/server/test_schemathesis.py --timeout 200 \
  > "$OUT/pytest_all.log" 2>&1; echo "pytest all rc=$?"; tail -25 "$OUT/pytest_all.log" 2>/dev/null
