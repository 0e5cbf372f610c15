import numpy as np
import pytest
from scipy.signal import convolve
from skimage.restoration import richardson_lucy as skimage_rl

from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.imaging.psf import psf_widefield
from fluorecon.tasks.deconvolve.classical import (
    DeconvolutionCancelled,
    deconvolve,
    richardson_lucy,
    richardson_lucy_accelerated,
    richardson_lucy_tv,
    wiener,
)


def psnr(estimate, truth):
    return 10 * np.log10((truth.max() - truth.min()) ** 2 / np.mean((estimate - truth) ** 2))


@pytest.fixture(scope="module")
def sample3d():
    psf = psf_widefield((7, 13, 13), na=1.2, wavelength_nm=520, pixel_size_nm=100, z_step_nm=300)
    # Objects away from the stack's borders: no flux leaves the recorded volume.
    truth = np.zeros((14, 72, 72), np.float32)
    truth[3:11, 6:66, 6:66] = phantom((8, 60, 60), kind="mixed", seed=0)
    blurred = convolve(truth, psf, mode="same").astype(np.float32)
    noisy = apply_noise(blurred, CameraNoise(photons=100, offset=0, read_noise_e=1), seed=1) / 100
    return truth, psf, blurred, noisy


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("clip,filter_epsilon", [(True, None), (False, None), (False, 0.02)])
def test_rl_equals_skimage(ndim, clip, filter_epsilon):
    # Zero-padded "same" convolution on both sides, odd PSF, skimage's start value 0.5.
    rng = np.random.default_rng(ndim)
    shape, psf_shape = ((48, 50), (9, 11)) if ndim == 2 else ((14, 32, 30), (5, 9, 7))
    psf = rng.random(psf_shape).astype(np.float32)
    psf /= psf.sum()
    image = convolve(rng.random(shape), psf, mode="same").astype(np.float32)
    expected = skimage_rl(image, psf, num_iter=15, clip=clip, filter_epsilon=filter_epsilon)
    got = richardson_lucy(
        image, psf, num_iter=15, init=0.5, clip=clip, filter_epsilon=filter_epsilon, device="cpu"
    )
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_rl_improves_psnr_and_accelerated_gets_there_faster(sample3d):
    truth, psf, _, noisy = sample3d
    start = psnr(noisy, truth)
    plain = richardson_lucy(noisy, psf, num_iter=20, device="cpu")
    assert psnr(plain, truth) > start + 1.0
    fast = richardson_lucy_accelerated(noisy, psf, num_iter=8, device="cpu")
    assert psnr(fast, truth) >= psnr(plain, truth) - 0.5
    assert np.isclose(fast.sum(), noisy.clip(0).sum(), rtol=0.05)  # flux kept


def test_rltv_lambda_zero_is_rl_and_tv_smooths_noise(sample3d):
    truth, psf, _, noisy = sample3d
    rl = richardson_lucy(noisy, psf, num_iter=10, device="cpu")
    tv0 = richardson_lucy_tv(noisy, psf, num_iter=10, tv_lambda=0, device="cpu")
    np.testing.assert_allclose(tv0, rl, rtol=1e-5, atol=1e-6)
    tv = richardson_lucy_tv(noisy, psf, num_iter=10, tv_lambda=0.01, device="cpu")

    def total_variation(x):
        return sum(np.abs(np.diff(x, axis=a)).sum() for a in range(x.ndim))

    assert total_variation(tv) < total_variation(rl)
    with pytest.raises(ValueError, match="tv_lambda"):
        richardson_lucy_tv(noisy, psf, tv_lambda=2)


def test_wiener_periodic_cosine_matches_analytic_gain():
    n, period, sigma, balance = 128, 16, 1.5, 1e-2
    x = np.arange(n)
    image = np.tile(np.cos(2 * np.pi * x / period), (32, 1)).astype(np.float32)
    k = np.arange(-10, 11)
    g = np.exp(-(k**2) / (2 * sigma**2))
    psf = np.outer(g, g) / np.outer(g, g).sum()
    # Continuous Gaussian transfer at the cosine's frequency (sampling error < 1e-6 at σ = 1.5).
    h = np.exp(-2 * np.pi**2 * sigma**2 / period**2)
    got = wiener(image, psf, balance=balance, boundary="periodic", device="cpu")
    np.testing.assert_allclose(got, image * h / (h**2 + balance), atol=1e-4)


def test_wiener_delta_psf_and_constant():
    rng = np.random.default_rng(0)
    image = rng.random((20, 24, 22)).astype(np.float32)
    delta = np.zeros((3, 3, 3), np.float32)
    delta[1, 1, 1] = 1
    np.testing.assert_allclose(wiener(image, delta, balance=0.25, device="cpu"), image / 1.25, rtol=1e-5, atol=1e-6)
    psf = psf_widefield((5, 9, 9), na=1.0, wavelength_nm=500, pixel_size_nm=100, z_step_nm=300, ni=1.33)
    flat = np.full((20, 24, 22), 3.0, np.float32)
    # Reflect padding keeps a constant constant: the DC gain is H(0)/(H(0)² + λ) = 1/(1 + λ).
    np.testing.assert_allclose(wiener(flat, psf, balance=0.5, device="cpu"), 2.0, rtol=1e-4)


def test_progress_and_cancel(sample3d):
    _, psf, _, noisy = sample3d
    seen = []
    richardson_lucy(noisy, psf, num_iter=4, progress=lambda d, t: seen.append((d, t)), device="cpu")
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    calls = []
    with pytest.raises(DeconvolutionCancelled, match="after 2 of 50"):
        richardson_lucy_accelerated(
            noisy, psf, num_iter=50, device="cpu", progress=lambda d, t: calls.append(d), cancel=lambda: len(calls) >= 2
        )


@pytest.mark.parametrize("method,tolerance", [("rl", 1e-3), ("rltv", 1e-3), ("wiener", 1e-2), ("rl-accel", 2e-2)])
def test_chunked_equals_whole(sample3d, method, tolerance):
    # RL and RL-TV are local per iteration: 1e-3 of range. rl-accel computes its extrapolation
    # weight per chunk and Wiener's mirror boundary depends on the block: looser (documented).
    _, psf, _, noisy = sample3d
    options = {"balance": 1e-2} if method == "wiener" else {}
    whole = deconvolve(noisy, psf, method=method, num_iter=6, device="cpu", **options)
    seen = []
    chunked = deconvolve(
        noisy, psf, method=method, num_iter=6, chunks=(14, 36, 36), device="cpu",
        progress=lambda d, t: seen.append(t), **options,
    )
    assert seen == [4] * 4
    assert np.abs(chunked - whole).max() <= tolerance * (whole.max() - whole.min())


def test_chunks_on_a_distributed_cluster(sample3d):
    from distributed import LocalCluster

    _, psf, _, noisy = sample3d
    whole = deconvolve(noisy, psf, method="rl", num_iter=4, device="cpu")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        chunked = deconvolve(
            noisy, psf, method="rl", num_iter=4, chunks=(14, 36, 72), scheduler=cluster.scheduler_address, device="cpu"
        )
    assert np.abs(chunked - whole).max() <= 1e-3 * (whole.max() - whole.min())


def test_bad_input_messages():
    psf = np.ones((3, 3), np.float32) / 9
    with pytest.raises(ValueError, match="NaN"):
        deconvolve(np.full((8, 8), np.nan), psf)
    with pytest.raises(ValueError, match="psf has 2 axes"):
        deconvolve(np.ones((4, 8, 8)), psf)
    with pytest.raises(ValueError, match="method='magic'"):
        deconvolve(np.ones((8, 8)), psf, method="magic")
    with pytest.raises(ValueError, match="scheduler needs chunks"):
        deconvolve(np.ones((8, 8)), psf, scheduler="tcp://127.0.0.1:1")
