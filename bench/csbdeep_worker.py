"""Times csbdeep's CARE prediction (TensorFlow CPU) with the same U-Net as the shipped model, kept
alive by bench/predict.py (harness.PeerWorker) so it takes part in interleaved rounds.

Runs in bench/venvs/csbdeep (its own numpy/TensorFlow). Untrained weights: speed does not depend
on their values. Request lines {"image": .npy} → {"seconds": s} (csbdeep's own predict call with
its percentile normalizer, whole image), with the output's shape, finiteness and the versions.
"""

import argparse
import json
import tempfile
import time

import numpy as np
from harness import serve_requests


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True, help="JSON from bench/predict.py unet_architecture()")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    arch = json.loads(args.arch)

    import tensorflow as tf

    # Must precede the first op; same thread budget as ONNX Runtime's intra-op pool.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import csbdeep
    from csbdeep.data import PadAndCropResizer, PercentileNormalizer
    from csbdeep.models import CARE, Config

    config = Config(
        "YX", n_channel_in=arch["channels_in"], n_channel_out=arch["channels_out"],
        probabilistic=arch["probabilistic"], unet_residual=arch["residual"], unet_n_depth=arch["depth"],
        unet_n_first=arch["filters"], unet_kern_size=arch["kernel_size"], train_tensorboard=False,
    )
    if arch["convs_per_level"] != 2:  # csbdeep's CARE config fixes two convolutions per level
        raise SystemExit(f"csbdeep builds 2 convolutions per level, the model has {arch['convs_per_level']}")
    with tempfile.TemporaryDirectory() as tmp:
        model = CARE(config, name="bench", basedir=tmp)
        about = {"versions": {"csbdeep": csbdeep.__version__, "tensorflow": tf.__version__},
                 "params": int(model.keras_model.count_params())}
        images = {}

        def run(request: dict) -> dict:
            if request["image"] not in images:
                images.clear()
                images[request["image"]] = np.load(request["image"]).astype(np.float32)
            image = images[request["image"]]
            t0 = time.perf_counter()
            out = model.predict(image, "YX", normalizer=PercentileNormalizer(1, 99.8), resizer=PadAndCropResizer())
            seconds = time.perf_counter() - t0
            return {"seconds": seconds, "shape": list(out.shape), "finite": bool(np.isfinite(out).all()), **about}

        serve_requests(run)


if __name__ == "__main__":
    main()
