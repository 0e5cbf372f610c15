"""Validation-PSNR curves and the plateau rule of bench/denoise.py's convergence mode (`--converge-min`).

NumPy only: imported by every training worker, ours and the peers' (bench/careamics_worker.py,
bench/n2v_worker.py) in their own venvs. bench/denoise.py writes one validation file per contender
(`write_validation`): the held-out noisy image in the units that contender's predict takes, the affine
map from its output units to the noisy image's percentile-normalized units (lo, hi: 1 and 99.8 %),
and the noise-free truth in those units. Every `eval_every` steps the worker predicts it with the
network being trained (`Curve.record`), and the PSNR is scikit-image's (data range of the truth), as
bench/denoise.py scores the test images. Evaluation time is kept out of the training wall clock.

Plateau (`plateaued`): on the validation PSNR smoothed over `SMOOTH` consecutive points (a batch-norm
network's early curve jumps by dB between points; one spike must not end a run), the best of the last
quarter of the steps so far gains less than `PLATEAU_DB` over the best before it, judged from `MIN_STEPS`
steps and `MIN_POINTS` points on.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

PLATEAU_DB = 0.1
LAST_SHARE = 0.25
MIN_STEPS = 300
MIN_POINTS = 10
SMOOTH = 3


def write_validation(path: Path, image: np.ndarray, clean_normalized: np.ndarray, *, lo: float, hi: float) -> Path:
    np.savez(path, image=np.asarray(image, np.float32), clean=np.asarray(clean_normalized, np.float32),
             lo=np.float64(lo), hi=np.float64(hi))
    return path


def psnr_db(pred_normalized: np.ndarray, clean_normalized: np.ndarray) -> float:
    a, b = np.asarray(pred_normalized, np.float64), np.asarray(clean_normalized, np.float64)
    data_range = float(b.max() - b.min())
    mse = float(np.mean((a - b) ** 2))
    return float(10 * np.log10(data_range**2 / max(mse, 1e-20)))


def gain_over_last_share(points: list[dict]) -> float | None:
    """Best smoothed PSNR of the last LAST_SHARE of the steps minus the best before it (None: too few points)."""
    if len(points) < MIN_POINTS:
        return None
    values = [p["psnr_db"] for p in points]
    smooth = [float(np.mean(values[max(0, i - SMOOTH + 1):i + 1])) for i in range(len(values))]
    split = points[-1]["step"] * (1 - LAST_SHARE)
    before = [v for p, v in zip(points, smooth) if p["step"] <= split]
    after = [v for p, v in zip(points, smooth) if p["step"] > split]
    if not before or not after:
        return None
    return max(after) - max(before)


def plateaued(points: list[dict]) -> bool:
    gain = gain_over_last_share(points)
    return gain is not None and points[-1]["step"] >= MIN_STEPS and gain < PLATEAU_DB


class Curve:
    """Validation PSNR against training steps and training seconds of one run.

    `opts`: the worker's options; `val` (a `write_validation` file), `eval_every` (steps) and
    `stop_on_plateau` (peers stop there; fluorecon runs its fixed cosine schedule to the end)."""

    def __init__(self, opts: dict):
        self.every = int(opts.get("eval_every") or 0)
        self.stop_on_plateau = bool(opts.get("stop_on_plateau"))
        self.points: list[dict] = []
        self.eval_s = 0.0
        self.start = time.perf_counter()
        if self.every:
            v = np.load(opts["val"])
            self.image, self.clean = v["image"], v["clean"]
            self.lo, self.hi = float(v["lo"]), float(v["hi"])

    def due(self, step: int) -> bool:
        return bool(self.every) and step > 0 and step % self.every == 0

    def record(self, step: int, predict) -> bool:
        """Scores `predict(image)` (the contender's output units) at `step`; True when the run should stop."""
        t0 = time.perf_counter()
        train_s = t0 - self.start - self.eval_s  # training time so far, earlier evaluations left out
        pred = np.asarray(predict(self.image), np.float64).reshape(self.image.shape)
        score = psnr_db((pred - self.lo) / max(self.hi - self.lo, 1e-12), self.clean)
        self.eval_s += time.perf_counter() - t0
        self.points.append({"step": int(step), "train_s": round(train_s, 2), "psnr_db": round(score, 3)})
        return self.stop_on_plateau and plateaued(self.points)

    def report(self) -> dict:
        return {"curve": self.points, "eval_s": round(self.eval_s, 1)}
