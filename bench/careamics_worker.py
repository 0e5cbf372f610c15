"""Trains CAREamics' Noise2Void (or N2V2) for a fixed number of steps and predicts the test images.

Runs in bench/venvs/careamics (its own torch, see requirements-careamics.txt), started by
bench/denoise.py. Input: an .npz with `train` (N, *spatial) and `test` (M, *spatial) raw noisy
images; output: `--pred` .npy of the M predictions in raw units, and one JSON line on stdout with
the per-step wall times (between consecutive ends of training batches within an epoch, so epoch
boundaries, validation and data-loader start-up are left out) and the versions.

Settings are CAREamics' defaults (Adam lr 1e-4 with ReduceLROnPlateau, batch norm, 0.2 % masked
pixels from an 11-px window, mean/std normalization, its default data-loader workers, early stopping)
except the ones the benchmark fixes for every tool: depth, first-level filters, kernel 3, patch,
batch, and either `steps` or a wall-clock `budget_s` (Lightning's max_time). `lr` and
`masked_fraction` (a fraction, e.g. 0.015) in the opts replace CAREamics' learning rate and masked
pixel percentage ("at our settings"). The JSON line also carries the loss of every training step.
With `eval_every` (bench/denoise.py's convergence mode) the validation PSNR is recorded every that many
steps (bench/convergence.py): CAREamics' own U-Net in eval mode (batch norm running statistics) on the
validation image normalized and denormalized by the training dataset's own mean/std normalization, as
its prediction does; with `stop_on_plateau` training stops at the plateau, and the `budget_s` cap then
counts training time only (validation left out) instead of Lightning's max_time.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from convergence import Curve
from work import conv_macs


def main() -> None:
    stop = Path(__file__).resolve().parent / ".work" / "denoise" / "STOP"  # bench/denoise.py check_stop()
    if stop.exists():
        raise SystemExit(f"not run: {stop} exists (the run was ended early; remove it to train)")
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--pred", required=True)
    p.add_argument("--opts", required=True, help="JSON: steps, batch_size, patch_size, depth, filters, threads, seed, n2v2")
    args = p.parse_args()
    o = json.loads(args.opts)

    import torch

    torch.set_num_threads(o["threads"])
    import careamics
    from careamics import CAREamist
    from careamics.config.factories.n2v_factory import create_advanced_n2v_config
    from lightning.pytorch import Callback

    data = np.load(args.data)
    train, test = data["train"].astype(np.float32), data["test"].astype(np.float32)
    ndim = train.ndim - 1
    axes = "SYX" if ndim == 2 else "SZYX"

    class StepTimes(Callback):
        def __init__(self):
            self.epochs: list[list[float]] = []

        def on_train_epoch_start(self, trainer, module):
            self.epochs.append([])

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.epochs[-1].append(time.perf_counter())
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if loss is not None:
                self.losses.append(float(loss))

    class Validation(Callback):
        """Validation PSNR every `eval_every` steps; stops at the plateau or when the training time is spent."""

        def __init__(self):
            self.steps = 0

        def on_train_start(self, trainer, module):
            curve.start = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.steps += 1
            if curve.due(self.steps) and curve.record(
                    self.steps, lambda x: predict(trainer.datamodule.train_dataset.normalization, module, x)):
                trainer.should_stop = True
            if budget and time.perf_counter() - curve.start - curve.eval_s >= budget:
                trainer.should_stop = True

    def predict(norm, module, image: np.ndarray) -> np.ndarray:
        x, _ = norm(image[None].astype(np.float32))
        module.eval()
        with torch.no_grad():
            out = norm.denormalize(module.model(torch.from_numpy(np.ascontiguousarray(x))[None]))
        module.train()
        return out[0, 0].cpu().numpy()

    timer = StepTimes()
    timer.losses = []
    curve = Curve(o)
    steps = o["steps"]
    budget = o.get("budget_s")
    trainer_params = {"max_steps": steps if not budget else -1, "accelerator": "cpu", "enable_model_summary": False}
    if budget and not curve.every:
        trainer_params["max_time"] = {"seconds": int(budget)}
    extra = {}
    if o.get("lr"):
        extra["optimizer_params"] = {"lr": o["lr"]}
    if o.get("masked_fraction"):
        extra["masked_pixel_percentage"] = 100 * o["masked_fraction"]
    config = create_advanced_n2v_config(
        experiment_name="bench", data_type="array", axes=axes, patch_size=list(o["patch_size"]),
        batch_size=o["batch_size"], num_epochs=10_000, use_n2v2=o.get("n2v2", False),
        model_params={"depth": o["depth"], "num_channels_init": o["filters"]},
        trainer_params=trainer_params, seed=o["seed"] + 1,  # CAREamics wants a positive seed
        **extra,
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = CAREamist(config, work_dir=tmp, callbacks=[timer] + ([Validation()] if curve.every else []),
                          enable_progress_bar=False)
        macs = conv_macs(model.model.model, torch.zeros(o["batch_size"], 1, *o["patch_size"]))
        t0 = time.perf_counter()
        model.train(train_data=train)
        wall = time.perf_counter() - t0

        def careamics_predict(image: np.ndarray) -> np.ndarray:
            out, _ = model.predict(pred_data=image, axes=axes[1:])
            return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32).reshape(image.shape)

        preds = [careamics_predict(image) for image in test]
        if curve.every:  # the curve's own prediction path against CAREamics' predict, same final weights
            check = Curve({**o, "stop_on_plateau": False})
            check.record(0, careamics_predict)
            check.record(1, lambda x: predict(model.train_datamodule.train_dataset.normalization, model.model, x))
            curve.path_check = {"val_psnr_db_careamics_predict": check.points[0]["psnr_db"],
                                "val_psnr_db_curve_path": check.points[1]["psnr_db"]}
    np.save(args.pred, np.stack(preds))
    intervals = [b - a for epoch in timer.epochs for a, b in zip(epoch, epoch[1:])]
    print(json.dumps({
        "step_seconds": intervals, "steps_done": sum(len(e) for e in timer.epochs), "epochs": len(timer.epochs),
        "train_wall_s": wall - curve.eval_s, "losses": timer.losses, **curve.report(),
        "conv_macs_per_step_forward": macs,
        **({"curve_path_check": curve.path_check} if hasattr(curve, "path_check") else {}),
        "versions": {"careamics": careamics.__version__, "torch": torch.__version__},
        "settings": {"optimizer": f"Adam lr {o.get('lr') or 1e-4:g}, ReduceLROnPlateau", "batch_norm": True,
                     "masked_pixel_percentage": 100 * o["masked_fraction"] if o.get("masked_fraction") else 0.2,
                     "roi_size": 11, "normalization": "mean_std", "max_time_s": budget},
    }), flush=True)


if __name__ == "__main__":
    main()
