"""Richardson–Lucy per iteration, fluorecon against scikit-image, interleaved (issue 15's comparison).

Each round times one whole run of `--iterations` plain RL iterations of each tool, alternating ours and
``skimage.restoration.richardson_lucy`` (same float32 image and PSF, same zero-padded "same" boundary, no clipping),
so a shared machine's load falls on both alike; t_n / n is the whole run's time per iteration (set-up included:
our OTF and buffers, scikit-image's PSF FFT every convolution). Both get the same threads: torch's (which size our
pocketfft workers) and ``scipy.fft.set_workers`` (which scikit-image's ``fftconvolve`` uses). Prints a JSON report:
per case and thread count the median ratio skimage / ours with its min–max over the rounds, and the largest
difference of the two results relative to the result's range (agreement within float32 round-off).

    PYTHONPATH=python .venv/bin/python scripts/measure_rl_speed.py --rounds 5 --threads 1 2 [--out rl_speed.json]

For the bench harness (bench/): :func:`measure` is importable and returns the same report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# OpenMP threads that spin while waiting collapse on an oversubscribed machine (see bench/deconvolve.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
import torch  # noqa: E402

CASES = {"2d": ((2048, 2048), (31, 31)), "3d": ((64, 256, 256), (31, 31, 31))}


def _data(shape, psf_shape, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random(shape, dtype=np.float32)
    grids = np.meshgrid(*[np.arange(k) - k // 2 for k in psf_shape], indexing="ij")
    psf = np.exp(-sum(g.astype(np.float32) ** 2 for g in grids) / (2 * 3.0 ** 2)).astype(np.float32)
    return image, psf / psf.sum()


def measure(cases=("2d", "3d"), threads=(1, 2), rounds: int = 5, iterations: int = 10) -> dict:
    from skimage.restoration import richardson_lucy as skimage_rl

    from fluorecon.solvers.richardson_lucy import richardson_lucy

    report = {"iterations": iterations, "rounds": rounds, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "cases": {}}
    for case in cases:
        shape, psf_shape = CASES[case]
        image, psf = _data(shape, psf_shape)
        rows = {}
        for n_threads in threads:
            torch.set_num_threads(n_threads)

            def ours():
                return richardson_lucy(image, psf, num_iter=iterations, init=0.5, device="cpu")

            def theirs():
                with scipy.fft.set_workers(n_threads):
                    return skimage_rl(image, psf, num_iter=iterations, clip=False)

            times = {"fluorecon": [], "skimage": []}
            for r in range(rounds):
                # Alternate who goes first, so neither always runs on a warmer (or busier) machine.
                for name, run in (("fluorecon", ours), ("skimage", theirs))[:: 1 if r % 2 == 0 else -1]:
                    start = time.perf_counter()
                    result = run()
                    times[name].append((time.perf_counter() - start) / iterations)
                    if r == 0:
                        rows.setdefault("results", {})[name] = result
            results = rows.pop("results")
            ratios = [s / f for s, f in zip(times["skimage"], times["fluorecon"])]
            span = float(results["skimage"].max() - results["skimage"].min())
            rows[f"{n_threads}_threads"] = {
                "s_per_iter": {k: statistics.median(v) for k, v in times.items()},
                "runs_s_per_iter": times,
                "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                "max_abs_diff_over_range": float(np.abs(results["fluorecon"] - results["skimage"]).max() / span),
            }
            row = rows[f"{n_threads}_threads"]
            print(f"{case} {shape} psf {psf_shape} {n_threads} thread(s): ours {row['s_per_iter']['fluorecon']:.4f} "
                  f"s/it, skimage {row['s_per_iter']['skimage']:.4f} s/it, ratio {row['ratio_median']:.2f} "
                  f"({row['ratio_min']:.2f}–{row['ratio_max']:.2f}), diff {row['max_abs_diff_over_range']:.1e}",
                  file=sys.stderr, flush=True)
        report["cases"][case] = {"shape": list(shape), "psf_shape": list(psf_shape), **rows}
    report["load_average_after"] = os.getloadavg()
    return report


def profile(case: str = "2d", threads: int = 1, rounds: int = 7) -> dict:
    """Per-operation medians (ms) of one RL iteration on each side, the operations interleaved over rounds: ours
    through the real :class:`~fluorecon.imaging.forward.Blur` (whole ``A``/``A_adjoint`` and, apart, their FFTs on
    its padded grid), scikit-image's through ``scipy.signal.fftconvolve`` (whole, and its real FFTs apart: image,
    PSF, inverse). Says where the time goes and so what bounds the ratio."""
    import ducc0
    from scipy.signal import fftconvolve

    from fluorecon.imaging.forward import Blur

    shape, psf_shape = CASES[case]
    image, psf = _data(shape, psf_shape)
    torch.set_num_threads(threads)
    op = Blur(psf, image_shape=shape, device="cpu")
    y = torch.from_numpy(image)
    x = torch.full_like(y, 0.5)
    axes = list(range(len(shape)))
    fshape = [scipy.fft.next_fast_len(n + k - 1, True) for n, k in zip(shape, psf_shape)]
    spectrum = ducc0.fft.r2c(op._buf_a.numpy(), axes=axes)
    steps = {
        "ours: A (pad, r2c, OTF product, c2r, crop)": lambda: op.A(x),
        "ours: ratio y / (A x + eps)": lambda: torch.div(y, op.A(x).add_(1e-12)),
        "ours: A_adjoint": lambda: op.A_adjoint(y),
        "ours: update x *= factor": lambda: x.clone().mul_(y),
        "ours: one r2c (ducc0)": lambda: ducc0.fft.r2c(op._buf_a.numpy(), axes=axes, nthreads=threads),
        "ours: one c2r (ducc0)": lambda: ducc0.fft.c2r(spectrum, axes=axes, lastsize=op.fft_shape[-1], forward=False,
                                                      inorm=2, nthreads=threads),
        "skimage: fftconvolve same (3 FFTs)": lambda: fftconvolve(image, psf, mode="same"),
        "skimage: one rfftn (scipy.fft)": lambda: scipy.fft.rfftn(image, fshape),
        "skimage: rfftn of the PSF": lambda: scipy.fft.rfftn(psf, fshape),
        "skimage: one irfftn (scipy.fft)": lambda: scipy.fft.irfftn(spectrum, fshape),
        "skimage: ratio image / (conv + eps)": lambda: image / (image + 1e-12),
    }
    times = {name: [] for name in steps}
    with scipy.fft.set_workers(threads):
        for name, step in steps.items():
            step()  # warm-up
        for _ in range(rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(1e3 * (time.perf_counter() - start))
    medians = {name: round(statistics.median(v), 2) for name, v in times.items()}
    ours = (medians["ours: ratio y / (A x + eps)"] + medians["ours: A_adjoint"] + medians["ours: update x *= factor"])
    theirs = 2 * medians["skimage: fftconvolve same (3 FFTs)"] + medians["skimage: ratio image / (conv + eps)"] + \
        medians["ours: update x *= factor"]
    return {"case": case, "shape": list(shape), "psf_shape": list(psf_shape), "threads": threads, "rounds": rounds,
            "fft_shape_ours": list(op.fft_shape), "fft_shape_skimage": fshape, "median_ms": medians,
            "iteration_ms_sum": {"fluorecon": round(ours, 1), "skimage": round(theirs, 1)},
            "load_average": os.getloadavg()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, os.cpu_count() or 1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--out", help="also write the JSON report here")
    parser.add_argument("--profile", action="store_true", help="per-operation medians instead of whole runs")
    args = parser.parse_args(argv)
    if args.profile:
        report = {"profile": [profile(c, t, args.rounds) for c in args.cases for t in args.threads]}
    else:
        report = measure(args.cases, args.threads, args.rounds, args.iterations)
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
