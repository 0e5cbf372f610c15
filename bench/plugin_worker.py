"""Times the fluorecon plugin (Denoise...) in its own headless JVM through the JPype bridge.

Timing is taken inside the JVM (System.nanoTime) around the plugin call, after a warm-up run that
loads the ONNX Runtime session. Prints one JSON line: {"seconds": [...], "provider": ...}.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bridge"))
import ijbridge  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--imagej", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--image", type=Path, required=True, help=".npy, 2D float32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    jar = args.imagej / "plugins" / "fluorecon_.jar"
    cls = ijbridge.command_class(jar, "Denoise...")
    ijbridge.start_jvm(ijbridge.plugin_classpath(args.imagej), headless=True, max_heap="6g")
    from jpype import JClass

    System = JClass("java.lang.System")
    opts = ijbridge.options_string(model_file=args.model.resolve(), tile=args.tile, threads=args.threads)
    image = np.load(args.image).astype(np.float32)

    def run(imp):
        t0 = System.nanoTime()
        out = ijbridge.run_command_direct(cls, imp, opts)
        seconds = (System.nanoTime() - t0) / 1e9
        info = "" if out is None else str(out.getInfoProperty() or "")
        if out is not None:
            out.close()  # leaves Interpreter's batch-mode list, so repeats do not pile up outputs
        return seconds, info

    run(ijbridge.to_imageplus(image[:256, :256].copy(), "YX", title="warmup"))
    imp = ijbridge.to_imageplus(image, "YX", title="bench")
    seconds, info = [], ""
    for _ in range(args.repeats):
        s, info = run(imp)
        seconds.append(s)
    provider = next((ln.strip() for ln in info.splitlines() if "provider" in ln.lower()), None)
    print(json.dumps({"seconds": seconds, "provider": provider}), flush=True)
    ijbridge.hard_exit(0)


if __name__ == "__main__":
    main()
