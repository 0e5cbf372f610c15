"""Times the fluorecon plugin (Denoise...) in its own headless JVM through the JPype bridge, kept
alive by bench/predict.py (harness.PeerWorker) so it takes part in interleaved rounds.

Each request line {"image": .npy, "tile": T, "threads": N, "save": optional .npy} runs the plugin
once on that image and answers {"seconds": s, "provider": ...}: s is System.nanoTime around the
plugin call inside the JVM (normalization, tiling, ORT, stitching, output image). With "save" the
output is written there (the bench checks it equals Python's at the same tile plan).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bridge"))
import ijbridge  # noqa: E402
from harness import serve_requests  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--imagej", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--max-heap", default="6g")
    args = p.parse_args()

    jar = args.imagej / "plugins" / "fluorecon_.jar"
    cls = ijbridge.command_class(jar, "Denoise...")
    ijbridge.start_jvm(ijbridge.plugin_classpath(args.imagej), headless=True, max_heap=args.max_heap)
    from jpype import JClass

    System = JClass("java.lang.System")
    images = {}

    def run(request: dict) -> dict:
        path = request["image"]
        if path not in images:
            images.clear()  # one image at a time: the JVM heap holds the input and one output
            images[path] = ijbridge.to_imageplus(np.load(path).astype(np.float32), "YX", title="bench")
        opts = ijbridge.options_string(model_file=args.model.resolve(), tile=request["tile"], threads=request["threads"])
        t0 = System.nanoTime()
        out = ijbridge.run_command_direct(cls, images[path], opts)
        seconds = (System.nanoTime() - t0) / 1e9
        info = "" if out is None else str(out.getInfoProperty() or "")
        if out is not None:
            if request.get("save"):
                np.save(request["save"], ijbridge.from_imageplus(out).squeeze())
            out.close()  # leaves Interpreter's batch-mode list, so repeats do not pile up outputs
        provider = next((ln.strip() for ln in info.splitlines() if "provider" in ln.lower()), None)
        return {"seconds": seconds, "provider": provider}

    serve_requests(run)
    ijbridge.hard_exit(0)


if __name__ == "__main__":
    main()
