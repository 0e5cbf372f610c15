"""The server's denoise-classical job (Fiji's Denoise… model=nlm|bm3d|vst-*, Process file…): every plane (nlm and
vst-nlm: every z-stack, the CLI's rule) of any hyperstack denoised as `denoise_classical` does, axes kept, every
method the CLI has accepted, bad methods and tiny images refused before queuing."""

from __future__ import annotations

import numpy as np
import pytest

from fluorecon.core.io import TiffMeta
from fluorecon.server.job import JobInputs
from fluorecon.server.jobtypes import JOB_TYPES
from fluorecon.server.settings import Settings
from fluorecon.tasks.denoise.classical import METHODS, denoise_classical
from fluorecon.tasks.denoise.streaming import denoise_image

JOB = JOB_TYPES["denoise-classical"]


def _noisy(shape, seed=0):
    rng = np.random.default_rng(seed)
    clean = np.zeros(shape, np.float32)
    clean[..., 8:24, 10:30] = 300
    return rng.poisson(clean + 50).astype(np.float32)


@pytest.mark.parametrize("method,axes,shape", [("bm3d", "CYX", (2, 32, 40)), ("nlm", "ZCYX", (3, 2, 32, 40))])
def test_each_block_equals_denoise_classical(tmp_path, method, axes, shape):
    image = _noisy(shape)
    spec = JOB.spec(method=method)
    inputs = JobInputs(image, TiffMeta(axes=axes, pixel_size_um=0.1))
    settings = Settings()
    JOB.check(inputs, spec, settings)
    done = []
    out = JOB.run(inputs, spec, settings, "cpu", lambda d, t, m="": done.append((d, t)), lambda: False)
    assert out.result.shape == image.shape and out.meta.axes == axes and done[-1][0] == done[-1][1]
    # The bm3d library is not bit-reproducible: the same call twice differs by up to ~1e-5 of the image range
    # (measured 0.0023 on a range of ~300), so "equal" is the project's usual 1e-4 of the output range.
    if method == "nlm":  # NLM: each channel's z-stack in 3D
        for c in range(shape[1]):
            want = denoise_classical(image[:, c], method="nlm")
            np.testing.assert_allclose(out.result[:, c], want, rtol=0, atol=1e-4 * np.ptp(want))
    else:
        for c in range(shape[0]):
            want = denoise_classical(image[c], method=method)
            np.testing.assert_allclose(out.result[c], want, rtol=0, atol=1e-4 * np.ptp(want))


def test_bad_method_and_tiny_image_are_refused(tmp_path):
    settings = Settings()
    meta = TiffMeta(axes="YX")
    with pytest.raises(ValueError, match="is not a classical denoiser; use one of " + ", ".join(METHODS)):
        JOB.check(JobInputs(_noisy((32, 40)), meta), JOB.spec(method="wavelet"), settings)
    with pytest.raises(ValueError, match="at least 8×8"):
        JOB.check(JobInputs(_noisy((6, 40)), meta), JOB.spec(method="nlm"), settings)


def test_vst_nlm_treats_a_z_stack_in_3d_as_the_cli_does():
    """vst-nlm on a ZCYX hyperstack: each channel's z-stack is one 3D block (not plane by plane), equal to the CLI's
    `denoise_image`; median (a 2D method) equals the CLI's too. Both are methods the server refused before."""
    image = _noisy((3, 2, 32, 40), seed=1)
    meta = TiffMeta(axes="ZCYX", pixel_size_um=0.1)
    settings = Settings()
    assert set(JOB.methods) == set(METHODS) >= {"vst-nlm", "gaussian", "median"}
    out = {}
    for method in ("vst-nlm", "median"):
        spec = JOB.spec(method=method)
        inputs = JobInputs(image, meta)
        JOB.check(inputs, spec, settings)
        out[method] = JOB.run(inputs, spec, settings, "cpu", lambda d, t, m="": None, lambda: False).result
        np.testing.assert_array_equal(out[method], denoise_image(image, meta, method))
    stack = denoise_classical(image[:, 1], method="vst-nlm")
    planes = np.stack([denoise_classical(p, method="vst-nlm") for p in image[:, 1]])
    np.testing.assert_allclose(out["vst-nlm"][:, 1], stack, rtol=0, atol=1e-4 * np.ptp(stack))
    assert np.abs(out["vst-nlm"][:, 1] - planes).max() > 1e-2 * np.ptp(stack)  # plane by plane is another image
