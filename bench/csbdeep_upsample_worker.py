"""Trains csbdeep's CARE as an upsampling model and predicts the held-out inputs (bench/superres.py).

Runs in bench/venvs/csbdeep (its own numpy/TensorFlow). CSBDeep restores on the output grid, so
the inputs arrive already interpolated ×2 (bilinear, as our network's first layer does) and
normalized the same way as every other method in the bench; CARE learns the residual to the
high-resolution target. Reads one .npz (X, Y training patches, Xv, Yv validation patches, T test
images, the architecture and budget), writes predictions to --out (.npy) and prints one JSON line.
"""

import argparse
import json
import tempfile
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    import csbdeep
    from csbdeep.data import PadAndCropResizer
    from csbdeep.models import CARE, Config

    d = np.load(args.data)
    arch = json.loads(str(d["arch"]))
    config = Config(
        "YX", n_channel_in=1, n_channel_out=1, probabilistic=False, unet_residual=True,
        unet_n_depth=arch["depth"], unet_n_first=arch["filters"], unet_kern_size=arch["kernel_size"],
        train_loss="mae", train_epochs=1, train_steps_per_epoch=int(d["steps"]), train_batch_size=int(d["batch_size"]),
        train_learning_rate=float(d["lr"]), train_tensorboard=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = CARE(config, name="upsample_bench", basedir=tmp)
        t0 = time.perf_counter()
        history = model.train(d["X"][..., None], d["Y"][..., None], validation_data=(d["Xv"][..., None], d["Yv"][..., None]))
        train_s = time.perf_counter() - t0
        preds = np.stack([model.predict(img, "YX", normalizer=None, resizer=PadAndCropResizer()) for img in d["T"]])
    np.save(args.out, preds.astype(np.float32))
    print(json.dumps({"train_seconds": train_s, "loss_last": float(history.history["loss"][-1]),
                      "params": int(model.keras_model.count_params()),
                      "versions": {"csbdeep": csbdeep.__version__, "tensorflow": tf.__version__}}), flush=True)


if __name__ == "__main__":
    main()
