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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, os.cpu_count() or 1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_args(argv)
    report = measure(args.cases, args.threads, args.rounds, args.iterations)
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
