"""Deformable registration: optical flow and the learned VoxelMorph-style network lower the field
error and the residual against a simulated smooth deformation."""

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from fluorecon.tasks.register.physics import smooth_displacement, warp
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.register import learned as R

ROOT = Path(__file__).resolve().parents[3]
DEFORM_MODEL = ROOT / "models" / "register_deform_2d.onnx"


def _deformed_pair(seed=0):
    moving = ndimage.gaussian_filter(phantom((128, 128), seed=50 + seed), 1.0)
    field = smooth_displacement(moving.shape, amplitude_px=2.0, smoothness_px=10, seed=seed)
    rng = np.random.default_rng(seed)
    fixed = warp(moving, field) + rng.normal(scale=0.02, size=moving.shape).astype(np.float32)
    return fixed, moving + rng.normal(scale=0.02, size=moving.shape).astype(np.float32), moving, field


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def test_optical_flow_lowers_field_error_and_residual():
    fixed, moving, clean, field = _deformed_pair()
    for method in ("tvl1", "ilk"):
        flow = R.optical_flow(fixed, moving, method=method)
        assert flow.shape == field.shape
        assert _rms(flow - field) < 0.6 * _rms(field)
        assert _rms(warp(clean, flow) - fixed) < 0.5 * _rms(clean - fixed)


def test_learned_registration_lowers_residual():
    from fluorecon.core.modelcard import read_card

    assert DEFORM_MODEL.is_file(), "models/register_deform_2d.onnx is missing: run R.build_register_model"
    assert read_card(DEFORM_MODEL).task == "register"
    fixed, moving, clean, field = _deformed_pair(seed=3)
    flow = R.register_learned(fixed, moving, DEFORM_MODEL)
    assert flow.shape == field.shape
    assert _rms(flow - field) < 0.8 * _rms(field)
    assert _rms(warp(clean, flow) - fixed) < 0.7 * _rms(clean - fixed)


def test_deform_network_trains_and_warps_differentiably():
    torch.manual_seed(0)
    net, losses = R.train_deform_network(steps=2, batch_size=1, patch=32, filters=4, depth=2, pool=1)
    assert len(losses) == 2 and all(np.isfinite(losses))
    img = torch.rand(1, 1, 16, 16)
    shift = torch.zeros(1, 2, 16, 16)
    shift[:, 1] = 1.0  # sample one pixel to the right
    out = R.spatial_transform(img, shift)
    torch.testing.assert_close(out[..., :-1], img[..., 1:])




def test_moved_names_stay_importable_from_register():
    from fluorecon.tasks.fuse import classical as fusion
    from fluorecon.tasks.register import classical as register

    for name in ("optical_flow", "DeformNet", "spatial_transform", "train_deform_network", "register_learned",
                 "build_register_model"):
        assert getattr(register, name) is getattr(R, name)
    for name in ("fuse_multiview", "register_views", "directional_correlation"):
        assert getattr(register, name) is getattr(fusion, name)
