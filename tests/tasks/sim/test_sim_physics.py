"""SIM forward model: adjoint identity (2D and 3D), widefield equivalence, config checks."""

import json

import numpy as np
import pytest
import torch

from fluorecon.imaging.forward import OPERATORS, build_physics
from fluorecon.tasks.sim.physics import SIMConfig, SIMPhysics, simulate_sim


@pytest.mark.parametrize("ndim", [2, 3])
def test_sim_operator_adjoint_and_round_trip(ndim):
    assert OPERATORS["sim"] is SIMPhysics
    op = SIMPhysics.example(ndim=ndim, device="cpu")
    rng = np.random.default_rng(ndim)
    x = torch.from_numpy(rng.standard_normal(op.image_shape))
    y = torch.from_numpy(rng.standard_normal(op.measurement_shape))
    lhs = float((op.A(x).double() * y).sum())
    rhs = float((x * op.A_adjoint(y).double()).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0)
    rebuilt = build_physics(json.loads(op.config.model_dump_json()), device="cpu")
    torch.testing.assert_close(rebuilt.A(x.float()), op.A(x.float()))
    with pytest.raises(ValueError, match="shape"):
        op.A(torch.zeros(3, 3))


def test_uniform_object_gives_uniform_widefield():
    cfg = SIMConfig(image_shape=(64, 64))
    data = simulate_sim(np.ones((64, 64), np.float32), cfg)
    assert data.raw.shape == (3, 3, 32, 32)
    inner = data.widefield[8:-8, 8:-8]
    np.testing.assert_allclose(inner, 1.0, atol=0.02)
    # A 210 nm pattern on a uniform object is nearly blurred away (OTF ~0.015 there): frames stay ~flat.
    assert data.raw[0, 0, 8:-8, 8:-8].std() < 0.05


def test_config_rejects_unresolvable_pattern_and_wrong_lists():
    with pytest.raises(ValueError, match="finer than the optics"):
        SIMConfig(image_shape=(64, 64), line_spacing_nm=150)
    with pytest.raises(ValueError, match="one per angle"):
        SIMConfig(image_shape=(64, 64), angles_deg=[0, 60])
