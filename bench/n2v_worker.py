"""Trains the original `n2v` package (Keras/TensorFlow) or csbdeep's CARE for a fixed number of
steps and predicts the test images.

Runs in bench/venvs/n2v (n2v 0.3.3 + csbdeep 0.7.4 + TensorFlow 2.15 CPU) for `--tool n2v`, or in
bench/venvs/csbdeep (csbdeep 0.8.2) for `--tool csbdeep`; started by bench/denoise.py. Input: an
.npz with `train` (N, *spatial) noisy images, `target` (N, *spatial) targets (CARE only; for CARE
all three arrays come normalized by bench/denoise.py) and `test` (M, *spatial); output: `--pred`
.npy of the M predictions in the units of `test`, and one
JSON line with the per-step wall times (between consecutive ends of training batches in one epoch)
and the versions. Training patches: every non-overlapping patch of the training images, in the 8
flips/rotations of the YX plane (as n2v's data generator makes them), with 5 % kept for validation.
Each tool's own defaults otherwise (lr 4e-4 with ReduceLROnPlateau, n2v: batch norm, 1.5 % pixels,
uniform_withCP manipulator, radius 5; CARE: residual U-Net, MAE loss), except `lr` when the opts give
one. With `budget_s` in the opts, training runs in epochs of 50 steps until that wall time is spent;
with `eval_every` (bench/denoise.py's convergence mode) the validation PSNR is recorded every that many
steps (bench/convergence.py, on the Keras model itself: the data are normalized already) and, with
`stop_on_plateau`, training stops when it plateaus; evaluation time is not counted in the budget.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from convergence import Curve


def patches(images: np.ndarray, patch: tuple[int, ...], *, augment: bool = True) -> np.ndarray:
    """All non-overlapping patches of (N, *spatial) images, times the 8 YX dihedral transforms."""
    out = []
    for image in images:
        counts = [s // p for s, p in zip(image.shape, patch)]
        for idx in np.ndindex(*counts):
            out.append(image[tuple(slice(i * p, (i + 1) * p) for i, p in zip(idx, patch))])
    out = np.stack(out)
    if not augment:
        return out
    views = []
    for k in range(4):
        rot = np.rot90(out, k, axes=(-2, -1))
        views += [rot, rot[..., ::-1]]
    return np.ascontiguousarray(np.concatenate(views))


def main() -> None:
    stop = Path(__file__).resolve().parent / ".work" / "denoise" / "STOP"  # bench/denoise.py check_stop()
    if stop.exists():
        raise SystemExit(f"not run: {stop} exists (the run was ended early; remove it to train)")
    p = argparse.ArgumentParser()
    p.add_argument("--tool", choices=["n2v", "csbdeep"], required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--pred", required=True)
    p.add_argument("--opts", required=True, help="JSON: steps, batch_size, patch_size, depth, filters, threads, seed")
    args = p.parse_args()
    o = json.loads(args.opts)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(o["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(o["seed"])

    data = np.load(args.data)
    train, test = data["train"].astype(np.float32), data["test"].astype(np.float32)
    ndim = train.ndim - 1
    axes = "YX" if ndim == 2 else "ZYX"
    patch = tuple(o["patch_size"])
    rng = np.random.default_rng(o["seed"])

    class StepTimes(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.epochs[-1].append(time.perf_counter())

    class Budget(tf.keras.callbacks.Callback):
        """Stops training once the wall-clock budget (opts budget_s) is spent; keeps the epoch losses."""

        def __init__(self, seconds):
            super().__init__()
            self.seconds, self.start, self.losses, self.steps = seconds, None, [], 0

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            curve.start = self.start

        def on_epoch_end(self, epoch, logs=None):
            self.losses.append(float((logs or {}).get("loss", float("nan"))))

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if curve.due(self.steps) and curve.record(
                    self.steps, lambda x: self.model.predict(x[None, ..., None], verbose=0)[0, ..., 0]):
                self.model.stop_training = True
            if self.seconds and time.perf_counter() - self.start - curve.eval_s >= self.seconds:
                self.model.stop_training = True

    timer = StepTimes()
    curve = Curve(o)
    budget = Budget(o.get("budget_s"))
    steps = o["steps"]
    # With a budget: epochs of 50 steps until the time is spent (the loss per epoch shows convergence).
    steps_per_epoch, epochs = (50, 10**6) if o.get("budget_s") else (steps, 1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tool == "n2v":
            import n2v
            from n2v.models import N2V, N2VConfig

            X = patches(train, patch)[..., None]
            order = rng.permutation(len(X))
            n_val = max(2, len(X) // 20)
            X_val, X = X[order[:n_val]], X[order[n_val:]]
            config = N2VConfig(X, unet_kern_size=3, unet_n_depth=o["depth"], unet_n_first=o["filters"],
                               train_steps_per_epoch=steps, train_epochs=1, train_loss="mse", batch_norm=True,
                               train_batch_size=o["batch_size"], n2v_perc_pix=1.5, n2v_patch_shape=patch,
                               n2v_manipulator="uniform_withCP", n2v_neighborhood_radius=5, train_tensorboard=False)
            model = N2V(config, "bench", basedir=tmp)
            model.prepare_for_training()
            model.callbacks += [timer, budget]
            t0 = time.perf_counter()
            model.train(X, X_val)
            wall = time.perf_counter() - t0
            versions = {"n2v": n2v.__version__, "tensorflow": tf.__version__}
        else:
            import csbdeep
            from csbdeep.models import CARE, Config

            # bench/denoise.py passes CARE the pairs fluorecon trains on: inputs normalized with their
            # percentiles, targets mapped into the input's units (fluorecon.train.normalize_pair).
            X = patches(train, patch)[..., None]
            Y = patches(data["target"].astype(np.float32), patch)[..., None]
            order = rng.permutation(len(X))
            n_val = max(2, len(X) // 20)
            config = Config(axes, n_channel_in=1, n_channel_out=1, unet_kern_size=3, unet_n_depth=o["depth"],
                            unet_n_first=o["filters"], train_batch_size=o["batch_size"],
                            train_steps_per_epoch=steps_per_epoch, train_epochs=epochs, train_tensorboard=False,
                            **({"train_learning_rate": o["lr"]} if o.get("lr") else {}))
            model = CARE(config, "bench", basedir=tmp)
            model.prepare_for_training()
            model.callbacks += [timer, budget]
            t0 = time.perf_counter()
            model.train(X[order[n_val:]], Y[order[n_val:]], validation_data=(X[order[:n_val]], Y[order[:n_val]]))
            wall = time.perf_counter() - t0
            versions = {"csbdeep": csbdeep.__version__, "tensorflow": tf.__version__}
        if args.tool == "n2v":
            preds = [model.predict(image, axes=axes) for image in test]
        else:
            from csbdeep.data import PadAndCropResizer

            preds = [model.predict(image, axes, resizer=PadAndCropResizer()) for image in test]
    np.save(args.pred, np.stack([np.asarray(x, np.float32).reshape(t.shape) for x, t in zip(preds, test)]))
    intervals = [b - a for epoch in timer.epochs for a, b in zip(epoch, epoch[1:])]
    print(json.dumps({"step_seconds": intervals, "steps_done": sum(len(e) for e in timer.epochs),
                      "epochs": len(timer.epochs), "train_wall_s": wall - curve.eval_s, "losses": budget.losses,
                      "versions": versions, **curve.report(),
                      "settings": {"learning_rate": float(model.config.train_learning_rate),
                                   "steps_per_epoch": steps_per_epoch}}), flush=True)


if __name__ == "__main__":
    main()
