"""Times the fluorecon plugin's `Localize (SMLM)...` (Deep-STORM) in its own headless JVM through
the JPype bridge (tests/bridge/ijbridge.py), so the JVM does not clash with the caller's.

Timing is taken inside the JVM (System.nanoTime) around the plugin's run, after a warm-up run on a
few frames that loads the ONNX Runtime session. The run writes its ThunderSTORM CSV (as a user's
would). Prints one JSON line: {"seconds", "frames", "localizations"}.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bridge"))
import ijbridge  # noqa: E402

CAMERA = dict(camera_offset=100, camera_gain=0.1, em_gain=100, qe=0.9)  # EMCCD of bench/localize.py


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--imagej", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--stack", type=Path, required=True, help=".npy, (T, Y, X) float32 ADU")
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()

    jar = args.imagej / "plugins" / "fluorecon_.jar"
    ijbridge.start_jvm(ijbridge.plugin_classpath(args.imagej), headless=True, max_heap="6g")
    from jpype import JClass

    System = JClass("java.lang.System")
    frames = np.load(args.stack).astype(np.float32)

    def run(stack, csv):
        imp = ijbridge.to_imageplus(stack, "TYX", title="smlm", pixel_size_um=0.1)
        opts = ijbridge.options_string(model_file=args.model.resolve(), batch=args.batch, threads=args.threads,
                                       save=csv, **CAMERA)
        t0 = System.nanoTime()
        ijbridge.run_plugin(jar, "Localize (SMLM)...", imp, opts)
        return (System.nanoTime() - t0) / 1e9

    run(frames[:32].copy(), args.csv.with_name("warmup.csv"))
    seconds = run(frames, args.csv)
    rows = max(0, len(args.csv.read_text().splitlines()) - 1) if args.csv.is_file() else None
    print(json.dumps({"seconds": seconds, "frames": len(frames), "localizations": rows}), flush=True)
    ijbridge.hard_exit(0)


if __name__ == "__main__":
    main()
