"""The built-in scalar PSF (used where psfmodels has no wheel, Python 3.12+) against psfmodels' own scalar model,
and psf_widefield's fallback when psfmodels is missing."""

from __future__ import annotations

import numpy as np
import pytest

import fluorecon.imaging.psf as psf_module
from fluorecon.imaging.psf import psf_widefield
from fluorecon.imaging.psf_scalar import scalar_psf


@pytest.mark.parametrize("nz, nxy, dxy, dz, na, wvl, ni, ns", [
    (1, 33, 0.04, 0.2, 1.4, 0.52, 1.515, 1.33),   # oil, in focus
    (21, 33, 0.065, 0.2, 1.4, 0.52, 1.515, 1.33),  # oil, 4 µm of defocus planes
    (21, 31, 0.1, 0.3, 0.8, 0.6, 1.0, 1.0),        # air
])
def test_builtin_scalar_model_matches_psfmodels_scalar(nz, nxy, dxy, dz, na, wvl, ni, ns):
    psfmodels = pytest.importorskip("psfmodels")
    ours = scalar_psf(nz, nxy, dxy_um=dxy, dz_um=dz, pz_um=0.0, na=na, wavelength_um=wvl, ni=ni, ns=ns)
    ref = psfmodels.make_psf(nz, nxy, dxy=dxy, dz=dz, pz=0.0, NA=na, wvl=wvl, ns=ns, ni=ni, ni0=ni, model="scalar")
    ours, ref = ours / ours.sum(), ref / ref.sum()
    # measured: 2.0%, 5.0% and 2.9% of the peak (psfmodels integrates over pixel areas, we sample pixel centres)
    assert np.abs(ours - ref).max() < 0.06 * ref.max()
    assert np.unravel_index(ours.argmax(), ours.shape) == np.unravel_index(ref.argmax(), ref.shape)


def test_psf_widefield_without_psfmodels_uses_the_builtin_model(monkeypatch):
    monkeypatch.setattr(psf_module, "psfmodels", None)
    with pytest.warns(UserWarning, match="built-in scalar PSF"):
        psf = psf_widefield((9, 33, 33), na=1.4, wavelength_nm=520, pixel_size_nm=65, z_step_nm=200)
    assert psf.shape == (9, 33, 33) and psf.dtype == np.float32
    assert psf.sum() == pytest.approx(1.0, rel=1e-5)
    assert np.unravel_index(psf.argmax(), psf.shape) == (4, 16, 16)
    np.testing.assert_allclose(psf, psf[::-1], rtol=1e-5, atol=1e-9)  # no depth: symmetric about focus
    with pytest.raises(ValueError, match="needs the psfmodels package"):
        psf_widefield((9, 33, 33), na=1.4, wavelength_nm=520, pixel_size_nm=65, z_step_nm=200, depth_nm=2000)
